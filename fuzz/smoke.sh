#!/usr/bin/env bash
# CI's smoke run: builds every fuzz target and runs each for a few seconds
# (SMOKE_SECONDS, default 10) over its seed corpus. Fails on any crash.
# Works on a fresh machine: installs cargo-fuzz, and uses stable with
# RUSTC_BOOTSTRAP=1 when there is no nightly toolchain (see env.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# shellcheck source=env.sh
. ./env.sh
./seed.sh
fuzz_cargo build -O --debug-assertions
status=0
for t in $FUZZ_TARGETS; do
    if fuzz_cargo run -O --debug-assertions "$t" -- "${FUZZ_OPTS[@]}" \
        -max_total_time="${SMOKE_SECONDS:-10}" > "smoke-$t.log" 2>&1; then
        echo "smoke $t: ok, $(grep -E '^stat::number_of_executed_units' "smoke-$t.log" | awk '{print $2}') runs"
    else
        echo "smoke $t: FAILED"; tail -n 40 "smoke-$t.log"; status=1
    fi
    rm -f "smoke-$t.log"
done
exit $status
