#!/usr/bin/env bash
# Everything the tests need beyond cargo, installed into .work/ (gitignored) by the project
# itself, idempotently: `make test` runs this first on every machine, CI included.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for installer in install-helm.sh install-s3-peers.sh install-chart-tools.sh install-localstack.sh install-node-peers.sh install-restic.sh; do
  if [ -f "$here/$installer" ]; then
    bash "$here/$installer"
  fi
done
# The real control plane (kube-apiserver, kube-controller-manager, etcd, kube-scheduler, kubelet)
# from Go modules: built once per machine (~/.cache/veloxide), reused while e2e/controlplane's
# go.mod, go.sum, mains and the Go version are unchanged.
# (An assignment, not `echo "$(...)"`: set -e ignores a failing substitution inside echo's
# arguments, and make test then went on without a control plane.)
bin=$(bash "$here/build-control-plane.sh")
echo "control plane ready: $bin"
# kubectl of the same Kubernetes release (e2e/kubectl), cached beside it; control-plane.sh up
# links it into each cluster's DIR/bin, which the tests and the demo run.
bin=$(bash "$here/build-kubectl.sh")
echo "kubectl ready: $bin"
# The nodes' images (pause, busybox), cached beside it.
for image in pause busybox; do
  tarball=$(bash "$here/../images/build.sh" "$image")
  echo "image ready: $tarball"
done
# Velero and velero-plugin-for-aws, the peer of the interop tests (tests/integration/
# velero_interop.rs): built once, reused while e2e/velero and the plugin version are unchanged.
bin=$(bash "$here/build-velero.sh")
echo "velero ready: $bin"
# The CSI parts of the test nodes (e2e/csi/README.md): our driver (checked by the CSI sanity
# suite), external-provisioner and external-snapshotter; cached in ~/.cache/veloxide/csi/<key>.
bin=$(bash "$here/build-csi.sh")
echo "csi ready: $bin"
