#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs moto server into
# `.venv/` if it is missing, then runs every test (unit, property, snapshot,
# CLI, and the integration tests against moto server). The integration tests
# are one binary, `tests/it/main.rs`, with one module per topic.
#
#   scripts/test.sh                          # everything
#   scripts/test.sh --test it state_read::   # extra arguments go to `cargo test`
#
# Snapshots are checked, never written: a snapshot that differs fails the
# run. To accept new output on purpose, run with `INSTA_UPDATE=always` and
# review the diff of `tests/it/snapshots/` before committing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

MOTO_SERVER="${MOTO_SERVER:-$(scripts/moto-venv.sh)}"
export MOTO_SERVER
export INSTA_UPDATE="${INSTA_UPDATE:-no}"

cargo test "$@"

# A short run of the policy and CORS parsers' fuzz driver (an ignored test,
# `FUZZ_SECONDS` long); only for a full suite (no extra arguments).
if [ "$#" -eq 0 ]; then
    FUZZ_SECONDS="${FUZZ_SECONDS:-60}" cargo test --test it policy_fuzz -- --ignored --nocapture
fi
