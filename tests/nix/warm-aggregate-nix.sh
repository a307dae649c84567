#!/usr/bin/env bash
# Times nix/aggregator.nix's derivation in the sandboxed Nix of
# tests/nix/setup.sh, cold and warm (`manifest`), on a kernel tree plus one
# extra module (tests/nix/warm-aggregate.nix):
#   tests/nix/warm-aggregate-nix.sh KMODTREE KERNEL_ROOT [RUNS [NAME]]
# KMODTREE is the binary to use (copied into the store), KERNEL_ROOT holds
# lib/modules/VERSION, imported into the store as NAME (default
# linux-kernel-tree). Everything the aggregates need (kernel tree, extra
# module, manifest) is built first; then each run times
# `nix-store --realise --check` of each aggregate's .drv (the build in the
# sandbox, Nix's registration of the output and its bit-for-bit comparison
# with the first build) and checks that cold and warm outputs are the same.
set -euo pipefail
kmodtree=$1 kernel=$2 runs=${3:-3} name=${4:-linux-kernel-tree}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/kmodtree/bin"
cp "$kmodtree" "$work/kmodtree/bin/kmodtree"

drv() {
  nix-instantiate "$here/warm-aggregate.nix" --argstr kmodtreeDir "$work/kmodtree" \
    --argstr kernelRoot "$(cd "$kernel" && pwd)" --argstr kernelName "$name" -A "$1" 2> /dev/null
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

cold=$(drv cold)
warm=$(drv warm)
manifest=$(drv manifest)
t0=$(now)
nix-store --realise "$manifest" > /dev/null 2>&1
t1=$(now)
echo "manifest derivation: $(elapsed "$t0" "$t1") s (0 if it was already built)"
cold_out=$(nix-store --realise "$cold" 2> /dev/null)
warm_out=$(nix-store --realise "$warm" 2> /dev/null)
echo "cold: $cold -> $cold_out"
echo "warm: $warm -> $warm_out"
# Same files (links followed), same bytes; the union's links are the same.
diff <(cd "$cold_out" && find -L . -type f -exec sha256sum {} + | sort -k 2) \
  <(cd "$warm_out" && find -L . -type f -exec sha256sum {} + | sort -k 2)
diff <(cd "$cold_out" && find . -printf '%p %y %l\n' | sort) \
  <(cd "$warm_out" && find . -printf '%p %y %l\n' | sort)
echo "outputs identical: $(cd "$cold_out" && find -L . -type f | wc -l) files"

# Nix's own cost, for scale: the same check of the extra module's
# derivation (same builder, one cp).
extra=$(drv extra)
nix-store --realise "$extra" > /dev/null 2>&1
for i in $(seq "$runs"); do
  t0=$(now)
  nix-store --realise --check "$cold" > /dev/null 2>&1
  t1=$(now)
  nix-store --realise --check "$warm" > /dev/null 2>&1
  t2=$(now)
  nix-store --realise --check "$extra" > /dev/null 2>&1
  t3=$(now)
  echo "run $i: cold $(elapsed "$t0" "$t1") s, warm $(elapsed "$t1" "$t2") s," \
    "one-cp derivation $(elapsed "$t2" "$t3") s"
done
