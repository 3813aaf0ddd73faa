#!/usr/bin/env bash
# The main job against a local AWS emulator: start moto server, create a
# realistically broken A2I setup in it (scripts/seed_demo.py), and run
# `a2i-fix plan` on plans/kms-output.toml; then the apply story: `apply --yes`,
# `plan` again (no changes), `rollback` of the apply's journal, and a last
# `plan` showing the changes are back. Nothing touches a real AWS account:
# every AWS_* variable is replaced, and your ~/.aws files are not read.
#
#   scripts/demo.sh              # the whole story
#   scripts/demo.sh --json       # extra arguments go to `a2i-fix plan`, and only the plan runs
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

moto_server="$(scripts/moto-venv.sh)"
python="$root/.venv/bin/python"

work="$(mktemp -d)"
moto_pid=""
cleanup() {
    if [ -n "$moto_pid" ]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!

# Only this emulator, never a real account or the developer's profile.
for name in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$name"
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE="$work/no-config" AWS_SHARED_CREDENTIALS_FILE="$work/no-credentials"
export AWS_EC2_METADATA_DISABLED=true

for _ in $(seq 1 200); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "error: moto server exited; its log:" >&2
        cat "$work/moto.log" >&2
        exit 1
    fi
    sleep 0.1
done

echo "==> moto server on $AWS_ENDPOINT_URL; seeding a broken A2I setup" >&2
"$python" scripts/seed_demo.py

echo "==> a2i-fix plan --spec plans/kms-output.toml $*" >&2
cargo run -q -- plan --spec plans/kms-output.toml "$@"

# --- apply: apply --yes, plan again (no changes), rollback ---
# Only for the plain demo: with extra arguments (e.g. `--json`) the plan is
# the whole output.
if [ "$#" -gt 0 ]; then
    exit 0
fi
a2i_fix() { cargo run -q -- "$@"; }
backups="$work/backups"

echo >&2
echo "==> a2i-fix apply --spec plans/kms-output.toml --yes --backup-dir \$TMP/backups" >&2
a2i_fix apply --spec plans/kms-output.toml --yes --backup-dir "$backups"

echo >&2
echo "==> a2i-fix plan --spec plans/kms-output.toml --detailed-exitcode   (after apply: no changes, exit 0)" >&2
a2i_fix plan --spec plans/kms-output.toml --detailed-exitcode

journal="$(ls "$backups"/*)"
echo >&2
echo "==> a2i-fix rollback \$TMP/backups/$(basename "$journal") --yes --backup-dir \$TMP/rollback" >&2
a2i_fix rollback "$journal" --yes --backup-dir "$work/rollback"

echo >&2
echo "==> a2i-fix plan --spec plans/kms-output.toml   (after rollback: the same changes are back; resource lines and summary only)" >&2
status=0
a2i_fix plan --spec plans/kms-output.toml --detailed-exitcode >"$work/plan-after-rollback.txt" || status=$?
grep -E '^(  [-+~] |Plan: )' "$work/plan-after-rollback.txt" || true
if [ "$status" -ne 2 ]; then
    echo "error: after rollback the plan should show changes again (exit 2), it exited $status" >&2
    exit 1
fi
