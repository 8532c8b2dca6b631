//! The node agent's identity (`nodeAgent.enabled`, `veloxide install --use-node-agent`): what
//! it may and may not do, asked of a real kube-apiserver with `kubectl auth can-i
//! --as=system:serviceaccount:velero:veloxide-node-agent`; and install's agent objects
//! (written by hand in src/cli/install/manifests/agent.rs) the chart's, rule for rule.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use serde_json::Value;

use crate::rbac::{kubectl, rbac_only, same_rbac, to_yaml};

const NS: &str = "velero";
const AS: &str = "system:serviceaccount:velero:veloxide-node-agent";

/// verb, resource, namespace (`—`: cluster-scoped, `(all)`: every namespace), answer.
const TABLE: &[(&str, &str, &str, bool)] = &[
    // Its work: this namespace's PodVolumeBackups and PodVolumeRestores, status only.
    ("watch", "podvolumebackups.velero.io", "velero", true),
    (
        "update",
        "podvolumebackups.velero.io/status",
        "velero",
        true,
    ),
    (
        "patch",
        "podvolumerestores.velero.io/status",
        "velero",
        true,
    ),
    ("list", "podvolumerestores.velero.io", "velero", true),
    ("create", "podvolumebackups.velero.io", "velero", false),
    ("delete", "podvolumebackups.velero.io", "velero", false),
    ("update", "podvolumebackups.velero.io", "velero", false),
    ("watch", "podvolumebackups.velero.io", "other", false),
    ("get", "backupstoragelocations.velero.io", "velero", true),
    ("patch", "backupstoragelocations.velero.io", "velero", false),
    ("get", "backups.velero.io", "velero", false),
    ("create", "deletebackuprequests.velero.io", "velero", false),
    // Secrets: read by name in this namespace only, never listed or written.
    ("get", "secrets", "velero", true),
    ("list", "secrets", "velero", false),
    ("create", "secrets", "velero", false),
    ("update", "secrets", "velero", false),
    ("get", "secrets", "other", false),
    // Finding a volume: a pod, its claim, the claim's volume, by name.
    ("get", "pods", "app", true),
    ("list", "pods", "app", false),
    ("create", "pods", "app", false),
    ("delete", "pods", "app", false),
    ("create", "pods/exec", "app", false),
    ("get", "pods/log", "app", false),
    ("get", "persistentvolumeclaims", "app", true),
    ("get", "persistentvolumes", "—", true),
    ("delete", "persistentvolumes", "—", false),
    ("get", "nodes", "—", false),
    ("get", "nodes/proxy", "—", false),
    ("get", "configmaps", "app", false),
    ("create", "events", "velero", true),
    ("create", "events", "app", false),
    ("update", "leases.coordination.k8s.io", "velero", false),
    ("create", "daemonsets.apps", "velero", false),
];

fn can_i(cluster: &Cluster, verb: &str, resource: &str, ns: &str) -> bool {
    let (resource, sub) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(format!("--subresource={s}"))),
        None => (resource, None),
    };
    let mut args = vec!["auth", "can-i", verb, resource, "--as", AS];
    if let Some(sub) = &sub {
        args.push(sub);
    }
    match ns {
        "(all)" | "—" => args.push("--all-namespaces"),
        ns => args.extend(["-n", ns]),
    }
    let out = kubectl(cluster, &args);
    match String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::trim)
    {
        Some("yes") => true,
        Some("no") => false,
        _ => panic!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// The agent's objects of the chart rendered with `nodeAgent.enabled=true`.
fn chart_agent() -> String {
    e2e::manifests::render_chart(
        "veloxide",
        NS,
        &["node-agent-rbac.yaml", "node-agent.yaml"],
        &["nodeAgent.enabled=true"],
    )
    .unwrap()
}

/// `veloxide install --dry-run -o yaml --use-node-agent`'s documents.
fn install_printed(dir: &std::path::Path) -> Vec<Value> {
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=not-a-real-key\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args([
            "install",
            "--provider",
            "aws",
            "--bucket",
            "b",
            "--secret-file",
        ])
        .arg(&credentials)
        .args(["--dry-run", "-o", "yaml", "--use-node-agent"])
        .env("KUBECONFIG", dir.join("no-cluster"))
        .env_remove("VELERO_NAMESPACE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e2e::manifests::yaml_docs(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

fn named_agent(docs: &[Value]) -> Vec<Value> {
    docs.iter()
        .filter(|d| d["metadata"]["name"] == "veloxide-node-agent")
        .cloned()
        .collect()
}

/// The DaemonSet without what differs by design: labels (Helm's and install's managers) and
/// the image (the chart's appVersion, install's build).
fn comparable(mut ds: Value) -> Value {
    ds["metadata"]["labels"] = Value::Null;
    ds["spec"]["template"]["metadata"]["labels"] = Value::Null;
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = Value::Null;
    ds
}

#[test]
fn install_runs_the_node_agent_as_the_chart_does() {
    let dir = tempfile::tempdir().unwrap();
    let printed = install_printed(dir.path());
    let chart = e2e::manifests::yaml_docs(&chart_agent()).unwrap();
    same_rbac(
        "nodeAgent.enabled=true / --use-node-agent",
        &named_agent(&rbac_only(&to_yaml(&chart))),
        &named_agent(&rbac_only(&to_yaml(&printed))),
    );
    let ds = |docs: &[Value]| {
        comparable(
            docs.iter()
                .find(|d| d["kind"] == "DaemonSet")
                .expect("a DaemonSet")
                .clone(),
        )
    };
    assert_eq!(
        ds(&chart),
        ds(&printed),
        "the chart's DaemonSet, then install's"
    );
    // The server is not the agent: the agent's identity is no subject of the server's roles.
    for d in rbac_only(&to_yaml(&printed)) {
        if d["metadata"]["name"] != "veloxide-node-agent" {
            assert!(!d["subjects"].to_string().contains("node-agent"), "{d}");
        }
    }
    // The password: 32 letters and digits, a new one each time it is made.
    let password = |docs: &[Value]| {
        let s = docs
            .iter()
            .find(|d| d["metadata"]["name"] == "velero-repo-credentials")
            .expect("velero-repo-credentials");
        s["data"]["repository-password"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a, b) = (password(&printed), password(&install_printed(dir.path())));
    assert_ne!(a, b);
    use base64::Engine as _;
    let a = base64::engine::general_purpose::STANDARD.decode(a).unwrap();
    assert!(a.len() == 32 && a.iter().all(u8::is_ascii_alphanumeric));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_identity_may_do_what_the_table_says_and_no_more() {
    let cluster = Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    let crds = e2e::manifests::repo().join("crds").display().to_string();
    let setup: [&[&str]; 5] = [
        &["create", "namespace", NS],
        &["create", "namespace", "app"],
        &["create", "namespace", "other"],
        &["apply", "-f", &crds],
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "-f",
            &crds,
        ],
    ];
    for args in setup {
        let out = kubectl(&cluster, args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The chart's agent identity beside the server's (the server's grants none of this to
    // the agent; the agent's none to the server).
    let server = rbac_only(&e2e::manifests::chart_rbac(NS, &[]).unwrap());
    let agent = rbac_only(&chart_agent());
    assert_eq!(
        agent.len(),
        5,
        "ServiceAccount, Role, RoleBinding, ClusterRole, binding"
    );
    e2e::manifests::apply(&client, &to_yaml(&[server, agent].concat()))
        .await
        .unwrap();
    let c = &cluster;
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut pending: Vec<_> = TABLE.iter().collect();
        loop {
            pending.retain(|r| can_i(c, r.0, r.1, r.2) != r.3);
            if pending.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "these answers differ from the table: {pending:?}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    });
}
