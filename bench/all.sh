#!/usr/bin/env bash
# Every speed and memory ratio the README quotes, in one run, as a markdown
# table: kmodtree against kmod (or Guix) on the same input, runs paired
# (ours, theirs, ours, theirs, ...) so a shared machine's load hits both.
# Each cell is the median wall time, the median CPU time (user+sys) and the
# largest peak RSS (GNU time) over the runs.
#
# Usage: bench/all.sh [RUNS]   (default 3; BIN=path times another build)
# Trees (read only, hard-linked into scratch), overridable:
#   PLAIN=/work/full/p61  PLAIN_VER=6.1.0-57-amd64            (plain .ko)
#   XZ=/work/full/x612    XZ_VER=6.12.118+deb12-amd64         (.ko.xz)
# Needs GNU time (/usr/bin/time), kmod 34 (depmod34, modinfo34: PATH or
# /opt/kmod34/bin), kmod 30 as /usr/sbin/depmod. The guix-db row needs
# KMODTREE_GUIX_SRC (tests/guix/setup.sh) and guile; it is skipped with a
# note otherwise. Every depmod output is compared (cmp) with kmod 34's.
set -euo pipefail
runs=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$here/target/release/kmodtree}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
PLAIN=${PLAIN:-/work/full/p61}; PLAIN_VER=${PLAIN_VER:-6.1.0-57-amd64}
XZ=${XZ:-/work/full/x612}; XZ_VER=${XZ_VER:-6.12.118+deb12-amd64}
k34=/opt/kmod34/bin
depmod34=$(command -v depmod34 || echo $k34/depmod34)
modinfo34=$(command -v modinfo34 || echo $k34/modinfo34)
GUIX_SRC=${KMODTREE_GUIX_SRC:-/tmp/kmodtree-guix/root/usr/share/guile/site/3.0}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
rows=(); notes=()

# one NAME CMD...: runs CMD once under GNU time; appends "wall cpu rss" to $scratch/NAME.
one() {
  local name=$1; shift
  /usr/bin/time -o "$scratch/t" -f '%e %U %S %M' "$@" >/dev/null 2>"$scratch/m.$name.err" || {
    echo "FAILED: $*" >&2; tail -3 "$scratch/m.$name.err" >&2; exit 1; }
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$scratch/t" >> "$scratch/m.$name"
}
# stat NAME: "median-wall median-cpu max-rss" of its runs.
stat() {
  python3 - "$scratch/m.$1" <<'PY'
import statistics, sys
r = [list(map(float, l.split())) for l in open(sys.argv[1])]
print(statistics.median(x[0] for x in r), statistics.median(x[1] for x in r), max(x[2] for x in r))
PY
}
# row LABEL OURS THEIRS THEIR-NAME: one table line from two measurements.
row() {
  read -r ow oc om < <(stat "$2"); read -r tw tc tm < <(stat "$3")
  rows+=("$(python3 -c "
ow,oc,om,tw,tc,tm=map(float,'$ow $oc $om $tw $tc $tm'.split())
print(f'| $1 | {ow:.3f} s ({oc:.2f} s CPU) | $4 {tw:.3f} s ({tc:.2f} s CPU) | {tw/ow:.2f}× | {tc/oc:.2f}× | {om/1024:.0f} MB / {tm/1024:.0f} MB |')
")")
}
# tree NAME ROOT: a scratch copy (hard links) of ROOT's lib/modules, without databases
# except modules.order/builtin*.
tree() {
  mkdir -p "$scratch/$1"; cp -al "$2/lib" "$scratch/$1/lib"
  find "$scratch/$1/lib/modules" -maxdepth 2 -name 'modules.*' ! -name 'modules.order' \
    ! -name 'modules.builtin*' -delete
}
same_dbs() {  # same_dbs DIR-A DIR-B: every modules.* of A equals B's
  for f in "$1"/modules.*; do cmp -s "$f" "$2/${f##*/}" || { echo "DIFFERS: ${f##*/} ($1)" >&2; exit 1; }; done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(($(grep MemTotal /proc/meminfo | awk '{print $2}') / 1024)) MB"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# depmod, both trees, against kmod 34 and kmod 30.
for kind in plain xz; do
  if [ $kind = plain ]; then root=$PLAIN; ver=$PLAIN_VER; else root=$XZ; ver=$XZ_VER; fi
  for t in ours k34 k30; do tree "$kind-$t" "$root"; done
  n=$(find "$root/lib/modules/$ver" -name '*.ko*' | wc -l)
  for _ in $(seq "$runs"); do
    one "d-$kind-ours" "$bin" depmod -C /dev/null -b "$scratch/$kind-ours" "$ver"
    one "d-$kind-k34" "$depmod34" -C /dev/null -b "$scratch/$kind-k34" "$ver"
    one "d-$kind-k30" /usr/sbin/depmod -C /dev/null -b "$scratch/$kind-k30" "$ver"
  done
  same_dbs "$scratch/$kind-k34/lib/modules/$ver" "$scratch/$kind-ours/lib/modules/$ver"
  ext=".ko"; [ $kind = xz ] && ext=".ko.xz"
  row "depmod, $n \`$ext\`" "d-$kind-ours" "d-$kind-k34" "kmod 34"
  row "depmod, $n \`$ext\`" "d-$kind-ours" "d-$kind-k30" "kmod 30"
done

# warm --manifest on the xz tree (a manifest written by a previous run).
tree warm "$XZ"
"$bin" depmod -C /dev/null -b "$scratch/warm" --manifest "$scratch/manifest" "$XZ_VER"
for _ in $(seq "$runs"); do
  one warm "$bin" depmod -C /dev/null -b "$scratch/warm" --manifest "$scratch/manifest" "$XZ_VER"
  one warm-k34 "$depmod34" -C /dev/null -b "$scratch/xz-k34" "$XZ_VER"
done
same_dbs "$scratch/xz-k34/lib/modules/$XZ_VER" "$scratch/warm/lib/modules/$XZ_VER"
row "depmod --manifest (warm), \`.ko.xz\`" warm warm-k34 "kmod 34"

# modinfo over every xz module in one process; --tree --json against the same kmod run.
find "$XZ/lib/modules/$XZ_VER" -name '*.ko*' | LC_ALL=C sort > "$scratch/files"
nx=$(wc -l < "$scratch/files")
for _ in $(seq "$runs"); do
  one mi xargs -a "$scratch/files" -x -s 1000000 "$bin" modinfo
  one mi-k34 xargs -a "$scratch/files" -x -s 1000000 "$modinfo34"
  one mt "$bin" modinfo --tree --json -b "$XZ" "$XZ_VER"
done
cmp -s <(xargs -a "$scratch/files" -x -s 1000000 "$bin" modinfo 2>&1) \
       <(xargs -a "$scratch/files" -x -s 1000000 "$modinfo34" 2>&1) || { echo "modinfo DIFFERS" >&2; exit 1; }
row "modinfo FILE… (text), $nx \`.ko.xz\`" mi mi-k34 "kmod 34 modinfo"
row "modinfo --tree --json, $nx \`.ko.xz\`" mt mi-k34 "kmod 34 modinfo FILE…"

# about 20,000 modules: the plain tree's kernel/ hard-linked four more times, each
# copy's files renamed so every copy is a distinct module exporting the same symbols.
big=$scratch/big-ours; tree big-ours "$PLAIN"
dir=$big/lib/modules/$PLAIN_VER
for copy in extra1 extra2 extra3 extra4; do
  (cd "$dir/kernel" && find . -type d) | while read -r d; do mkdir -p "$dir/$copy/$d"; done
  (cd "$dir/kernel" && find . -name '*.ko*' -type f) | while read -r f; do
    b=${f##*/}; ln "$dir/kernel/$f" "$dir/$copy/${f%/*}/${copy}_$b"
  done
done
mkdir -p "$scratch/big-k34"; cp -al "$big/lib" "$scratch/big-k34/lib"
nb=$(find "$dir" -name '*.ko*' -type f | wc -l)
for _ in $(seq "$runs"); do
  one big "$bin" depmod -C /dev/null -b "$big" "$PLAIN_VER"
  one big-k34 "$depmod34" -C /dev/null -b "$scratch/big-k34" "$PLAIN_VER"
done
same_dbs "$scratch/big-k34/lib/modules/$PLAIN_VER" "$dir"
row "depmod, $nb \`.ko\` (hard-linked copies)" big big-k34 "kmod 34"

# guix-db against Guix's own Scheme writers (one run each: Guile is slow).
if command -v guile >/dev/null && [ -f "$GUIX_SRC/gnu/build/linux-modules.scm" ]; then
  # Both write into the same directory (as bench/guix-db.sh): Guix's files are moved aside.
  mkdir -p "$scratch/g/guix"; cp -al "$PLAIN/lib/modules/$PLAIN_VER" "$scratch/g/dir"
  guile -L "$GUIX_SRC" "$here/tests/guix/guix-db.scm" "$scratch/g/dir" >/dev/null 2>&1  # compile once
  one gx guile -L "$GUIX_SRC" "$here/tests/guix/guix-db.scm" "$scratch/g/dir"
  mv "$scratch"/g/dir/modules.{name,alias,devname} "$scratch/g/guix/"
  one gk "$bin" guix-db "$scratch/g/dir"
  for f in name alias devname; do
    cmp -s "$scratch/g/dir/modules.$f" "$scratch/g/guix/modules.$f" || notes+=("guix-db: modules.$f DIFFERS from Guix's")
  done
  row "guix-db, $(find "$PLAIN/lib/modules/$PLAIN_VER" -name '*.ko*' | wc -l) \`.ko\` (1 run)" gk gx "Guix (Guile)"
else
  notes+=("guix-db skipped: no guile or no Guix sources (tests/guix/setup.sh, KMODTREE_GUIX_SRC)")
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $runs paired runs; every depmod output equals kmod 34's"
echo
echo "| what | kmodtree | other | wall ratio | CPU ratio | peak RSS (kmodtree / other) |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
for n in "${notes[@]}"; do echo; echo "$n"; done
