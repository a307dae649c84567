#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, JOBS at a
# time (default 2), after seeding the corpora (seed.sh). Logs go to
# fuzz/logs/TARGET.log, crashes to fuzz/artifacts/TARGET/. Prints each
# target's final executions and coverage.
#
#   fuzz/run.sh 600                 # every target, 10 minutes each
#   fuzz/run.sh 60 index tree_lists # two targets, 1 minute each
#   JOBS=1 fuzz/run.sh 600
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
secs=${1:-600}
shift || true
# shellcheck source=env.sh
. ./env.sh
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<< "$(echo $FUZZ_TARGETS)"
./seed.sh
fuzz_cargo build -O --debug-assertions
mkdir -p logs
run_one() {
    local t=$1
    fuzz_cargo run -O --debug-assertions "$t" -- \
        "${FUZZ_OPTS[@]}" -max_total_time="$secs" > "logs/$t.log" 2>&1
    local rc=$?
    echo "$t: exit $rc; $(grep -E '^#[0-9]+.*(DONE|cov:)' "logs/$t.log" | tail -n 1)"
    grep -E '^stat::number_of_executed_units' "logs/$t.log" | sed "s/^/$t: /"
}
export -f run_one fuzz_cargo
export FUZZ_TOOLCHAIN secs
export FUZZ_OPTS_STR="${FUZZ_OPTS[*]}"
printf '%s\n' "${targets[@]}" | xargs -P "${JOBS:-2}" -I{} bash -c '
    FUZZ_OPTS=($FUZZ_OPTS_STR); run_one "$1"' _ {}
