//! A peer's restore named like ours neither overwrites nor deletes our `restores/<name>/`
//! files. Two clusters share a bucket and a prefix; the second syncs the first's backup and
//! restores it under the name the first already used for its own restore. Its restore fails
//! before it creates anything (the name is taken in the store), and deleting it leaves the
//! first cluster's files. Before the fix, the second restore wrote over the first's files,
//! and its deletion deleted them.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::api::DeleteParams;
use restore_support::{create_restore, restores, wait_restore};
use serde_json::json;
use server_support::{Server, World};
use veloxide::api::RestorePhase;

const WAIT: Duration = Duration::from_secs(60);

async fn site(world: &World, identity: &str) -> Server {
    let server = Server::start_with(
        &world.server_kubeconfig,
        identity,
        &["--backup-sync-period", "2s"],
    );
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({"prefix": "default"}))
        .await;
    server
}

/// Every object under the restore's folder, with its content.
fn files(world: &World, name: &str) -> Vec<(String, Vec<u8>)> {
    list_keys(world, &format!("default/restores/{name}/"))
        .into_iter()
        .map(|k| {
            let bytes = download(world, &k);
            (k, bytes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_named_restore_of_another_cluster_keeps_our_files() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let _server_a = site(&a, "site-a").await;
    create(
        &a,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    create(
        &a,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"}, "data": {"k": "v"}}),
    )
    .await;
    backed_up(&a, "nightly", json!({"includedNamespaces": ["shop"]}), WAIT).await;
    // A restores it into a namespace of its own: its files are under restores/back/.
    create_restore(
        &a,
        "back",
        json!({"backupName": "nightly", "namespaceMapping": {"shop": "shop-copy"}}),
    )
    .await;
    wait_restore(&a, "back", RestorePhase::Completed).await;
    let ours = files(&a, "back");
    assert!(
        ours.iter()
            .any(|(k, _)| k.ends_with("restore-back-logs.gz")),
        "{:?}",
        ours.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );

    // B syncs the backup and restores it under the same name.
    let _server_b = site(&b, "site-b").await;
    eventually("A's backup is synced into B", WAIT, || async {
        backups(&b).get_opt("nightly").await.unwrap().is_some()
    })
    .await;
    create_restore(&b, "back", json!({"backupName": "nightly"})).await;
    let refused = wait_restore(&b, "back", RestorePhase::Failed).await;
    let reason = refused.status.unwrap().failure_reason.unwrap_or_default();
    assert!(
        reason.contains("restores/back/ in the location is taken"),
        "{reason}"
    );
    // Nothing was restored in B.
    assert!(
        restore_support::get(&b, "v1", "configmaps", "shop", "settings")
            .await
            .is_none(),
        "the refused restore created objects"
    );
    assert_eq!(
        files(&a, "back"),
        ours,
        "the other cluster's restore overwrote our files"
    );

    // Deleting B's Restore leaves A's files.
    restores(&b)
        .delete("back", &DeleteParams::default())
        .await
        .unwrap();
    eventually("B's Restore is gone", WAIT, || async {
        restores(&b).get_opt("back").await.unwrap().is_none()
    })
    .await;
    assert_eq!(
        files(&a, "back"),
        ours,
        "deleting the other cluster's restore deleted our files"
    );

    // A's own deletion still deletes them: they are its own.
    restores(&a)
        .delete("back", &DeleteParams::default())
        .await
        .unwrap();
    eventually("A's restore files are gone", WAIT, || async {
        list_keys(&a, "default/restores/back/").is_empty()
    })
    .await;
}
