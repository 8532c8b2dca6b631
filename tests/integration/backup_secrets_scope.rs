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
    drop(server);
}
