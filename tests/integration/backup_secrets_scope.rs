//! The chart's default RBAC (`rbac.secretsScope: namespace`) lets the server read Secrets only
//! in its own namespace, and only the API groups it lists; the chart runs it with
//! `--secrets-scope namespace`. A backup of a namespace then ends Completed with warnings that
//! name what it may not read (Secrets elsewhere, groups the chart leaves out) and how to grant
//! it, and archives everything else. (Before, the real API server's Forbidden answers made
//! every such backup PartiallyFailed: the chart's default install could not complete one.)

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use serde_json::{Value, json};
use server_support::{Server, World};

use crate::rbac::can_i;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_charts_default_scope_secrets_elsewhere_are_skipped_with_a_warning() {
    let world = World::start_with_rbac(&[]).await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 1).await;
    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &["--secrets-scope", "namespace"],
    );
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;

    let backup = backed_up(
        &world,
        "scoped",
        json!({"includedNamespaces": ["shop"], "excludedResources": ["widgets.example.com"]}),
        Duration::from_secs(60),
    )
    .await;
    let status = backup.status.unwrap();
    assert_eq!(status.errors, None, "{status:?}");
    assert!(status.warnings.unwrap_or(0) >= 1, "{status:?}");

    let dir = "default/backups/scoped/";
    let entries = untar(&download(&world, &format!("{dir}scoped.tar.gz")));
    assert!(entries.contains_key("resources/configmaps/namespaces/shop/settings-0.json"));
    assert!(entries.contains_key("resources/deployments.apps/namespaces/shop/web.json"));
    assert!(
        !entries.keys().any(|k| k.contains("secrets")),
        "{:?}",
        entries.keys().collect::<Vec<_>>()
    );
    let results: Value = serde_json::from_slice(&gunzip(&download(
        &world,
        &format!("{dir}scoped-results.gz"),
    )))
    .unwrap();
    let warned = results["warnings"].to_string();
    assert!(
        warned.contains("Secrets in shop are not backed up") && warned.contains("secretsScope"),
        "{results}"
    );
    // Core events are not in the chart's default list of resources backups read.
    assert!(
        warned.contains("events not backed up: the server's RBAC does not let it list them"),
        "{results}"
    );
    // And how to grant it: a CRD created after the chart was installed needs `helm upgrade`.
    for how in [
        "rbac.backup.customResourceGroups",
        "rbac.backup.crdGroupsFromCluster",
        "helm upgrade",
    ] {
        assert!(warned.contains(how), "no {how:?} in {results}");
    }
    drop(server);
}

/// A platform's custom resources (cert-manager's, an operator's) are in the nightly backup with
/// the chart's default values: the chart reads the cluster's CRDs when it is installed and
/// grants get and list on their groups (a CRD serves no subresource but status and scale), and
/// still reads no group through "*" that reaches `pods/exec` or `nodes/proxy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_default_values_a_crd_present_at_install_is_backed_up_without_a_wildcard() {
    // `helm template` (no cluster: its lookup finds nothing) renders no CRD group.
    let world = World::start_with_rbac(&[]).await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 1).await;
    let c = &world.cluster;
    assert!(!tokio::task::block_in_place(|| can_i(
        c,
        "list",
        "widgets.example.com",
        "(all)"
    )));
    // The chart rendered against the cluster, where the CRD and its Widget already exist.
    world.apply_rbac_from_cluster(&[]).await;
    // The authorizer sees new RBAC through a watch: ask until yes, at most 20 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !tokio::task::block_in_place(|| can_i(c, "list", "widgets.example.com", "(all)")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the chart does not grant list on the cluster's CRD group example.com"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (exec, proxy) = tokio::task::block_in_place(|| {
        (
            can_i(c, "get", "pods/exec", "shop"),
            can_i(c, "list", "nodes/proxy", "—"),
        )
    });
    assert!(!exec && !proxy, "pods/exec {exec}, nodes/proxy {proxy}");

    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &["--secrets-scope", "namespace"],
    );
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    let backup = backed_up(
        &world,
        "crs",
        json!({"includedNamespaces": ["shop"]}),
        Duration::from_secs(60),
    )
    .await;
    let entries = untar(&download(&world, "default/backups/crs/crs.tar.gz"));
    assert!(
        entries.contains_key("resources/widgets.example.com/namespaces/shop/gear.json"),
        "{:?} {:?}",
        backup.status,
        entries.keys().collect::<Vec<_>>()
    );
    let results: Value = serde_json::from_slice(&gunzip(&download(
        &world,
        "default/backups/crs/crs-results.gz",
    )))
    .unwrap();
    assert!(
        !results["warnings"].to_string().contains("widgets"),
        "{results}"
    );
    drop(server);
}
