#!/usr/bin/env bash
# Make sure `.venv/` at the repository root holds moto server (the local AWS
# emulator the tests and the demo use). Idempotent and quiet: does nothing
# when it is already there. Prints the path of `moto_server`.
#
# MOTO_SPEC pins the version the tests were written against: the emulator
# behaviour they rely on (docs/requirements.md, "The local emulator (moto)")
# was checked against moto 5.2.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
spec="${MOTO_SPEC:-moto[server]==5.2.5}"

installed() {
    [ -x "$venv/bin/moto_server" ] &&
        "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("moto") and u.find_spec("boto3") and u.find_spec("flask")))' >/dev/null 2>&1
}

if ! installed; then
    echo "installing ${spec} into ${venv} (once)" >&2
    python="$(command -v python3 || true)"
    if [ -z "$python" ]; then
        echo "error: \`python3\` not found: install Python 3 (with venv) to run moto server" >&2
        exit 1
    fi
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$spec" >&2
fi
echo "$venv/bin/moto_server"
