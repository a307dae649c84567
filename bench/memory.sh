#!/usr/bin/env bash
# Peak memory of `kmodtree depmod` on a full tree and on the same tree grown
# to 3x (kernel/ copied twice more as extra1/ and extra2/, every file renamed
# so each copy is a distinct module exporting the same symbols), against
# kmod 30 and kmod 34 on the same trees.
#
# Usage: bench/memory.sh TREE_ROOT VERSION
#   TREE_ROOT contains lib/modules/VERSION (see bench/depmod.sh).
# Needs GNU time; kmod 34 as depmod34 (../shared/tools/kmod34-setup.sh).
set -euo pipefail
root=${1:?usage: memory.sh TREE_ROOT VERSION}
ver=${2:?usage: memory.sh TREE_ROOT VERSION}
bin=$(cd "$(dirname "$0")/.." && pwd)/target/release/kmodtree
[ -x "$bin" ] || (cd "$(dirname "$0")/.." && cargo build --release --quiet)
depmod34=$(command -v depmod34 || echo /opt/kmod34/bin/depmod34)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT

mkdir -p "$scratch/1x" "$scratch/3x"
cp -al "$root/lib" "$scratch/1x/lib"
cp -al "$root/lib" "$scratch/3x/lib"
dir3=$scratch/3x/lib/modules/$ver
for copy in extra1 extra2; do
  (cd "$dir3/kernel" && find . -type d) | while read -r d; do mkdir -p "$dir3/$copy/$d"; done
  (cd "$dir3/kernel" && find . -name '*.ko*' -type f) | while read -r f; do
    base=${f##*/}
    ln "$dir3/kernel/$f" "$dir3/$copy/${f%/*}/${copy}_$base"
  done
done
count() { find "$1" -name '*.ko*' -type f | wc -l; }
printf '%-4s %7s %14s %14s %14s %10s %10s\n' tree modules "kmodtree" "kmodtree -j1" "kmodtree -j2" "kmod 30" "kmod 34"
for t in 1x 3x; do
  base=$scratch/$t
  rss() { /usr/bin/time -f %M "$@" -C /dev/null -b "$base" "$ver" 2>&1 >/dev/null | tail -1; }
  # kmodtree without -j uses every core ($(nproc)).
  z=$(rss "$bin" depmod); a=$(rss "$bin" depmod -j1); b=$(rss "$bin" depmod -j2)
  c=$(rss /usr/sbin/depmod); d=$(rss "$depmod34")
  size=$(du -cb "$base/lib/modules/$ver"/modules.* | tail -1 | cut -f1)
  printf '%-4s %7s %11s KiB %11s KiB %11s KiB %6s KiB %6s KiB  (databases %s bytes)\n' \
    "$t" "$(count "$base/lib/modules/$ver")" "$z" "$a" "$b" "$c" "$d" "$size"
done
