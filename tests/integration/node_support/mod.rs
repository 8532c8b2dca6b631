//! What the node tests (`node.rs`) share: the real kubectl as the admin, namespaces, busybox
//! pods and waits, and what a node leaves on the machine (processes, mounts, cgroups, links).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use e2e::images::BUSYBOX;

/// kubectl's stdout, or a panic with everything it printed.
pub fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    ok(
        &format!("kubectl {}", args.join(" ")),
        cluster.kubectl(args, None).expect("kubectl runs"),
    )
}

/// A fresh namespace whose `default` ServiceAccount exists (pods need it to be admitted).
pub fn namespace(cluster: &Cluster) -> String {
    let ns = format!("node-{}", e2e::random_hex(4));
    kubectl(cluster, &["create", "namespace", &ns]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster
        .kubectl(&["-n", &ns, "get", "serviceaccount", "default"], None)
        .expect("kubectl runs")
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "no default ServiceAccount in {ns}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ns
}

pub fn apply(cluster: &Cluster, ns: &str, yaml: &str) {
    ok(
        "kubectl apply",
        cluster
            .kubectl(&["-n", ns, "apply", "-f", "-"], Some(yaml))
            .expect("kubectl runs"),
    );
}

/// A busybox pod running `script`, with an emptyDir at /data.
pub fn busybox_pod(name: &str, script: &str, restart: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, emptyDir: {{}}}}]
"#
    )
}

pub fn wait_ready(cluster: &Cluster, ns: &str, pod: &str) {
    let out = cluster
        .kubectl(
            &[
                "-n",
                ns,
                "wait",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                "--timeout=120s",
            ],
            None,
        )
        .expect("kubectl runs");
    if !out.status.success() {
        let describe = cluster
            .kubectl(&["-n", ns, "describe", "pod", pod], None)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        panic!(
            "pod {ns}/{pod} never Ready: {}\n{describe}\nkubelet:\n{}",
            String::from_utf8_lossy(&out.stderr),
            cluster.log_tail("nodes/node-1/kubelet", 30)
        );
    }
}

/// Waits for a pod that runs to completion; returns its phase.
pub fn wait_finished(cluster: &Cluster, ns: &str, pod: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let phase = kubectl(
            cluster,
            &[
                "-n",
                ns,
                "get",
                "pod",
                pod,
                "-o",
                "jsonpath={.status.phase}",
            ],
        );
        if phase == "Succeeded" || phase == "Failed" {
            return phase;
        }
        assert!(Instant::now() < deadline, "pod {ns}/{pod} still {phase}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The cluster's bridge, from DIR/network.
pub fn bridge_of(cluster: &Cluster) -> String {
    let network = std::fs::read_to_string(cluster.dir().join("network")).expect("DIR/network");
    network
        .lines()
        .find_map(|l| l.strip_prefix("bridge="))
        .expect("a bridge= line")
        .to_owned()
}

pub fn links() -> String {
    let out = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every process whose command line names `needle`.
pub fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let path = entry.expect("entry").path();
        if let Ok(cmdline) = std::fs::read(path.join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{}: {cmdline}", path.display()));
            }
        }
    }
    found
}

pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/mounts")
        .expect("/proc/mounts")
        .lines()
        .filter(|l| l.split(' ').nth(1).is_some_and(|m| m.starts_with(&prefix)))
        .map(str::to_owned)
        .collect()
}

pub fn cgroups_named(part: &str) -> Vec<String> {
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").expect("/sys/fs/cgroup") {
        let path = hierarchy
            .expect("entry")
            .path()
            .join(part.trim_start_matches('/'));
        if path.exists() {
            found.push(path.display().to_string());
        }
    }
    found
}
