#!/usr/bin/env bash
# The main job against a local AWS emulator: start moto server, create a
# realistically broken A2I setup in it (scripts/seed_demo.py), and run
# `a2i-fix plan` on plans/kms-output.toml; then the apply story: `apply --yes`,
# `plan` again (no changes), `rollback` of the apply's journal, and a last
# `plan` showing the changes are back; then discovery: flow definitions are
# served by the tests' fake SageMaker (`cargo run --example fake_sagemaker`,
# moto has none), and `discover` writes the a2i.toml that `plan` then reads.
# Nothing touches a real AWS account:
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
fake_pid=""
cleanup() {
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
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

# --- discover: from nothing to a plan ---
echo >&2
echo "==> seeding three flow definitions in the fake SageMaker, and one human-loop result in moto's S3" >&2
cat >"$work/flows.json" <<JSON
[
  {"name": "invoice-review", "role_arn": "arn:aws:iam::123456789012:role/A2IFlowRole",
   "output": "s3://acme-a2i-output/textract", "managed_source": "AWS/Textract/AnalyzeDocument/Forms/V1"},
  {"name": "claims-review", "role_arn": "arn:aws:iam::123456789012:role/A2IFlowRole",
   "output": "s3://acme-a2i-output/claims", "kms_key": "alias/a2i-output"},
  {"name": "sentiment-review", "role_arn": "arn:aws:iam::123456789012:role/A2IFlowRole",
   "output": "s3://acme-a2i-output/sentiment",
   "workteam_arn": "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default",
   "status": "Failed",
   "failure_reason": "Unable to assume role arn:aws:iam::123456789012:role/A2IFlowRole"}
]
JSON
cargo build -q --example fake_sagemaker
"${CARGO_TARGET_DIR:-$root/target}/debug/examples/fake_sagemaker" "$work/flows.json" >"$work/fake.out" 2>"$work/fake.log" &
fake_pid=$!
for _ in $(seq 1 100); do
    if [ -s "$work/fake.out" ]; then break; fi
    sleep 0.1
done
AWS_ENDPOINT_URL_SAGEMAKER="$(head -n 1 "$work/fake.out")"
if [ -z "$AWS_ENDPOINT_URL_SAGEMAKER" ]; then
    echo "error: the fake SageMaker did not start; its log:" >&2
    cat "$work/fake.log" >&2
    exit 1
fi
export AWS_ENDPOINT_URL_SAGEMAKER
"$python" - <<'PY'
import json, os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
s3.put_object(
    Bucket="acme-a2i-output",
    Key="textract/invoice-review/2026/12/01/09/15/42/loop-1/output.json",
    Body=json.dumps({"inputContent": {"aiServiceRequest": {"document": {"s3Object": {"bucket": "acme-a2i-input", "name": "invoice.png"}}}}}),
)
PY

echo >&2
echo "==> a2i-fix discover --sample-output --input-bucket claims-review=acme-a2i-input --out \$TMP/a2i.toml" >&2
a2i_fix discover --sample-output --input-bucket claims-review=acme-a2i-input --out "$work/a2i.toml"
echo >&2
echo "==> cat \$TMP/a2i.toml" >&2
cat "$work/a2i.toml"
echo >&2
echo "==> a2i-fix plan --spec \$TMP/a2i.toml   (resource lines and summary only)" >&2
a2i_fix plan --spec "$work/a2i.toml" >"$work/plan-discovered.txt"
grep -E '^(  [-+~] |Plan: )' "$work/plan-discovered.txt" || true
