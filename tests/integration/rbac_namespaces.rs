//! `rbac.restore.namespaces`: restores write namespaced objects only in the namespaces the
//! chart names (the restore ClusterRole bound by a RoleBinding in each), and the cluster-scoped
//! kinds they need (Namespaces, PersistentVolumes, ClusterRoles, ...) through
//! `<release>-restore-cluster`. Asked of a real kube-apiserver with `kubectl auth can-i` as the
//! server's ServiceAccount; the default (every namespace) is the main table's in rbac.rs.

use std::time::{Duration, Instant};

use e2e::cluster::Cluster;

use crate::rbac::{can_i, kubectl, rbac_only, to_yaml};

/// verb, resource, namespace (`—`: cluster-scoped), answer with `rbac.restore.namespaces={app}`.
const TABLE: &[(&str, &str, &str, bool)] = &[
    ("create", "pods", "app", true),
    ("create", "pods", "other", false),
    ("create", "deployments.apps", "app", true),
    ("create", "deployments.apps", "other", false),
    ("create", "configmaps", "other", false),
    ("create", "namespaces", "—", true),
    ("create", "persistentvolumes", "—", true),
    (
        "create",
        "clusterroles.rbac.authorization.k8s.io",
        "—",
        true,
    ),
    ("create", "storageclasses.storage.k8s.io", "—", true),
    (
        "create",
        "rolebindings.rbac.authorization.k8s.io",
        "app",
        false,
    ),
    ("patch", "namespaces", "—", false),
    ("create", "pods/exec", "app", false),
    // Backups still read everywhere.
    ("list", "pods", "other", true),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_write_only_in_the_namespaces_the_chart_names() {
    let cluster = Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    for ns in ["velero", "app", "other"] {
        let out = kubectl(&cluster, &["create", "namespace", ns]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let yaml = e2e::manifests::chart_rbac("velero", &["rbac.restore.namespaces={app}"]).unwrap();
    let docs = rbac_only(&yaml);
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "ClusterRoleBinding"
                && d["metadata"]["name"] == "veloxide-restore"),
        "no cluster-wide binding of the restore role"
    );
    e2e::manifests::apply(&client, &to_yaml(&docs))
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
