#!/usr/bin/env bash
# Times `kmodtree depmod` against kmod's depmod on the same full tree, in one run.
#
# Usage: bench/depmod.sh TREE_ROOT VERSION [RUNS]
#   TREE_ROOT contains lib/modules/VERSION (a whole kernel's modules). Make one with
#     apt-get download linux-image-6.12.117+deb12-amd64-unsigned
#     dpkg-deb -x linux-image-*.deb TREE_ROOT
#   (delete any shipped modules.* databases except modules.order/builtin*).
# Needs hyperfine and GNU time (apt-get install hyperfine time); kmod 34 as depmod34
# on PATH (../shared/tools/kmod34-setup.sh) and kmod 30 as /usr/sbin/depmod.
# Prints hyperfine's medians and each tool's peak RSS; outputs go to scratch copies.
set -euo pipefail
root=${1:?usage: depmod.sh TREE_ROOT VERSION [RUNS]}
ver=${2:?usage: depmod.sh TREE_ROOT VERSION [RUNS]}
runs=${3:-10}
bin=$(cd "$(dirname "$0")/.." && pwd)/target/release/kmodtree
[ -x "$bin" ] || (cd "$(dirname "$0")/.." && cargo build --release --quiet)
depmod34=$(command -v depmod34 || echo /opt/kmod34/bin/depmod34)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
for t in kmodtree kmod34 kmod30; do
  mkdir -p "$scratch/$t"; cp -al "$root/lib" "$scratch/$t/lib"
done
echo "tree: $root ($(find "$root/lib/modules/$ver" -name '*.ko*' | wc -l) modules), $(nproc) cores"
hyperfine --warmup 1 --runs "$runs" --export-json "$scratch/h.json" \
  -n kmodtree "$bin depmod -C /dev/null -b $scratch/kmodtree $ver" \
  -n kmod34 "$depmod34 -C /dev/null -b $scratch/kmod34 $ver" \
  -n kmod30 "/usr/sbin/depmod -C /dev/null -b $scratch/kmod30 $ver"
python3 - "$scratch/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
k = r["kmodtree"]["median"]
for name in ("kmod34", "kmod30"):
    print(f"median {name} {r[name]['median']:.3f} s / kmodtree {k:.3f} s = {r[name]['median']/k:.2f}x")
PY
for t in kmodtree kmod34 kmod30; do
  case $t in
    kmodtree) cmd=("$bin" depmod) ;;
    kmod34) cmd=("$depmod34") ;;
    kmod30) cmd=(/usr/sbin/depmod) ;;
  esac
  /usr/bin/time -f "peak RSS $t: %M KiB" "${cmd[@]}" -C /dev/null -b "$scratch/$t" "$ver"
done
for f in "$scratch/kmod34/lib/modules/$ver"/modules.*; do
  cmp -s "$f" "$scratch/kmodtree/lib/modules/$ver/$(basename "$f")" || echo "DIFFERS from kmod 34: $(basename "$f")"
done
