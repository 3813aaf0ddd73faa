#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs moto server into
# `.venv/` if it is missing, then runs every test (unit, property, snapshot,
# CLI, and the integration tests against moto server).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --test state_read   # extra arguments go to `cargo test`
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

MOTO_SERVER="${MOTO_SERVER:-$(scripts/moto-venv.sh)}"
export MOTO_SERVER

cargo test "$@"

# --- fuzz run (issue 2: a short run of the policy parsers' fuzz target) ---
# Added by the policy work; runs only for a full suite (no extra arguments).
if [ "$#" -eq 0 ]; then
    FUZZ_SECONDS="${FUZZ_SECONDS:-60}" cargo test --test policy_fuzz -- --ignored --nocapture
fi
