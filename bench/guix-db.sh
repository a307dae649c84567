#!/usr/bin/env bash
# Times Guix's three database writers (its Scheme, under Guile) against
# `kmodtree guix-db` on a full plain .ko tree, and checks the files are
# byte-identical.
# Usage: bench/guix-db.sh [MODULE_DIR]   (needs KMODTREE_GUIX_SRC, see tests/guix/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${KMODTREE_GUIX_SRC:?run tests/guix/setup.sh and set KMODTREE_GUIX_SRC}
FROM=${1:-/work/fulltrees/amd64-6.1-ko/lib/modules/6.1.0-56-amd64}
cargo build --release -q
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r "$FROM" "$work/dir"; mkdir "$work/guix"
echo "modules: $(find "$work/dir" -name '*.ko*' | wc -l)"
guile -L "$SRC" tests/guix/guix-db.scm "$work/dir" 2>/dev/null   # compile once
/usr/bin/time -f "guix:     %e s" guile -L "$SRC" tests/guix/guix-db.scm "$work/dir" 2>&1 | grep -v '^;;;'
mv "$work"/dir/modules.{name,alias,devname} "$work/guix/"
for j in "" "-j 1"; do
  /usr/bin/time -f "kmodtree ${j:-(all cores)}: %e s" target/release/kmodtree guix-db $j "$work/dir"
done
for f in name alias devname; do cmp "$work/dir/modules.$f" "$work/guix/modules.$f"; done
echo "identical"
