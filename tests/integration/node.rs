//! Real nodes (`control-plane.sh up DIR --nodes N`): containerd and kubelet per node, pods on a
//! bridge of the cluster's own, images built locally. Through the real kubectl: a pod runs on
//! the node, `kubectl exec`, `kubectl logs` and `kubectl port-forward` reach it (the API server
//! calling the kubelet), a pod reaches the API server with its ServiceAccount token at the
//! address its environment names, the veloxide image runs, two clusters with nodes run side by
//! side (pods of two nodes reaching each other), and `down` leaves no process, mount, cgroup, bridge or container behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::node_support::*;
use e2e::cluster::Cluster;
use e2e::images::{BUSYBOX, VELOXIDE};

#[test]
fn a_pod_runs_on_the_node_and_exec_logs_and_port_forward_reach_it() {
    let cluster = Cluster::shared_with_node();
    let ns = namespace(cluster);
    let script = "echo started on $(hostname); mkdir -p /www; echo served-from-the-pod >/www/index.html; \
                  exec httpd -f -p 8080 -h /www";
    apply(cluster, &ns, &busybox_pod("web", script, "Always"));
    wait_ready(cluster, &ns, "web");

    let placed = kubectl(
        cluster,
        &[
            "-n",
            &ns,
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.spec.nodeName} {.status.podIP} {.status.hostIP}",
        ],
    );
    let [node, pod_ip, host_ip] = placed.split(' ').collect::<Vec<_>>()[..] else {
        panic!("unexpected placement: {placed}");
    };
    assert_eq!(node, "node-1", "scheduled by kube-scheduler onto the node");
    assert!(
        pod_ip.starts_with("198.19."),
        "a pod address on the cluster's bridge: {pod_ip}"
    );
    assert!(
        host_ip.starts_with("198.19."),
        "the node's InternalIP: {host_ip}"
    );

    // exec: the API server calls the kubelet, which streams from containerd.
    let written = kubectl(
        cluster,
        &[
            "-n",
            &ns,
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo written-by-exec >/data/f && cat /data/f && hostname",
        ],
    );
    assert_eq!(written, "written-by-exec\nweb\n");

    let logs = kubectl(cluster, &["-n", &ns, "logs", "web"]);
    assert!(logs.contains("started on web"), "kubectl logs: {logs:?}");

    // port-forward: through the API server and the kubelet into the pod's network namespace.
    let mut forward = Command::new(cluster.kubectl_program())
        .env("KUBECONFIG", &cluster.kubeconfig)
        .args(["-n", &ns, "port-forward", "pod/web", ":8080"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl port-forward starts");
    let mut lines = BufReader::new(forward.stdout.take().expect("piped")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let port = first
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("port-forward said {first:?}"))
        .to_owned();
    let mut conn = TcpStream::connect(format!("127.0.0.1:{port}")).expect("the forwarded port");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("an answer");
    let _ = forward.kill();
    let _ = forward.wait();
    assert!(
        answer.contains("served-from-the-pod"),
        "through port-forward: {answer:?}"
    );
    kubectl(cluster, &["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn a_pod_reaches_the_api_server_with_its_service_account() {
    let cluster = Cluster::shared_with_node();
    let ns = namespace(cluster);
    // The pod's ServiceAccount may read one ConfigMap; reading it proves the pod reached the API
    // server at KUBERNETES_SERVICE_HOST:PORT (no kube-proxy: the address is the API server's
    // own) and authenticated with the token the kubelet projected.
    apply(
        cluster,
        &ns,
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: marker}
data: {word: reached-from-a-pod}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-marker}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [marker], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-marker}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-marker}
subjects: [{kind: ServiceAccount, name: default}]
"#,
    );
    // busybox's wget cannot check the certificate; the veloxide image test below does.
    let script = format!(
        "wget -q -O - --no-check-certificate \
         --header \"Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)\" \
         https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/{ns}/configmaps/marker"
    );
    apply(cluster, &ns, &busybox_pod("client", &script, "Never"));
    let phase = wait_finished(cluster, &ns, "client");
    let logs = kubectl(cluster, &["-n", &ns, "logs", "client"]);
    assert_eq!(phase, "Succeeded", "the pod's request failed: {logs}");
    assert!(
        logs.contains("\"word\": \"reached-from-a-pod\""),
        "the answer: {logs}"
    );
    kubectl(cluster, &["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn the_veloxide_image_runs_and_talks_to_the_api_server_with_the_cluster_ca() {
    let cluster = Cluster::shared_with_node();
    let image = e2e::images::veloxide(Path::new(env!("CARGO_BIN_EXE_veloxide")))
        .expect("the veloxide image builds");
    cluster.load_image(&image).expect("the image loads");
    let ns = namespace(cluster);
    let crds = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/backups.velero.io.yaml"
    ))
    .expect("the Backup CRD");
    ok(
        "kubectl apply the Backup CRD",
        cluster
            .kubectl(&["apply", "-f", "-"], Some(&crds))
            .expect("kubectl runs"),
    );
    kubectl(
        cluster,
        &[
            "wait",
            "--for=condition=Established",
            "crd/backups.velero.io",
            "--timeout=60s",
        ],
    );
    apply(
        cluster,
        &ns,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: list-backups}
rules: [{apiGroups: [velero.io], resources: [backups], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: list-backups}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: list-backups}
subjects: [{kind: ServiceAccount, name: default}]
"#,
    );
    // In-cluster configuration, as the node agent will run: the ServiceAccount's token and the
    // cluster's CA from the projected volume, the API server at KUBERNETES_SERVICE_HOST.
    apply(
        cluster,
        &ns,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: cli}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {VELOXIDE}
    args: ["backup", "get", "-n", "{ns}"]
"#
        ),
    );
    let phase = wait_finished(cluster, &ns, "cli");
    let logs = kubectl(cluster, &["-n", &ns, "logs", "cli"]);
    assert_eq!(phase, "Succeeded", "veloxide in the pod: {logs}");
    kubectl(cluster, &["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn two_clusters_with_nodes_run_side_by_side_and_pods_of_two_nodes_meet() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Cluster::start_with_nodes(2).expect("cluster a starts"));
        let b = s.spawn(|| Cluster::start_with_nodes(1).expect("cluster b starts"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(bridge_of(&a), bridge_of(&b), "a bridge per cluster");
    assert_ne!(a.url, b.url, "an API server address per cluster");
    let mut ips = Vec::new();
    for cluster in [&a, &b] {
        let ns = namespace(cluster);
        apply(cluster, &ns, &busybox_pod("p", "exec sleep 3600", "Always"));
        wait_ready(cluster, &ns, "p");
        ips.push(kubectl(
            cluster,
            &[
                "-n",
                &ns,
                "get",
                "pod",
                "p",
                "-o",
                "jsonpath={.status.podIP}",
            ],
        ));
        let said = kubectl(cluster, &["-n", &ns, "exec", "p", "--", "echo", "alive"]);
        assert_eq!(said, "alive\n");
    }
    // a's second node: its pod reaches the first node's pod across the cluster's bridge.
    assert_eq!(a.node_names(), ["node-1", "node-2"]);
    let ns_a = kubectl(
        &a,
        &[
            "get",
            "pods",
            "-A",
            "-o",
            "jsonpath={.items[0].metadata.namespace}",
        ],
    );
    let on_node_2 = busybox_pod("q", "exec sleep 3600", "Always").replacen(
        "spec:\n",
        "spec:\n  nodeName: node-2\n",
        1,
    );
    apply(&a, &ns_a, &on_node_2);
    wait_ready(&a, &ns_a, "q");
    let ping = kubectl(
        &a,
        &[
            "-n", &ns_a, "exec", "q", "--", "ping", "-c", "1", "-W", "5", &ips[0],
        ],
    );
    assert!(
        ping.contains("1 packets received"),
        "node-2's pod pings node-1's: {ping}"
    );
    let subnet = |ip: &str| ip.rsplit_once('.').map(|(net, _)| net.to_owned());
    assert_ne!(
        subnet(&ips[0]),
        subnet(&ips[1]),
        "pods of each cluster in its own range: {ips:?}"
    );
    // One goes; the other keeps answering.
    let b_bridge = bridge_of(&b);
    drop(a);
    assert!(
        links().contains(&format!(": {b_bridge}:")),
        "b's bridge stays"
    );
    let ns = kubectl(
        &b,
        &[
            "get",
            "pods",
            "-A",
            "-o",
            "jsonpath={.items[0].metadata.namespace}",
        ],
    );
    let said = kubectl(&b, &["-n", &ns, "exec", "p", "--", "echo", "still"]);
    assert_eq!(said, "still\n");
}

#[test]
fn down_leaves_no_process_mount_cgroup_bridge_or_container() {
    let cluster = Cluster::start_with_nodes(1).expect("a cluster with a node starts");
    let ns = namespace(&cluster);
    // A Secret volume and the projected token are tmpfs mounts the kubelet makes; the emptyDir
    // is a directory; the containers' root filesystems are overlay mounts.
    kubectl(
        &cluster,
        &[
            "-n",
            &ns,
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=k=v",
        ],
    );
    apply(
        &cluster,
        &ns,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    volumeMounts: [{{name: s, mountPath: /s}}, {{name: data, mountPath: /data}}]
  volumes: [{{name: s, secret: {{secretName: s}}}}, {{name: data, emptyDir: {{}}}}]
"#
        ),
    );
    wait_ready(&cluster, &ns, "p");
    let dir = cluster.dir().to_path_buf();
    let bridge = bridge_of(&cluster);
    let cgroup = format!("veloxide-{bridge}-node-1");
    let veths: Vec<String> = {
        let out = Command::new("ip")
            .args(["-o", "link", "show", "master", &bridge])
            .output()
            .expect("ip runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .collect()
    };
    // What is there before, so that "nothing after" means something.
    let before_mounts = mounts_under(&dir);
    assert!(
        before_mounts.iter().any(|m| m.contains(" tmpfs "))
            && before_mounts.iter().any(|m| m.contains(" overlay ")),
        "the pod's volumes and root filesystems are mounted under DIR: {before_mounts:#?}"
    );
    assert!(!veths.is_empty(), "the pod's veth is on the bridge");
    assert!(
        !cgroups_named(&cgroup).is_empty(),
        "the node's cgroups exist"
    );
    let shim = format!(
        "-address {}",
        cluster.node_dir("node-1").join("containerd.sock").display()
    );
    assert!(
        !processes_naming(&shim).is_empty(),
        "containerd's shims run the pod"
    );

    cluster.down().expect("down");

    assert_eq!(
        processes_naming(&dir.to_string_lossy()),
        Vec::<String>::new(),
        "processes left"
    );
    assert_eq!(mounts_under(&dir), Vec::<String>::new(), "mounts left");
    assert_eq!(cgroups_named(&cgroup), Vec::<String>::new(), "cgroups left");
    let links = links();
    assert!(
        !links.contains(&format!(": {bridge}:")),
        "the bridge is gone: {links}"
    );
    for veth in &veths {
        assert!(
            !links.contains(&format!(": {veth}@")),
            "veth {veth} is gone: {links}"
        );
    }
}
