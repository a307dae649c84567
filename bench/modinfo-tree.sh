#!/usr/bin/env bash
# Times `kmodtree modinfo --tree --json` (every module of a tree, read in
# parallel) against kmod 34's depmod on the same tree.
# Usage: bench/modinfo-tree.sh TREE_ROOT VERSION [RUNS]
set -euo pipefail
root=${1:?usage: modinfo-tree.sh TREE_ROOT VERSION [RUNS]}; ver=${2:?}; runs=${3:-5}
bin=$(cd "$(dirname "$0")/.." && pwd)/target/release/kmodtree
[ -x "$bin" ] || (cd "$(dirname "$0")/.." && cargo build --release --quiet)
depmod34=$(command -v depmod34 || echo /opt/kmod34/bin/depmod34)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cp -al "$root/lib" "$scratch/lib"
hyperfine -N --warmup 1 --runs "$runs" \
  -n "kmodtree modinfo --tree --json" "$bin modinfo --tree --json -b $root $ver --jobs $(nproc)" \
  -n "kmodtree modinfo --tree --json --jobs 1" "$bin modinfo --tree --json -b $root $ver --jobs 1" \
  -n "kmod34 depmod" "$depmod34 -C /dev/null -b $scratch $ver"
