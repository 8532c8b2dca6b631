#!/usr/bin/env bash
# Installs LocalStack (S3 + KMS in one process) into .work/localstack-venv, idempotently: the
# test peer that really enforces SSE-C (a GET without the customer key is refused), which
# moto does not. Called by e2e/tools/install-test-tools.sh; safe to run on its own.
#
# localstack-core needs Python 3.13 (it fails on 3.11 and 3.12): pyenv's, or python3.13 on
# PATH. cbor2 6 breaks it, hence the pin.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.work/localstack-venv"
# Pinned so a new release cannot change what the tests see; bump deliberately.
localstack_version="2026.3.0"
stamp="$venv/.veloxide-localstack-$localstack_version"

find_python() {
    local p
    # The newest 3.13.x pyenv has, then whatever python3.13 is on PATH.
    for p in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13* 2>/dev/null | sort -V -r); do
        if [[ -x "$p/bin/python3" ]]; then
            echo "$p/bin/python3"
            return
        fi
    done
    command -v python3.13 || true
}

if [[ ! -f "$stamp" ]]; then
    python="$(find_python)"
    if [[ -z "$python" ]]; then
        echo "install-localstack: no Python 3.13 (looked in ~/.pyenv/versions/3.13* and PATH)" >&2
        exit 1
    fi
    rm -rf "$venv"
    mkdir -p "$root/.work"
    "$python" -m venv "$venv"
    # --no-cache-dir: the wheels are ~500 MB installed; a second copy in ~/.cache is waste.
    "$venv/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
        "localstack-core[runtime]==$localstack_version" 'cbor2<6' service-identity
    touch "$stamp"
fi
"$venv/bin/python" -c 'import localstack.runtime.main' >/dev/null
echo "localstack ready: $venv (localstack-core $localstack_version)"
