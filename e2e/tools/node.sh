# Sourced by control-plane.sh: the nodes of `up DIR --nodes N` (layout and addresses in
# control-plane.sh's header). Uses control-plane.sh's $dir, $here, live_pid, stop_pid,
# mint_client, write_kubeconfig.

# The cluster's network, decided once in `up` and kept in DIR/network (`down` reads it back):
# a /20 of 198.19.0.0/16 (RFC 2544's benchmarking range, routed nowhere) per cluster, picked
# where no address or route of this machine overlaps, on a bridge of its own.
net_load() {
    # shellcheck disable=SC1091
    . "$dir/network"
}

# slot S of 16: 198.19.16S.0/20. .1 of the first /24 is the gateway, the API server's address
# and the `kubernetes` Service's ClusterIP (the service range is that /24): pods reach the API
# server at the address their environment names, with no kube-proxy. Node i owns 198.19.(16S+i).0/24:
# .1 is its node IP (kubelet listens there), .2-.254 its pods.
net_up() {
    local nodes="$1" slot
    # One `up` at a time picks a slot, machine-wide: the lock is in our cache directory.
    mkdir -p "$(veloxide_cache_root)"
    exec 7>"$(veloxide_cache_root)/network.lock"
    flock 7
    slot="$(python3 - <<'EOF'
import ipaddress, json, subprocess, sys
used = []
for link in json.loads(subprocess.check_output(["ip", "-j", "-4", "addr"])):
    for a in link.get("addr_info", []):
        used.append(ipaddress.ip_network(f'{a["local"]}/{a["prefixlen"]}', strict=False))
for r in json.loads(subprocess.check_output(["ip", "-j", "-4", "route", "show", "table", "all"])):
    d = r.get("dst", "default")
    if d != "default":
        used.append(ipaddress.ip_network(d if "/" in d else d + "/32", strict=False))
for s in range(16):
    net = ipaddress.ip_network(f"198.19.{16 * s}.0/20")
    if not any(net.overlaps(u) for u in used):
        print(s)
        sys.exit(0)
sys.exit(1)
EOF
)" || { echo "control-plane: no free /20 in 198.19.0.0/16 for a cluster network (16 clusters at most)" >&2; exit 1; }
    local base=$((16 * slot))
    # Linux allows 15 characters; the name is the cluster's (a digest of DIR), not the slot's.
    bridge="vx$(echo "$dir" | sha256sum | cut -c1-8)"
    gateway="198.19.$base.1"
    cat >"$dir/network" <<EOF
bridge=$bridge
slot=$slot
gateway=$gateway
subnet=198.19.$base.0/20
service_range=198.19.$base.0/24
nodes=$nodes
EOF
    ip link add "$bridge" type bridge
    ip addr add "$gateway/20" dev "$bridge"
    local i
    for ((i = 1; i <= nodes; i++)); do ip addr add "$(node_ip "$i")/20" dev "$bridge"; done
    ip link set "$bridge" up
    flock -u 7
    exec 7>&-
}

net_down() {
    [[ -f "$dir/network" ]] || return 0
    net_load
    # Pods' veths go with their network namespaces; any left (a namespace still pinned) go here.
    local veth
    for veth in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
        ip link del "$veth" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
}

node_ip() { echo "198.19.$((16 * slot + $1)).1"; }
node_name() { echo "node-$1"; }

# node_up I: node-I's directory, cgroups, certificates and configuration, and its containerd.
node_up() {
    local i="$1"
    local name ip nd
    name="$(node_name "$i")"
    ip="$(node_ip "$i")"
    nd="$dir/nodes/$name"
    mkdir -p "$nd"/{containerd,runc,cni/net.d,cni/networks,kubelet,pod-logs,var-log,pki,sysctl}
    # kubelet refuses a cgroupRoot that does not exist: one in every v1 hierarchy (cpuset's
    # needs its CPUs and memory nodes before anything can join it).
    local h cg="veloxide-$bridge-$name"
    for h in /sys/fs/cgroup/*/; do
        [[ -f "${h}cgroup.procs" && "$h" != */unified/ ]] || continue
        mkdir -p "$h$cg"
        if [[ -f "${h}cpuset.cpus" ]]; then
            cat "${h}cpuset.cpus" >"$h$cg/cpuset.cpus"
            cat "${h}cpuset.mems" >"$h$cg/cpuset.mems"
        fi
    done
    # The node's directory as a shared mount (the machine's / is private): the mounts kubelet
    # makes in its own namespace (kubelet_start) under its root dir propagate here, to
    # containerd and runc, and the CSI driver's here propagate to kubelet.
    mount --bind "$nd" "$nd"
    mount --make-shared "$nd"

    # Certificates from the control plane's CA: the kubelet's client identity (the Node
    # authorizer's system:node:NAME) and its serving certificate for the node IP, which the API
    # server verifies (--kubelet-certificate-authority) on exec, logs and port-forward.
    mint_client "system:node:$name" "$nd/pki/kubelet-client" system:nodes
    openssl req -new -newkey rsa:2048 -nodes -keyout "$nd/pki/kubelet.key" -subj "/CN=system:node:$name" \
        -out "$nd/pki/kubelet.csr" 2>/dev/null
    openssl x509 -req -in "$nd/pki/kubelet.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" -CAcreateserial \
        -days 2 -out "$nd/pki/kubelet.crt" 2>/dev/null \
        -extfile <(printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$ip" "$name")
    rm -f "$nd/pki/kubelet.csr"
    write_kubeconfig "$nd/kubelet.kubeconfig" "$nd/pki/kubelet-client"

    # containerd: everything under the node's directory (no /etc/containerd, /var/lib/containerd,
    # /opt/containerd: the opt plugin is off), CNI config from this directory only.
    cat >"$nd/containerd/config.toml" <<EOF
version = 2
root = "$nd/containerd/root"
state = "$nd/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$nd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "veloxide.test/pause:e2e"
  # Even root cannot lower oom_score_adj on these machines; without this runc fails every
  # sandbox ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  # Pods' network namespaces under the state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
      Root = "$nd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni/net.d"
EOF
    # One L2 segment for the cluster: every node's pods are in the /20 (so pods of two nodes
    # reach each other on the bridge, with no forwarding), each node allocating from its /24.
    # No ipMasq, no portmap: nothing is NATed, nothing leaves the machine.
    local third=$((16 * slot + i))
    cat >"$nd/cni/net.d/10-veloxide.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "veloxide-e2e",
  "plugins": [{
    "type": "bridge", "bridge": "$bridge", "isGateway": false, "ipMasq": false,
    "ipam": {
      "type": "host-local", "dataDir": "$nd/cni/networks",
      "ranges": [[{"subnet": "$subnet", "rangeStart": "198.19.$third.2", "rangeEnd": "198.19.$third.254", "gateway": "$gateway"}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
EOF
    /usr/bin/containerd --config "$nd/containerd/config.toml" </dev/null >"$nd/containerd.log" 2>&1 &
    echo $! >"$nd/containerd.pid"

    cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: $ip
tlsCertFile: $nd/pki/kubelet.crt
tlsPrivateKeyFile: $nd/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$nd/containerd.sock
cgroupDriver: cgroupfs
# v1.34 refuses cgroup v1 unless told; these machines have it.
failCgroupV1: false
# Pods' cgroups under a root of this node's own, so nodes and clusters side by side never share one.
cgroupRoot: /veloxide-$bridge-$name
podLogsDir: $nd/pod-logs
volumePluginDir: $nd/kubelet/volume-plugins
# Nothing machine-wide: no iptables chains, and the kernel settings it would change are only
# checked (they read as expected through the namespace kubelet runs in, see kubelet_start).
makeIPTablesUtilChains: false
protectKernelDefaults: true
systemReserved: {cpu: 50m, memory: 64Mi}
kubeReserved: {cpu: 50m, memory: 64Mi}
# The disk is the machine's, shared with everything else: no eviction or image GC over it.
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
shutdownGracePeriod: 0s
EOF
}

# The kubelet in a mount namespace of its own, so that what it would change machine-wide stays
# in DIR: the kernel settings it insists on (vm.overcommit_memory=1, kernel.panic=10,
# kernel.panic_on_oops=1, ...) read as expected through files bound over /proc/sys there (with
# protectKernelDefaults it only checks them), and /var/log (its /var/log/containers links) is the
# node's. The node's directory is a shared mount, so the volumes kubelet mounts under its root
# dir propagate to containerd and runc, which run in the machine's namespace (node_up made the
# node's directory a shared mount).
kubelet_start() {
    local i="$1" bin="$2" name ip nd
    name="$(node_name "$i")"
    ip="$(node_ip "$i")"
    nd="$dir/nodes/$name"
    local binds=() kv key want
    for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
        kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
        key="${kv%=*}" want="${kv#*=}"
        if [[ "$(cat "/proc/sys/$key")" != "$want" ]]; then
            echo "$want" >"$nd/sysctl/${key//\//.}"
            binds+=("$nd/sysctl/${key//\//.}" "/proc/sys/$key")
        fi
    done
    binds+=("$nd/var-log" /var/log)
    # shellcheck disable=SC2016
    unshare --mount --propagation unchanged -- /bin/bash -c '
        set -e
        n="$1"; shift
        for ((k = 0; k < n; k += 2)); do mount --bind "$1" "$2"; shift 2; done
        exec "$@"' kubelet-ns "${#binds[@]}" "${binds[@]}" \
        "$bin/kubelet" --config "$nd/kubelet.yaml" --kubeconfig "$nd/kubelet.kubeconfig" \
        --root-dir "$nd/kubelet" --cert-dir "$nd/pki" --hostname-override "$name" --node-ip "$ip" --v=1 \
        </dev/null >"$nd/kubelet.log" 2>&1 &
    echo $! >"$nd/kubelet.pid"
}

# node_images N IMAGE.tar...: waits for each node's containerd to answer, then imports the
# images into it (unpacked for the overlayfs snapshotter, in the CRI's namespace k8s.io).
node_images() {
    local n="$1" i nd image
    shift
    for ((i = 1; i <= n; i++)); do
        nd="$dir/nodes/$(node_name "$i")"
        for _ in $(seq 1 100); do
            ctr --address "$nd/containerd.sock" version >/dev/null 2>&1 && break
            sleep 0.1
        done
        for image in "$@"; do
            ctr --address "$nd/containerd.sock" -n k8s.io images import "$image" >/dev/null || {
                echo "control-plane: importing $image into $(node_name "$i") failed; $nd/containerd.log says:" >&2
                tail -20 "$nd/containerd.log" >&2
                return 1
            }
        done
    done
}

nodes_up() {
    local n="$1" bin="$2" i
    local images=()
    images+=("$(bash "$here/../images/build.sh" pause)")
    images+=("$(bash "$here/../images/build.sh" busybox)")
    for ((i = 1; i <= n; i++)); do node_up "$i"; done
    node_images "$n" "${images[@]}"
    for ((i = 1; i <= n; i++)); do kubelet_start "$i" "$bin"; done
    local deadline=$((SECONDS + 120)) ready
    while :; do
        ready="$(kubectl --kubeconfig "$dir/kubeconfig" get nodes \
            -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c True || true)"
        [[ "$ready" == "$n" ]] && break
        if ((SECONDS > deadline)); then
            echo "control-plane: $ready of $n nodes Ready after 120 s; last lines of each kubelet.log:" >&2
            for ((i = 1; i <= n; i++)); do tail -15 "$dir/nodes/$(node_name "$i")/kubelet.log" >&2; done
            return 1
        fi
        sleep 0.5
    done
}

# Stops one node and takes away everything it made: containers (through containerd, then any
# process left in the node's cgroups), mounts under its directory, its cgroups.
node_down() {
    local nd="$1" name cgroot pid sock
    name="$(basename "$nd")"
    net_load
    cgroot="/veloxide-$bridge-$name"
    sock="$nd/containerd.sock"
    # KILL: kubelet keeps nothing worth a graceful stop here (graceful node shutdown is off), and
    # on TERM it spends seconds retrying containerd before it exits.
    stop_pid "nodes/$name/kubelet" KILL
    if pid="$(live_pid "nodes/$name/containerd")"; then
        local id
        for id in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$sock" -n k8s.io tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
        done
        for id in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
        done
    fi
    stop_pid "nodes/$name/containerd"
    # Whatever survived: the processes in the node's cgroups, and its containerd's shims.
    local f
    for f in $(find "/sys/fs/cgroup/pids$cgroot" -name cgroup.procs 2>/dev/null); do
        xargs -r kill -9 <"$f" 2>/dev/null || true
    done
    for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $sock" || true); do kill -9 "$pid" 2>/dev/null || true; done
    # Mounts under the node's directory, deepest first (the directory's own shared bind last).
    local m mounts
    for _ in 1 2 3; do
        mapfile -t mounts < <(awk -v p="$nd" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/mounts | sort -r)
        ((${#mounts[@]})) || break
        for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    done
    local h
    for h in /sys/fs/cgroup/*/; do
        [[ -d "$h${cgroot#/}" ]] && find "$h${cgroot#/}" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    return 0
}

nodes_down() {
    local nd
    for nd in "$dir"/nodes/*/; do
        [[ -d "$nd" ]] && node_down "${nd%/}"
    done
    net_down
}

# `load DIR IMAGE.tar...`: imports images (e2e/images/build.sh's) into every node's containerd.
nodes_load() {
    dir="$(cd "$dir" && pwd)"
    [[ -f "$dir/network" ]] || { echo "control-plane: $dir has no nodes" >&2; exit 1; }
    net_load
    node_images "$nodes" "$@"
}
