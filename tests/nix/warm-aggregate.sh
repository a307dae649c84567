#!/usr/bin/env bash
# Times nix/aggregator.nix's steps outside Nix, cold and warm, on a kernel
# tree plus one extra module package, as aggregateModules [ kernel extra ]
# runs them:
#   tests/nix/warm-aggregate.sh KMODTREE KERNEL_ROOT VERSION [RUNS]
# KERNEL_ROOT holds lib/modules/VERSION (read only; it is not modified).
# Prints the time of the manifest (nix/manifest.nix, once per kernel) and,
# per run, of the cold aggregate and of the warm one (with the manifest),
# and checks that both give the same databases.
set -euo pipefail
kmodtree=$1 kernel=$2 version=$3 runs=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The extra package: one module of the kernel, under extra/.
first=$(head -n 1 "$kernel/lib/modules/$version/modules.order")
for ext in "" .xz .zst .gz; do
  if [ -e "$kernel/lib/modules/$version/$first$ext" ]; then break; fi
done
mkdir -p "$work/extra/lib/modules/$version/extra"
cp "$kernel/lib/modules/$version/$first$ext" "$work/extra/lib/modules/$version/extra/kmt_warm.ko$ext"

shopt -s extglob
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# nix/manifest.nix
t0=$(now)
mkdir -p "$work/manifest-tree/lib/modules"
"$kmodtree" union --mode buildenv "$work/manifest-tree/lib/modules/$version" "$kernel/lib/modules/$version"
"$kmodtree" depmod -b "$work/manifest-tree" -a "$version" --manifest "$work/kmodtree.manifest" > /dev/null
t1=$(now)
echo "manifest (once per kernel): $(elapsed "$t0" "$t1") s"

# nix/aggregator.nix with two inputs having lib/modules/VERSION.
aggregate() { # OUT [--manifest FILE]
  local out=$1
  shift
  "$kmodtree" union --mode buildenv --collisions error "$out" "$kernel" "$work/extra"
  rm -f "$out/lib/modules/$version"/modules.!(builtin*|order*)
  "$kmodtree" depmod -b "$out" -C "$out/etc/depmod.d" "$@" -a "$version"
}

for i in $(seq "$runs"); do
  rm -rf "$work/cold" "$work/warm"
  t0=$(now)
  aggregate "$work/cold"
  t1=$(now)
  t2=$(now)
  aggregate "$work/warm" --manifest "$work/kmodtree.manifest" --manifest-read-only
  t3=$(now)
  echo "run $i: cold $(elapsed "$t0" "$t1") s, warm $(elapsed "$t2" "$t3") s"
  for f in "$work/cold/lib/modules/$version"/modules.*; do
    if ! [ -L "$f" ]; then
      cmp "$f" "$work/warm/lib/modules/$version/${f##*/}"
    fi
  done
done
