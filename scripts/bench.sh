#!/usr/bin/env bash
# The performance benchmark (scripts/bench_aws_like.py): a2i-fix `plan` and
# `apply` against moto behind a proxy that behaves like AWS (30 ms per
# request, per-operation rate limits, AWS's throttling answers), next to a
# plain sequential boto3 script and the floor the rate limits allow, for
# N = 10, 40 and 200 flow definitions. Prints a table; asserts nothing.
#
#   scripts/bench.sh                       # N = 10, 40, 200 at 30 ms
#   scripts/bench.sh --sizes 10 --latency-ms 80 --no-apply
#   A2I_FIX_BIN=target/debug/a2i-fix scripts/bench.sh   # skip the release build
#   scripts/bench.sh accounts              # 50 accounts x 4 flows in one run
#   scripts/bench.sh accounts --accounts 10 --flows 4
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
moto_server="$(scripts/moto-venv.sh | tail -n 1)"
binary="${A2I_FIX_BIN:-}"
if [ -z "$binary" ]; then
    cargo build --release --quiet
    binary="$root/target/release/a2i-fix"
fi
if [ "${1:-}" = accounts ]; then
    shift
    exec "$root/.venv/bin/python" scripts/bench_accounts.py --binary "$binary" --moto-server "$moto_server" "$@"
fi
exec "$root/.venv/bin/python" scripts/bench_aws_like.py --binary "$binary" --moto-server "$moto_server" "$@"
