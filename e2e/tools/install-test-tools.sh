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
# The real control plane (kube-apiserver, kube-controller-manager, etcd) from Go modules:
# built once, reused while e2e/controlplane's go.sum and the Go version are unchanged.
echo "control plane ready: $(bash "$here/build-control-plane.sh")"
