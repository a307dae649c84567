#!/usr/bin/env bash
# The reference for makeModulesClosure in tests/testsuite/nix_builders.rs: what
# nixpkgs' pkgs/build-support/kernel/modules-closure.sh does, step by step,
# written anew to run outside Nix with kmod 34 (modprobe, modinfo and depmod
# on PATH). Environment, as nixpkgs' derivation gives it: kernel, firmware,
# rootModules, allowMissing, extraFirmwarePaths, out.
#
# What matters for the comparison is kept as nixpkgs has it: one `modprobe
# --config no-config -d $kernel --show-depends` per root; the closure file
# holds insmod paths and built-in names; the firmware of each member comes
# from `modinfo -b $kernel -F firmware` (minus its "name:" line), copied with
# `cp --parents lib/firmware/$name` from $firmware with $name UNQUOTED, for
# NAME, NAME.xz, NAME.zst in turn, so that bash's pathname expansion applies
# (set -o pipefail, no nullglob, C locale); depmod sees the kernel's
# modules.order and modules.builtin, removed afterwards.
set -eu -o pipefail
export LC_ALL=C

if ! test -d "$kernel/lib/modules"; then
  if test -z "$rootModules" || test -n "$allowMissing"; then
    mkdir -p "$out"
    exit 0
  fi
  echo "no modules"
  exit 1
fi

version=$(cd "$kernel/lib/modules" && ls -d *)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/lib/modules/$version"
touch "$work/closure"

for root in $rootModules; do
  modprobe --config no-config -d "$kernel" --set-version "$version" --show-depends "$root" |
    while read -r cmd module args; do
      case "$cmd" in
      builtin)
        touch "$work/found"
        echo "$module" >> "$work/closure"
        ;;
      insmod)
        touch "$work/found"
        test -e "$module"
        target=$out/lib/modules/${module#"$kernel"/lib/modules/}
        if test -e "$target"; then
          continue
        fi
        echo "$module" >> "$work/closure"
        mkdir -p "$(dirname "$target")"
        cp "$module" "$target"
        echo "$target" >> "$out/insmod-list"
        ;;
      *)
        echo "unexpected modprobe output: $cmd $module"
        exit 1
        ;;
      esac
    done || test -n "$allowMissing"
  if ! test -e "$work/found"; then
    test -n "$allowMissing"
  else
    rm "$work/found"
  fi
done

copy_one() { # NAME: the first of NAME NAME.xz NAME.zst that cp copies
  local name
  for name in "$1" "$1.xz" "$1.zst" ""; do
    [ -z "$name" ] && echo "WARNING: missing firmware $1"
    # shellcheck disable=SC2086 # unquoted on purpose, as nixpkgs
    if cp --parents --no-preserve=mode lib/firmware/$name "$out" 2> /dev/null; then
      break
    fi
  done
}

cd "$firmware"
for module in $(< "$work/closure"); do
  modinfo -b "$kernel" --set-version "$version" -F firmware "$module" | grep -v '^name:' |
    while read -r fw; do
      copy_one "$fw"
    done || :
done
for path in $extraFirmwarePaths; do
  copy_one "$path"
done

cp "$kernel/lib/modules/$version/modules.order" "$out/lib/modules/$version/"
cp "$kernel/lib/modules/$version/modules.builtin" "$out/lib/modules/$version/"
depmod -b "$out" -a "$version"
rm "$out/lib/modules/$version/modules.order" "$out/lib/modules/$version/modules.builtin"

if [ -d "$firmware/lib/firmware/edid" ]; then
  mkdir -p "$out/lib/firmware"
  cp -RL --no-preserve=mode "$firmware/lib/firmware/edid" "$out/lib/firmware/edid"
fi
