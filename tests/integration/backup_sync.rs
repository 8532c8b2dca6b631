//! Disaster recovery against two clusters sharing one bucket (two API servers, two
//! `veloxide server`s, one moto): a backup made in A appears in an empty B by itself and
//! restores there byte for byte; `veloxide backup delete` in A deletes its files and object,
//! and B's copy goes as an orphan; nothing of another cluster's is ever deleted.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::ResourceExt as _;
use restore_support::{
    base64_of, bytes_of, cli, create_restore, get, stderr, stdout, wait_restore,
};
use serde_json::json;
use server_support::{Server, World, sample};
use veloxide::api::{BackupPhase, RestorePhase};

const WAIT: Duration = Duration::from_secs(60);
/// The sync period both servers run with: short, so the test waits seconds, not minutes.
const SYNC: &str = "2s";
/// Within how long a change in the bucket must show in the other cluster (a few periods).
const SYNC_WAIT: Duration = Duration::from_secs(20);

/// Every byte value, twice: no text encoding survives this unchanged by accident.
fn awkward_bytes() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

/// A `veloxide server` for `world` with the short sync period, and its location (named
/// `location`, writing under prefix `default`) Available.
async fn site(world: &World, identity: &str, location: &str) -> Server {
    let server = Server::start_with(
        &world.server_kubeconfig,
        identity,
        &["--backup-sync-period", SYNC],
    );
    server.wait_ready().await;
    world
        .create_available_location(location, json!({}), json!({"prefix": "default"}))
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_in_a_is_found_restored_and_deleted_from_b() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let server_a = site(&a, "site-a", "default").await;

    create(
        &a,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    create(
        &a,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"},
        "data": {"mode": "ünïcode ✓"}, "binaryData": {"blob": base64_of(&awkward_bytes())}}),
    )
    .await;
    create(
        &a,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "key", "namespace": "shop"}, "type": "Opaque",
        "data": {"raw": base64_of(&awkward_bytes())}}),
    )
    .await;
    let spec = json!({"includedNamespaces": ["shop"], "ttl": "48h0m0s"});
    let made = backed_up(&a, "nightly", spec.clone(), WAIT).await;
    let files = list_keys(&a, "default/backups/nightly/");
    assert_eq!(files.len(), 8, "{files:?}");

    // B: an empty cluster whose location (another name) points at the same prefix.
    let server_b = site(&b, "site-b", "recovered").await;
    eventually("A's backup appears in B", SYNC_WAIT, || async {
        backups(&b)
            .get_opt("nightly")
            .await
            .unwrap()
            .is_some_and(|x| x.phase() == BackupPhase::Completed)
    })
    .await;
    let found = backups(&b).get("nightly").await.unwrap();
    assert_eq!(found.labels()["velero.io/storage-location"], "recovered");
    assert_eq!(found.annotations()["veloxide.io/synced-from"], "recovered");
    assert_eq!(found.spec.storage_location.as_deref(), Some("recovered"));
    assert_eq!(
        found.spec.included_namespaces,
        made.spec.included_namespaces
    );
    assert_eq!(found.spec.ttl, made.spec.ttl);
    let (status, made_status) = (found.status.clone().unwrap(), made.status.clone().unwrap());
    assert_eq!(status.expiration, made_status.expiration);
    assert_eq!(status.progress, made_status.progress);
    let written = status.written_to.clone().unwrap();
    assert_eq!(
        (written.location.as_str(), written.prefix.as_str()),
        ("recovered", "default")
    );
    // Synced, never run: B attempted no backup and the store is exactly as A left it.
    let metrics_b = server_b.metrics().await;
    assert_eq!(
        sample(
            &metrics_b,
            "velero_backup_attempt_total",
            &[("schedule", "")]
        ),
        Some(0.0)
    );
    assert!(
        sample(
            &metrics_b,
            "veloxide_backup_sync_total",
            &[("location", "recovered"), ("result", "success")]
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics_b}"
    );
    assert_eq!(
        sample(
            &metrics_b,
            "veloxide_backup_sync_backups_found",
            &[("location", "recovered")]
        ),
        Some(1.0)
    );
    assert_eq!(list_keys(&a, "default/backups/nightly/"), files);
    let location_b = b.locations().get("recovered").await.unwrap();
    assert!(location_b.status.unwrap().last_synced_time.is_some());

    // B restores it byte for byte.
    create_restore(&b, "back", json!({"backupName": "nightly"})).await;
    wait_restore(&b, "back", RestorePhase::Completed).await;
    let cm = get(&b, "v1", "configmaps", "shop", "settings")
        .await
        .expect("ConfigMap restored");
    assert_eq!(bytes_of(&cm["binaryData"]["blob"]), awkward_bytes());
    assert_eq!(cm["data"]["mode"], "ünïcode ✓");
    let secret = get(&b, "v1", "secrets", "shop", "key")
        .await
        .expect("Secret restored");
    assert_eq!(bytes_of(&secret["data"]["raw"]), awkward_bytes());
    let restore_files = list_keys(&a, "default/restores/back/");
    assert!(!restore_files.is_empty());
    // `backup describe` works on a synced backup as on one made here.
    let described = cli(
        &b,
        &[
            "backup",
            "describe",
            "nightly",
            "--cacert",
            a.moto.ca_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(described.status.success(), "{}", stderr(&described));
    assert!(
        stdout(&described).contains("Completed"),
        "{}",
        stdout(&described)
    );

    // A asks for the deletion: files and object go in A, and B's copy goes as an orphan.
    let deleted = cli(&a, &["backup", "delete", "nightly", "--confirm"]).await;
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    eventually("A's Backup is deleted", WAIT, || async {
        backups(&a).get_opt("nightly").await.unwrap().is_none()
    })
    .await;
    assert_eq!(
        list_keys(&a, "default/backups/nightly/"),
        Vec::<String>::new()
    );
    let metrics_a = server_a.metrics().await;
    assert_eq!(
        sample(
            &metrics_a,
            "velero_backup_deletion_success_total",
            &[("schedule", "")]
        ),
        Some(1.0)
    );
    eventually("B's copy goes as an orphan", SYNC_WAIT, || async {
        backups(&b).get_opt("nightly").await.unwrap().is_none()
    })
    .await;
    // B's restore files are B's: neither A's deletion nor B's orphan removal touched them.
    assert_eq!(list_keys(&a, "default/restores/back/"), restore_files);
    drop(server_b);
}
