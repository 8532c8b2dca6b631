#!/usr/bin/env bash
# CSI storage with snapshots on the nodes of a control plane (e2e/csi/README.md):
#
#   bash e2e/tools/csi.sh up DIR     on a cluster `control-plane.sh up DIR --nodes N` started:
#                                    the snapshot CRDs, one snapshot-controller, and per node our
#                                    driver (registered with that node's kubelet), an
#                                    external-provisioner and a csi-snapshotter; the CSIDriver
#                                    csi.veloxide.dev, StorageClass and VolumeSnapshotClass
#                                    veloxide-csi. Returns once every node's kubelet lists the
#                                    driver in its CSINode.
#   bash e2e/tools/csi.sh down DIR   stops every process `up DIR` started and unmounts every
#                                    volume the driver published under DIR
#
# control-plane.sh runs both itself (up once the nodes are Ready, down first). Everything is a
# host process, as the control plane is; the sidecars run with the identities of upstream's
# deployments (ServiceAccounts csi-provisioner, csi-snapshotter in default, snapshot-controller
# in kube-system, minted by `control-plane.sh user`) bound by upstream's own RBAC files.
# Files: DIR/csi/ (snapshot-controller, the kubeconfigs), DIR/nodes/<node>/csi/ (driver,
# provisioner, snapshotter: *.log, *.pid; state/ holds the volumes and snapshots).
# VELOXIDE_CSI_CAPACITY (default 1Gi) is each node's capacity for volumes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
dir="${2:-}"
[[ -n "$cmd" && -n "$dir" && -d "$dir" ]] || { sed -n '2,21p' "$0" >&2; exit 2; }
dir="$(cd "$dir" && pwd)"
driver=csi.veloxide.dev

# The pid in FILE when that process is still the one started (its command line names DIR).
live_pid() {
    local pid
    [[ -f "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir" && echo "$pid"
}

stop() {
    local pid
    if pid="$(live_pid "$1")"; then
        kill "$pid" 2>/dev/null || true
        # live_pid, not kill -0: an exited process that its new parent has not reaped yet is a
        # zombie (kill -0 succeeds on it) with an empty command line.
        for _ in $(seq 1 50); do live_pid "$1" >/dev/null || break; sleep 0.1; done
        if live_pid "$1" >/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$1"
}

nodes() { find "$dir/nodes" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort; }

k() { kubectl --kubeconfig "$dir/kubeconfig" "$@"; }

up() {
    [[ -f "$dir/kubeconfig" ]] || { echo "csi: no control plane in $dir" >&2; exit 1; }
    if live_pid "$dir/csi/snapshot-controller.pid" >/dev/null; then
        echo "csi: already running in $dir" >&2
        exit 1
    fi
    local node_list
    node_list="$(nodes)"
    [[ -n "$node_list" ]] || { echo "csi: $dir has no nodes (control-plane.sh up DIR --nodes N)" >&2; exit 1; }
    local bin manifests start=$SECONDS
    bin="$(bash "$here/build-csi.sh")"
    manifests="$(dirname "$bin")/manifests"
    mkdir -p "$dir/csi"

    # Server-side: the CRDs' schemas are larger than client-side apply's annotation allows.
    k apply --server-side -f "$manifests/crds" >/dev/null
    k wait --for condition=Established --timeout 60s -f "$manifests/crds" >/dev/null
    k apply -f "$manifests/rbac" -f "$here/../csi/manifests/driver.yaml" >/dev/null

    local cp="$here/control-plane.sh" provisioner_kc snapshotter_kc controller_kc
    provisioner_kc="$(bash "$cp" user "$dir" system:serviceaccount:default:csi-provisioner system:serviceaccounts system:serviceaccounts:default)"
    snapshotter_kc="$(bash "$cp" user "$dir" system:serviceaccount:default:csi-snapshotter system:serviceaccounts system:serviceaccounts:default)"
    controller_kc="$(bash "$cp" user "$dir" system:serviceaccount:kube-system:snapshot-controller system:serviceaccounts system:serviceaccounts:kube-system)"

    # One per cluster. Distributed snapshotting: it labels each VolumeSnapshotContent with the
    # node its volume lives on, and only that node's csi-snapshotter takes it.
    "$bin/snapshot-controller" --kubeconfig "$controller_kc" --enable-distributed-snapshotting \
        --leader-election=false --v=3 </dev/null >"$dir/csi/snapshot-controller.log" 2>&1 &
    echo $! >"$dir/csi/snapshot-controller.pid"

    local node nd sock
    for node in $node_list; do
        nd="$dir/nodes/$node"
        sock="$nd/kubelet/plugins/$driver/csi.sock"
        mkdir -p "$nd/csi/state"
        "$bin/veloxide-csi" --driver-name "$driver" --node-id "$node" --endpoint "$sock" \
            --registration-dir "$nd/kubelet/plugins_registry" --state-dir "$nd/csi/state" \
            --capacity "${VELOXIDE_CSI_CAPACITY:-1Gi}" </dev/null >"$nd/csi/driver.log" 2>&1 &
        echo $! >"$nd/csi/driver.pid"
        for _ in $(seq 1 100); do [[ -S "$sock" ]] && break; sleep 0.1; done
        [[ -S "$sock" ]] || { echo "csi: the driver on $node did not serve $sock:" >&2; tail -20 "$nd/csi/driver.log" >&2; exit 1; }
        # Node deployment, as upstream's distributed hostpath deployment runs them: each
        # provisioner takes the claims the scheduler put on its node (WaitForFirstConsumer) and
        # passes only that node's topology (strict), each snapshotter the contents labelled
        # with its node.
        NODE_NAME="$node" "$bin/csi-provisioner" --kubeconfig "$provisioner_kc" --csi-address "$sock" \
            --node-deployment --strict-topology --immediate-topology=false \
            --leader-election=false --v=3 </dev/null >"$nd/csi/provisioner.log" 2>&1 &
        echo $! >"$nd/csi/provisioner.pid"
        NODE_NAME="$node" "$bin/csi-snapshotter" --kubeconfig "$snapshotter_kc" --csi-address "$sock" \
            --node-deployment --leader-election=false --v=3 </dev/null >"$nd/csi/snapshotter.log" 2>&1 &
        echo $! >"$nd/csi/snapshotter.pid"
    done

    # kubelet found the registration socket, called NodeGetInfo and wrote the CSINode.
    for node in $node_list; do
        local ok=""
        for _ in $(seq 1 300); do
            if k get csinode "$node" -o jsonpath='{.spec.drivers[*].name}' 2>/dev/null | grep -qw "$driver"; then
                ok=1
                break
            fi
            sleep 0.2
        done
        [[ -n "$ok" ]] || {
            echo "csi: kubelet on $node did not register $driver within 60 s; the driver's log:" >&2
            tail -20 "$dir/nodes/$node/csi/driver.log" >&2
            exit 1
        }
    done
    echo "csi: $driver on $(echo $node_list | wc -w) node(s) in $((SECONDS - start)) s" >&2
}

down() {
    local node nd m
    # The sidecars first, so nothing calls the driver while it stops.
    stop "$dir/csi/snapshot-controller.pid"
    for node in $(nodes); do
        nd="$dir/nodes/$node"
        stop "$nd/csi/provisioner.pid"
        stop "$nd/csi/snapshotter.pid"
        stop "$nd/csi/driver.pid"
        # What the driver published: bind mounts at pods' CSI volume paths, deepest first.
        mapfile -t mounts < <(awk -v p="$nd/kubelet/pods/" 'index($2, p) == 1 && $2 ~ /\/volumes\/kubernetes.io~csi\// { print $2 }' /proc/self/mounts | sort -r)
        for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
        rm -f "$nd/kubelet/plugins_registry/$driver-reg.sock" "$nd/kubelet/plugins/$driver/csi.sock"
    done
}

case "$cmd" in
up) up ;;
down) down ;;
*) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
