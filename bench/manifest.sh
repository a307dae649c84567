#!/usr/bin/env bash
# Cold vs warm `kmodtree depmod --manifest` against kmod 34 on the same full tree.
#
# Usage: bench/manifest.sh TREE_ROOT VERSION [RUNS]
#   TREE_ROOT contains lib/modules/VERSION (e.g. /work/fulltrees/amd64-6.12-xz,
#   VERSION 6.12.117+deb12-amd64); it is only read (hard-linked into scratch).
# Needs hyperfine; kmod 34 as depmod34 on PATH or /opt/kmod34/bin/depmod34.
#   cold:      kmodtree depmod, no manifest
#   warm:      kmodtree depmod --manifest M, M written by a previous run on this tree
#   warm-hash: the same with --manifest-verify (every module hashed)
#   kmod34:    depmod34
# Checks that warm and cold outputs are byte-identical, prints medians and ratios.
set -euo pipefail
root=${1:?usage: manifest.sh TREE_ROOT VERSION [RUNS]}
ver=${2:?usage: manifest.sh TREE_ROOT VERSION [RUNS]}
runs=${3:-10}
bin=$(cd "$(dirname "$0")/.." && pwd)/target/release/kmodtree
[ -x "$bin" ] || (cd "$(dirname "$0")/.." && cargo build --release --quiet)
depmod34=$(command -v depmod34 || echo /opt/kmod34/bin/depmod34)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
for t in cold warm kmod34; do
  mkdir -p "$scratch/$t"; cp -al "$root/lib" "$scratch/$t/lib"
done
m="$scratch/manifest.jsonl"
"$bin" depmod -C /dev/null -b "$scratch/warm" --manifest "$m" "$ver"
echo "tree: $root ($(find "$root/lib/modules/$ver" -name '*.ko*' | wc -l) modules), $(nproc) cores, manifest $(stat -c %s "$m") bytes"
hyperfine --warmup 1 --runs "$runs" --export-json "$scratch/h.json" \
  -n cold "$bin depmod -C /dev/null -b $scratch/cold $ver" \
  -n warm "$bin depmod -C /dev/null -b $scratch/warm --manifest $m $ver" \
  -n warm-hash "$bin depmod -C /dev/null -b $scratch/warm --manifest $m --manifest-verify $ver" \
  -n kmod34 "$depmod34 -C /dev/null -b $scratch/kmod34 $ver"
for f in "$scratch/cold/lib/modules/$ver"/modules.*; do
  cmp "$f" "$scratch/warm/lib/modules/$ver/$(basename "$f")"
done
echo "warm output byte-identical to cold"
python3 - "$scratch/h.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for n, v in r.items():
    print(f"median {n:9} {v:.3f} s")
print(f"kmod34 / warm      = {r['kmod34']/r['warm']:.1f}x")
print(f"kmod34 / warm-hash = {r['kmod34']/r['warm-hash']:.1f}x")
print(f"cold / warm        = {r['cold']/r['warm']:.1f}x")
print(f"kmod34 / cold      = {r['kmod34']/r['cold']:.2f}x")
PY
