#!/usr/bin/env bash
# Installs the object-storage test peers veloxide's storage tests start (idempotent):
#   - .work/venv: moto's server (S3 + KMS) and awscli (the benchmark's baseline), pinned;
#   - haproxy from Debian (the peer that demands client certificates), only when missing.
# Called by e2e/tools/install-test-tools.sh; safe to run on its own.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.work/venv"
# Pinned so a new release cannot change what the tests see; bump deliberately.
moto_version="5.2.5"
awscli_version="1.46.3"
stamp="$venv/.veloxide-s3-peers-moto-$moto_version-awscli-$awscli_version"

if [[ ! -f "$stamp" ]]; then
    # Debian's python3 (not a pyenv shim) so CI machines without pyenv behave the same.
    python=/usr/bin/python3
    [[ -x "$python" ]] || python="$(command -v python3)"
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv
    fi
    rm -rf "$venv"
    mkdir -p "$root/.work"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "moto[server]==$moto_version" "awscli==$awscli_version"
    touch "$stamp"
fi
"$venv/bin/moto_server" --help >/dev/null
"$venv/bin/aws" --version >/dev/null

if ! command -v haproxy >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq haproxy >/dev/null
fi
# The package starts a system-wide haproxy; tests run their own on free ports, so stop it.
if command -v systemctl >/dev/null 2>&1; then
    systemctl stop haproxy >/dev/null 2>&1 || true
fi
haproxy -v | sed -n 1p   # sed reads it all: head would end haproxy with SIGPIPE (pipefail)
echo "s3 peers ready: $venv (moto $moto_version, awscli $awscli_version), $(command -v haproxy)"
