//! `veloxide install` reads the cluster's CustomResourceDefinitions and grants get and list on
//! their groups in the backup ClusterRole, as the chart's `rbac.backup.crdGroupsFromCluster`
//! does at install (tests/backup_secrets_scope.rs runs a backup with the chart's): a platform's
//! custom resources are backed up with default values, and still no "*" reaches `pods/exec` or
//! `nodes/proxy`. `--dry-run` reads no cluster and grants no CRD group.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;

use crate::rbac::{can_i, kubectl, rbac_only, same_rbac};

const WIDGETS_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
metadata: {name: widgets.example.com}\n\
spec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n\
\x20 versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: \
{type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n";

/// A CRD in a group an aggregated API serves at another version (an APIService with a service,
/// which need not answer; at the CRD's own version the API server makes the APIService local): RBAC's "*" there would reach what the aggregated server serves, so neither the
/// chart nor install reads it.
const AGGREGATED: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
metadata: {name: gadgets.agg.example.org}\n\
spec:\n  group: agg.example.org\n  scope: Namespaced\n  names: {plural: gadgets, kind: Gadget}\n\
\x20 versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: \
{type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n---\n\
apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.agg.example.org}\n\
spec: {group: agg.example.org, version: v1beta1, service: {name: agg, namespace: default}, \
groupPriorityMinimum: 1000, versionPriority: 15, insecureSkipTLSVerify: true}\n";

fn install(cluster: &Cluster, extra: &[&str]) -> String {
    let credentials = cluster.dir().join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=not-a-real-key\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["install", "--provider", "aws", "--bucket", "velero-backups"])
        .arg("--secret-file")
        .arg(&credentials)
        .args([
            "--backup-location-config",
            "region=us-east-1,s3Url=https://minio.example:9000,s3ForcePathStyle=true",
        ])
        .args(extra)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env_remove("VELERO_NAMESPACE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "veloxide install {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_grants_the_groups_of_the_clusters_crds_and_no_wildcard() {
    let cluster = Cluster::start().expect("the control plane starts");
    let out = cluster
        .kubectl(&["apply", "-f", "-"], Some(WIDGETS_CRD))
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cluster
        .kubectl(&["apply", "-f", "-"], Some(AGGREGATED))
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = [
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/widgets.example.com",
    ];
    let out = kubectl(&cluster, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --dry-run prints the RBAC without reading the cluster: no CRD group.
    let printed = rbac_only(&install(&cluster, &["--dry-run", "-o", "yaml"]));
    let backup_role = printed
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "veloxide-backup")
        .expect("a backup ClusterRole");
    assert!(
        !backup_role.to_string().contains("example.com"),
        "{backup_role}"
    );

    install(&cluster, &[]);
    let c = &cluster;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tokio::task::block_in_place(|| can_i(c, "list", "widgets.example.com", "(all)")) {
        assert!(
            Instant::now() < deadline,
            "veloxide install does not grant list on the cluster's CRD group example.com"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (get, exec, proxy) = tokio::task::block_in_place(|| {
        (
            can_i(c, "get", "widgets.example.com", "default"),
            can_i(c, "get", "pods/exec", "default"),
            can_i(c, "list", "nodes/proxy", "—"),
        )
    });
    assert!(get, "get widgets.example.com");
    assert!(!exec && !proxy, "pods/exec {exec}, nodes/proxy {proxy}");

    // Rule for rule what the chart grants rendered against the same cluster (its lookup), whose
    // backup role tests/backup_secrets_scope.rs backs a Widget up with.
    let out = kubectl(
        &cluster,
        &["get", "clusterrole", "veloxide-backup", "-o", "json"],
    );
    assert!(out.status.success());
    let installed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chart = rbac_only(
        &e2e::manifests::chart_rbac_from_cluster(&cluster.kubeconfig, "velero", &[]).unwrap(),
    );
    let chart_role = chart
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "veloxide-backup")
        .expect("the chart's backup ClusterRole")
        .clone();
    assert!(
        !chart_role.to_string().contains("agg.example.org"),
        "{chart_role}"
    );
    // The same groups with rbac.secretsScope=cluster, and none with crdGroupsFromCluster=false.
    for (values, read) in [
        (&["rbac.secretsScope=cluster"][..], true),
        (&["rbac.backup.crdGroupsFromCluster=false"][..], false),
    ] {
        let rendered =
            e2e::manifests::chart_rbac_from_cluster(&cluster.kubeconfig, "velero", values).unwrap();
        let role = rbac_only(&rendered)
            .into_iter()
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "veloxide-backup")
            .unwrap();
        assert_eq!(
            role.to_string().contains("\"example.com\""),
            read,
            "{values:?}: {role}"
        );
    }
    same_rbac(
        "the backup ClusterRole against a cluster",
        &[chart_role],
        &[installed],
    );
}
