#!/usr/bin/env bash
# A real Kubernetes cluster on this machine, for tests, the demo, the benchmarks and laptops:
#
#   bash e2e/tools/control-plane.sh up DIR [--nodes N]
#                                               etcd + kube-apiserver + kube-controller-manager;
#                                               with N > 0 (default 0) also kube-scheduler and N
#                                               nodes (below); DIR/kubeconfig is an admin
#                                               (system:masters); returns once /readyz answers ok
#                                               and every node is Ready; DIR/bin/kubectl is
#                                               kubectl of the same Kubernetes release
#   bash e2e/tools/control-plane.sh down DIR    stops exactly what `up DIR` started and removes
#                                               what its nodes made (containers, mounts, cgroups,
#                                               the bridge)
#   bash e2e/tools/control-plane.sh user DIR NAME [GROUP...]
#                                               mints a client certificate for NAME in GROUPs and
#                                               prints the path of a kubeconfig for it
#   bash e2e/tools/control-plane.sh restart-apiserver DIR [SECONDS]
#                                               stops kube-apiserver (SIGTERM), keeps it down
#                                               SECONDS (default 0), starts it again with the same
#                                               flags and port; returns once /readyz answers ok
#   bash e2e/tools/control-plane.sh load DIR IMAGE.tar...
#                                               imports images (e2e/images/build.sh) into every node
#
# The binaries are built from Go modules by build-control-plane.sh (reused while unchanged).
# Everything a control plane owns lives in DIR: certificates, service-account keys, etcd's data,
# logs (*.log) and pids (*.pid). Several control planes run side by side in different DIRs.
# RBAC is enforced; the API server calls admission webhooks itself.
#
# Nodes (--nodes N; e2e/tools/node.sh). Node names: node-1 ... node-N. Each node is a containerd
# (Debian's, with runc, the CRI plugin, cgroupfs) and a kubelet (built with the control plane),
# with the local images of e2e/images/ (veloxide.test/pause:e2e, veloxide.test/busybox:e2e)
# imported. Per node, everything under DIR/nodes/<node>/:
#   kubelet/                   kubelet's --root-dir: kubelet/plugins_registry (CSI drivers'
#                              registration sockets), kubelet/plugins, kubelet/pods (pods' volumes)
#   containerd.sock            the CRI endpoint (containerd/ holds its config, root and state)
#   kubelet.kubeconfig, pki/   the kubelet's identity (system:node:<node>) and serving certificate
#   pod-logs/, runc/, cni/     container logs, runc state, CNI config and host-local addresses
#   containerd.log, kubelet.log, *.pid
# DIR/network records the cluster's network: one bridge per cluster (`bridge=vx<digest of DIR>`)
# and a /20 of 198.19.0.0/16 no other interface or route of the machine uses (`subnet=`), one
# L2 segment with every pod on it: `gateway=` (.1) is the bridge's address, the API server's
# (port 443) and the ClusterIP of the `kubernetes` Service, so pods reach the API server at the
# address their environment names without kube-proxy; node-I's IP is 198.19.(16*slot+I).1 and
# its pods get the rest of that /24. No masquerading, no route off the machine, no iptables
# rule, no machine-wide containerd or CNI config. The kube-controller-manager then also runs
# the controllers nodes need (node lifecycle, PV binder and expander, attach/detach, ReplicaSet,
# Deployment, StatefulSet, DaemonSet, Job, CronJob, PV/PVC protection, ...).
# Outside DIR, while it runs: the bridge and the veths of pods, cgroups /veloxide-<bridge>-<node>
# in each hierarchy, containerd's shim sockets in /run/containerd/s (a path containerd 1.6 fixes);
# `down` removes them all.
# CSI hook: once the nodes are Ready, `up` runs `bash e2e/tools/csi.sh up DIR` when that file
# exists, and `down` runs `bash e2e/tools/csi.sh down DIR` first.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
dir="${2:-}"
usage() { sed -n '2,26p' "$0" >&2; exit 2; }
[[ -n "$cmd" && -n "$dir" ]] || usage
# shellcheck source=cache.sh
. "$here/cache.sh"
# shellcheck source=node.sh
. "$here/node.sh"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints the pid of the process DIR/NAME.pid names when that process is still the one started
# (its command line names DIR), so a recycled pid is never signalled.
live_pid() {
    local pidfile="$dir/$1.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir" && echo "$pid"
}

# True while PID runs. A process `up` started was reparented when `up` exited, and a stopped one
# stays a zombie until its new parent reaps it (seconds, here): that counts as stopped.
running() {
    [[ -r "/proc/$1/stat" ]] && [[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]]
}

# Stops the process DIR/NAME.pid names (SIGNAL, default TERM; then KILL after 5 s) and removes
# the pid file.
stop_pid() {
    local pid
    if pid="$(live_pid "$1")"; then
        kill -s "${2:-TERM}" "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$1.pid"
}

# A client certificate signed by the control plane's CA: CN is the user, O each group.
mint_client() {
    local name="$1" file="$2"
    shift 2
    local subj="/CN=$name"
    local g
    for g in "$@"; do subj+="/O=$g"; done
    openssl req -new -newkey rsa:2048 -nodes -keyout "$file.key" -subj "$subj" -out "$file.csr" 2>/dev/null
    openssl x509 -req -in "$file.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" -CAcreateserial \
        -days 2 -out "$file.crt" -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n') 2>/dev/null
    rm -f "$file.csr"
}

write_kubeconfig() {
    local file="$1" cert="$2" url
    url="$(cat "$dir/url")"
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $url
    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
- name: user
  user:
    client-certificate-data: $(base64 -w0 <"$cert.crt")
    client-key-data: $(base64 -w0 <"$cert.key")
contexts:
- name: local
  context: {cluster: local, user: user}
current-context: local
EOF
}

wait_ready() {
    local url="$1" what="$2" log="$3" i
    for i in $(seq 1 600); do
        if curl -fsS --max-time 2 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
            "$url/readyz" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "control-plane: $what not ready after 60 s; last lines of $log:" >&2
    tail -20 "$log" >&2
    return 1
}

up() {
    local nodes=0
    while (($# > 0)); do
        case "$1" in
        --nodes) nodes="${2:?--nodes N}"; shift 2 ;;
        *) echo "control-plane: unknown option $1" >&2; usage ;;
        esac
    done
    [[ "$nodes" =~ ^[0-9]+$ ]] && ((nodes <= 15)) || { echo "control-plane: --nodes takes 0 to 15, not $nodes" >&2; exit 2; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if live_pid kube-apiserver >/dev/null; then
        echo "control-plane: already running in $dir" >&2
        exit 1
    fi
    local bin kubectl_bin
    bin="$(bash "$here/build-control-plane.sh")"
    # kubectl of the control plane's own release (build-kubectl.sh), as DIR/bin/kubectl: the
    # demo and the tests put DIR/bin first on PATH, so no client/server skew warning; this
    # script and the node and CSI scripts it runs use it too.
    kubectl_bin="$(bash "$here/build-kubectl.sh")"
    mkdir -p "$dir/bin"
    ln -sfn "$kubectl_bin/kubectl" "$dir/bin/kubectl"
    export PATH="$dir/bin:$PATH"
    local pki="$dir/pki"
    mkdir -p "$pki" "$dir/etcd"

    # Without nodes the API server is on loopback; with nodes on the cluster's bridge (where
    # pods reach it too), at the first address of the service range (node.sh, net_up).
    local api_addr=127.0.0.1 api_port service_range=10.0.0.0/24 san=IP:10.0.0.1
    if ((nodes > 0)); then
        net_up "$nodes"
        net_load
        api_addr="$gateway" api_port=443 service_range="$service_range" san="IP:$gateway"
    fi

    # PKI: one CA signs the serving certificate and every client certificate.
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 2 \
        -subj "/CN=veloxide-e2e-control-plane-ca" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/apiserver.key" -subj "/CN=kube-apiserver" \
        -out "$pki/apiserver.csr" 2>/dev/null
    openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 2 -out "$pki/apiserver.crt" 2>/dev/null -extfile <(printf '%s\n' \
        "subjectAltName=IP:127.0.0.1,$san,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
        'extendedKeyUsage=serverAuth')
    rm -f "$pki/apiserver.csr"
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
    mint_client admin "$pki/admin" system:masters
    mint_client system:kube-controller-manager "$pki/controller-manager"

    # Every request, one JSON line in DIR/audit.log (tests read the order of writes from it).
    printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' \
        'rules:' '- level: Metadata' >"$dir/audit-policy.yaml"

    local etcd_port etcd_peer
    etcd_port="$(free_port)"
    etcd_peer="$(free_port)"
    api_port="${api_port:-$(free_port)}"
    echo "https://$api_addr:$api_port" >"$dir/url"

    "$bin/etcd" --name e2e --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
        --initial-cluster "e2e=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync \
        --log-level warn </dev/null >"$dir/etcd.log" 2>&1 &
    echo $! >"$dir/etcd.pid"

    local -a node_flags=() authz=(--authorization-mode RBAC) admission=ValidatingAdmissionWebhook,MutatingAdmissionWebhook
    if ((nodes > 0)); then
        # The API server calls kubelets (exec, logs, port-forward) at their InternalIP (never a
        # DNS lookup of the node's name), checks their serving certificates and presents a
        # client certificate that the kubelets' webhook authorization accepts (bound below).
        mint_client kube-apiserver-kubelet-client "$pki/apiserver-kubelet-client"
        node_flags=(--kubelet-preferred-address-types InternalIP --kubelet-certificate-authority "$pki/ca.crt"
            --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt"
            --kubelet-client-key "$pki/apiserver-kubelet-client.key")
        authz=(--authorization-mode Node,RBAC)
        admission+=,NodeRestriction
    fi
    "$bin/kube-apiserver" --bind-address "$api_addr" --advertise-address "$api_addr" --secure-port "$api_port" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --cert-dir "$pki" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --client-ca-file "$pki/ca.crt" "${authz[@]}" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
        --service-cluster-ip-range "$service_range" --allow-privileged \
        --enable-admission-plugins "$admission" "${node_flags[@]}" \
        --endpoint-reconciler-type none --enable-aggregator-routing \
        --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" --audit-log-format json \
        </dev/null >"$dir/kube-apiserver.log" 2>&1 &
    echo $! >"$dir/kube-apiserver.pid"
    wait_ready "https://$api_addr:$api_port" kube-apiserver "$dir/kube-apiserver.log"

    write_kubeconfig "$dir/kubeconfig" "$pki/admin"
    write_kubeconfig "$dir/controller-manager.kubeconfig" "$pki/controller-manager"
    local controllers=namespace,garbagecollector,serviceaccount,serviceaccount-token,root-ca-cert-publisher,endpointslice,endpointslicemirroring
    if ((nodes > 0)); then
        controllers+=,nodelifecycle,persistentvolume-binder,persistentvolume-expander,attachdetach,pv-protection,pvc-protection
        controllers+=,replicaset,deployment,statefulset,daemonset,job,cronjob,ttl-after-finished,podgc,disruption,ttl,ephemeral-volume
    fi
    "$bin/kube-controller-manager" --kubeconfig "$dir/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --use-service-account-credentials \
        --controllers "$controllers" \
        --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
        --concurrent-gc-syncs 5 --concurrent-namespace-syncs 5 \
        </dev/null >"$dir/kube-controller-manager.log" 2>&1 &
    echo $! >"$dir/kube-controller-manager.pid"
    if ((nodes > 0)); then
        mint_client system:kube-scheduler "$pki/scheduler"
        write_kubeconfig "$dir/scheduler.kubeconfig" "$pki/scheduler"
        "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" --secure-port 0 --leader-elect=false \
            </dev/null >"$dir/kube-scheduler.log" 2>&1 &
        echo $! >"$dir/kube-scheduler.pid"
        # (create | apply: `up` again on a DIR whose etcd data survived finds it there.)
        kubectl --kubeconfig "$dir/kubeconfig" create clusterrolebinding veloxide-e2e:apiserver-kubelet \
            --clusterrole system:kubelet-api-admin --user kube-apiserver-kubelet-client --dry-run=client -o yaml |
            kubectl --kubeconfig "$dir/kubeconfig" apply -f - >/dev/null
    fi
    # With CONTROL_PLANE_OWNER_PID set (the Rust handle sets it), a watchdog stops the control
    # plane when that process is gone, however it ended (and removes DIR with
    # CONTROL_PLANE_REMOVE_DIR=1), so a test binary that exits or crashes leaves nothing running.
    # It starts before the nodes, so a failing `up` that its caller abandons is cleaned up too.
    if [[ -n "${CONTROL_PLANE_OWNER_PID:-}" ]]; then
        local owner="$CONTROL_PLANE_OWNER_PID" remove="${CONTROL_PLANE_REMOVE_DIR:-0}"
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
            bash "$2" down "$3"; [[ "$4" == 1 ]] && rm -rf "$3"' watchdog "$owner" "$here/control-plane.sh" "$dir" "$remove" \
            </dev/null >/dev/null 2>&1 &
        echo $! >"$dir/watchdog.pid"
    fi
    if ((nodes > 0)); then
        nodes_up "$nodes" "$bin"
        if [[ -f "$here/csi.sh" ]]; then
            bash "$here/csi.sh" up "$dir"
        fi
    fi
    echo "$dir/kubeconfig"
}

down() {
    [[ -d "$dir" ]] || exit 0
    dir="$(cd "$dir" && pwd)"
    # The watchdog too, unless it is the one running this `down`: nothing of DIR's is left.
    local watchdog
    if watchdog="$(live_pid watchdog)" && [[ "$watchdog" != "$PPID" ]]; then
        stop_pid watchdog
    fi
    if [[ -f "$here/csi.sh" && -f "$dir/network" ]]; then
        bash "$here/csi.sh" down "$dir" || echo "control-plane: csi.sh down $dir failed; going on" >&2
    fi
    stop_pid kube-scheduler
    stop_pid kube-controller-manager
    # Nodes before the API server: nothing of theirs needs it to stop, and nothing is rescheduled.
    nodes_down
    stop_pid kube-apiserver
    stop_pid etcd
}

restart_apiserver() {
    dir="$(cd "$dir" && pwd)"
    local down_for="${3:-0}" pid
    pid="$(live_pid kube-apiserver)" || { echo "control-plane: no kube-apiserver running in $dir" >&2; exit 1; }
    # The same program and flags (port, etcd, certificates) as `up` gave it.
    local -a argv
    mapfile -d '' argv <"/proc/$pid/cmdline"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    sleep "$down_for"
    "${argv[@]}" </dev/null >>"$dir/kube-apiserver.log" 2>&1 &
    echo $! >"$dir/kube-apiserver.pid"
    wait_ready "$(cat "$dir/url")" kube-apiserver "$dir/kube-apiserver.log"
}

user() {
    dir="$(cd "$dir" && pwd)"
    local name="${3:?user NAME}"
    shift 3
    local safe
    safe="$(echo "$name" | tr -c 'A-Za-z0-9.-' '_')"
    mkdir -p "$dir/users"
    mint_client "$name" "$dir/users/$safe" "$@"
    write_kubeconfig "$dir/users/$safe.kubeconfig" "$dir/users/$safe"
    echo "$dir/users/$safe.kubeconfig"
}

case "$cmd" in
up) up "${@:3}" ;;
load) nodes_load "${@:3}" ;;
down) down ;;
user) user "$@" ;;
restart-apiserver) restart_apiserver "$@" ;;
*) usage ;;
esac
