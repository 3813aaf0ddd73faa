#!/bin/sh
# The fault benchmark: plan and apply through 0%, 10% and 30% injected AWS
# faults (throttles, internal errors, resets, lost write answers), over a
# fixed set of seeds. Prints how many runs succeed on the first try, their
# median and max times, and whether anything was lost (it must never be).
# It measures and asserts nothing about time.
#
#   scripts/bench-faults.sh                          # 3 seeds, 2 examples
#   A2I_FIX_BENCH_SEEDS=5 A2I_FIX_BENCH_EXAMPLES=all scripts/bench-faults.sh
set -eu
cd "$(dirname "$0")/.."
if [ -z "${MOTO_SERVER:-}" ]; then
    MOTO_SERVER="$(scripts/moto-venv.sh | tail -n 1)"
    export MOTO_SERVER
fi
exec cargo test --test it faults::bench::fault_benchmark -- --ignored --nocapture
