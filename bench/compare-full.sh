#!/usr/bin/env bash
# Compare `kmodtree depmod` with kmod's reference outputs on full trees.
# Usage: bench/compare-full.sh FULLTREES_DIR [KMODTREE_BINARY]
# FULLTREES_DIR holds NAME/lib/modules/VERSION and expected/{kmod34,kmod30}/NAME/MODE/
# (same layout as ../shared/fixtures; see the README's "Full trees" section).
set -euo pipefail
full=${1:?usage: compare-full.sh FULLTREES_DIR [BINARY]}
bin=${2:-$(dirname "$0")/../target/release/kmodtree}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
fail=0
for kmod in kmod34 kmod30; do
  for exp in "$full"/expected/$kmod/*/*/; do
    exp=${exp%/}; mode=${exp##*/}; name=$(basename "$(dirname "$exp")")
    cmd=$(cat "$exp/cmd.txt")
    rm -rf "$scratch/root"; mkdir -p "$scratch/root"
    cp -al "$full/$name/lib" "$scratch/root/lib"
    for f in System.map Module.symvers; do [ -f "$full/$name/$f" ] && cp "$full/$name/$f" "$scratch/root/"; done
    set -- $cmd; shift
    args=()
    for a in "$@"; do args+=("${a//@ROOT@/$scratch/root}"); done
    ver=${args[-1]}
    rc=0; "$bin" depmod --kmod-version "${kmod#kmod}" --without-zlib "${args[@]}" 2>"$scratch/stderr" || rc=$?
    sed -i "s|$scratch/root|@ROOT@|g" "$scratch/stderr"
    bad=""
    [ "$rc" = "$(cat "$exp/rc.txt")" ] || bad+=" rc=$rc"
    cmp -s "$scratch/stderr" "$exp/stderr.txt" || bad+=" stderr"
    for f in "$exp"/modules.*; do
      cmp -s "$f" "$scratch/root/lib/modules/$ver/$(basename "$f")" || bad+=" $(basename "$f")"
    done
    if [ -n "$bad" ]; then echo "DIFFER $kmod/$name/$mode:$bad"; fail=1; else echo "same   $kmod/$name/$mode"; fi
  done
done
exit $fail
