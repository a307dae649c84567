#!/usr/bin/env bash
# Compare `kmodtree modinfo` (full text and -F FIELD) with kmod 34's modinfo
# for every module of full trees. Usage: bench/compare-modinfo.sh TREE_ROOT...
# (each TREE_ROOT holds lib/modules/VERSION). Needs modinfo34 (kmod34-setup.sh).
set -uo pipefail
bin=$(cd "$(dirname "$0")/.." && pwd)/target/release/kmodtree
mi=$(command -v modinfo34 || echo /opt/kmod34/bin/modinfo34)
status=0
for root in "$@"; do
  list=$(mktemp)
  find "$root/lib/modules" -name '*.ko*' ! -name '*.ko.gz' | LC_ALL=C sort > "$list"
  n=$(wc -l < "$list")
  for field in "" alias depends firmware vermagic softdep parm; do
    opt=(); [ -n "$field" ] && opt=(-F "$field")
    a=$(xargs -a "$list" -n 200 "$bin" modinfo "${opt[@]}" 2>&1 | sha256sum)
    b=$(xargs -a "$list" -n 200 "$mi" "${opt[@]}" 2>&1 | sha256sum)
    if [ "$a" = "$b" ]; then echo "same   $root ($n modules) ${field:-full}"; else echo "DIFFER $root ${field:-full}"; status=1; fi
  done
  rm -f "$list"
done
exit $status
