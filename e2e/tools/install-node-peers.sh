#!/usr/bin/env bash
# Installs what a node of the test control plane runs beside kubelet (idempotent), from Debian:
#   containerd + runc        one containerd per node (control-plane.sh starts it with its own
#                            root, state and socket; the package's own service is stopped)
#   containernetworking-plugins   bridge, host-local, loopback, portmap (the pods' network)
#   catatonit                the pause process of the local pause image (e2e/images/)
#   busybox-static           the local busybox image (e2e/images/)
# Called by e2e/tools/install-test-tools.sh; safe to run on its own.
set -euo pipefail

packages=(containerd runc containernetworking-plugins catatonit busybox-static)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The package starts a machine-wide containerd where an init system runs; each node runs its
# own, so that one is stopped (it would not be used, and its socket is nothing of ours).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
    systemctl stop containerd >/dev/null 2>&1 || true
fi
for f in /usr/bin/containerd /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local \
    /usr/lib/cni/loopback /usr/lib/cni/portmap /usr/bin/catatonit /bin/busybox; do
    [[ -x "$f" ]] || { echo "install-node-peers: $f missing after installing ${packages[*]}" >&2; exit 1; }
done
echo "node peers ready: containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | sed -n '1s/runc version //p'), CNI plugins in /usr/lib/cni, catatonit, busybox-static"
