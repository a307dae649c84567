#!/usr/bin/env bash
# Compare `kmodtree show-depends` with kmod 34's `modprobe --show-depends` on full trees.
# Usage: bench/compare-show-depends.sh FULLTREES_DIR [ROOT...]
# FULLTREES_DIR holds NAME/lib/modules/VERSION and expected/kmod34/NAME/plain/ (kmod 34's databases).
set -uo pipefail
full=${1:?usage}; shift
roots=${*:-"ext4 xfs btrfs nvme usb_storage uas e1000e snd_hda_intel virtio_net nf_tables kvm bluetooth fs-vfat crypto-sha256 symbol:jbd2_journal_start"}
bin=$(cd "$(dirname "$0")/.." && pwd)/target/release/kmodtree
mp=$(command -v modprobe34 || echo /opt/kmod34/bin/modprobe34)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
same=0; diff=0
for t in "$full"/*/lib/modules/*/; do
  t=${t%/}; ver=${t##*/}; name=$(basename "$(dirname "$(dirname "$(dirname "$t")")")")
  root=$scratch/$name; mkdir -p "$root"; cp -al "$full/$name/lib" "$root/lib"
  cp "$full"/expected/kmod34/"$name"/plain/modules.* "$root/lib/modules/$ver/"
  for r in $roots; do
    a=$("$bin" show-depends -C /dev/null -b "$root" "$ver" "$r" 2>&1; echo "rc=$?")
    b=$("$mp" -C /dev/null -d "$root" -S "$ver" --show-depends "$r" 2>&1; echo "rc=$?")
    if [ "$a" = "$b" ]; then same=$((same+1)); else diff=$((diff+1)); echo "DIFFER $name $r"; fi
  done
done
echo "$same same, $diff different"
[ $diff = 0 ]
