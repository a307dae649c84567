#!/usr/bin/env bash
# Fills fuzz/corpus/TARGET/ with seed inputs: the hand-written files in
# fuzz/seeds/TARGET/, crash reproducers in fuzz/regressions/TARGET/, and
# inputs taken from the real fixture trees (KMODTREE_FIXTURES, default
# ../shared/fixtures beside the repository). Files are named by content
# hash, so running it twice adds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${KMODTREE_FIXTURES:-$here/../../shared/fixtures}
corpus=$here/corpus
max=${SEED_MAX_BYTES:-262144}
# Index seeds are kept small: the walk and lookups over a 160 KiB
# modules.alias.bin run the target at a few dozen inputs per second.
index_max=${SEED_INDEX_MAX_BYTES:-32768}

add() { # add TARGET FILE...
    local t=$1; shift
    mkdir -p "$corpus/$t"
    local f limit=$max
    [ "$t" != index ] || limit=$index_max
    for f in "$@"; do
        [ -f "$f" ] && [ -s "$f" ] || continue
        [ "$(stat -c %s "$f")" -le "$limit" ] || continue
        cp "$f" "$corpus/$t/$(sha1sum < "$f" | cut -c1-40)"
    done
}

for dir in "$here"/seeds/* "$here"/regressions/*; do
    [ -d "$dir" ] || continue
    add "$(basename "$dir")" "$dir"/*
done

if [ -d "$fixtures" ]; then
    # Module files: the 40 smallest of each compression, and every edge case.
    for pat in '*.ko' '*.ko.xz' '*.ko.gz' '*.ko.zst'; do
        mapfile -t files < <(find "$fixtures" -name "$pat" -type f -printf '%s %p\n' \
            | sort -n | head -n 40 | cut -d' ' -f2-)
        add module_file "${files[@]}"
    done
    mapfile -t files < <(find "$fixtures/edge" -type f -name '*.ko*')
    add module_file "${files[@]}"
    mapfile -t files < <(find "$fixtures" -type f -name 'modules.*.bin')
    add index "${files[@]}"
    mapfile -t files < <(find "$fixtures" -type f \( -name modules.order \
        -o -name modules.builtin -o -name modules.builtin.modinfo \))
    add tree_lists "${files[@]}"
    mapfile -t files < <(find "$fixtures" -type f -path '*depmod.d/*')
    add depmod_config "${files[@]}"
    mapfile -t files < <(find "$fixtures" -type f \( -name modules.softdep -o -name modules.weakdep \))
    add modprobe_config "${files[@]}"
    # System.map and Module.symvers are large: seed with their first 16 KiB.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    n=0
    while IFS= read -r f; do
        n=$((n + 1))
        head -c 16384 "$f" > "$tmp/$n"
    done < <(find "$fixtures" -type f \( -name System.map -o -name Module.symvers \))
    add kernel_symbols "$tmp"/*
else
    echo "seed.sh: no fixtures at $fixtures; hand-written seeds only" >&2
fi
for t in "$corpus"/*; do
    echo "$(basename "$t"): $(find "$t" -type f | wc -l) seeds"
done
