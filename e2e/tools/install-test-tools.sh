#!/usr/bin/env bash
# Everything the tests need beyond cargo, installed into .work/ (gitignored) by the project
# itself, idempotently: `make test` runs this first on every machine, CI included.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for installer in install-helm.sh install-s3-peers.sh install-chart-tools.sh install-localstack.sh; do
  if [ -f "$here/$installer" ]; then
    bash "$here/$installer"
  fi
done
