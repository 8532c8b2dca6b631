//! Nothing deletes files in a store unless they are the operation's own. A bucket shared by
//! two clusters keeps the first cluster's backup when the second makes, deletes or lets
//! expire a Backup of the same name; deleting Backup objects (all of them, as `kubectl delete
//! namespace velero` does) deletes no data, nor does the older data-deleting finalizer on an
//! upgrade. Written to fail on a veloxide whose Backups carry that finalizer.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use server_support::{BUCKET, NS, Server, World};
use veloxide::api::{Backup, BackupPhase, BackupStorageLocation};

const WAIT: Duration = Duration::from_secs(60);
/// What veloxide before the DeleteBackupRequest put on every Backup.
const LEGACY_FINALIZER: &str = "veloxide.io/backup-objects";

/// A location `name` writing under prefix `default`, syncing every `sync` (`0s`: never).
async fn location(world: &World, name: &str, sync: &str) {
    let location: BackupStorageLocation = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "provider": "aws", "backupSyncPeriod": sync,
            "credential": {"name": "cloud-credentials", "key": "cloud"},
            "objectStorage": {"bucket": BUCKET, "prefix": "default",
                              "caCertRef": {"name": "storage-ca-cert", "key": "ca-bundle.crt"}},
            "config": {"region": "us-east-1", "s3Url": world.moto.url(), "s3ForcePathStyle": "true"},
        }
    }))
    .unwrap();
    world
        .locations()
        .create(&PostParams::default(), &location)
        .await
        .unwrap();
    world
        .wait_ready_reason(name, "Available", Duration::from_secs(30))
        .await;
}

/// Wait until the backup has finished, however it finished.
async fn wait_finished(world: &World, name: &str) -> Backup {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let b = backups(world).get(name).await.unwrap();
        if b.phase().is_terminal() {
            return b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_gone(world: &World, name: &str) {
    eventually(&format!("Backup {name} is gone"), WAIT, || async {
        backups(world).get_opt(name).await.unwrap().is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_named_like_another_cluster_s_deletes_none_of_its_files() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let _server_a = Server::start(&a.server_kubeconfig, "site-a");
    location(&a, "default", "1m").await;
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
    backed_up(&a, "weekly", json!({"includedNamespaces": ["shop"]}), WAIT).await;
    let files = list_keys(&a, "default/backups/weekly/");
    assert_eq!(files.len(), 8, "{files:?}");
    let archive = download(&a, "default/backups/weekly/weekly.tar.gz");

    // B shares the bucket but does not sync, so a Backup of the same name can be made there.
    let _server_b = Server::start(&b.server_kubeconfig, "site-b");
    location(&b, "default", "0s").await;
    create_backup(
        &b,
        "weekly",
        json!({"includedNamespaces": ["shop"], "ttl": "1h"}),
    )
    .await;
    let refused = wait_finished(&b, "weekly").await;
    assert_eq!(
        list_keys(&a, "default/backups/weekly/"),
        files,
        "the refused run wrote"
    );

    // Deleting B's Backup object deletes none of A's files.
    backups(&b)
        .delete("weekly", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&b, "weekly").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        list_keys(&a, "default/backups/weekly/"),
        files,
        "deleting the second cluster's Backup deleted the first cluster's files"
    );

    // Nor does letting it expire (the collector's deletion).
    create_backup(
        &b,
        "weekly",
        json!({"includedNamespaces": ["shop"], "ttl": "2s"}),
    )
    .await;
    wait_finished(&b, "weekly").await;
    wait_gone(&b, "weekly").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        list_keys(&a, "default/backups/weekly/"),
        files,
        "the expiry of the second cluster's Backup deleted the first cluster's files"
    );
    assert_eq!(
        download(&a, "default/backups/weekly/weekly.tar.gz"),
        archive
    );
    // A name taken in the store is Velero's validation failure, and says what to do.
    assert_eq!(refused.phase(), BackupPhase::FailedValidation);
    let errors = refused.status.unwrap().validation_errors.unwrap();
    assert!(
        errors[0].starts_with("backup already exists in object storage"),
        "{errors:?}"
    );
}

/// The location's files, less the location check's probe (an object each check writes and
/// deletes at once, every 2 s here: a listing may catch one).
fn stored(world: &World) -> Vec<String> {
    list_keys(world, "default/")
        .into_iter()
        .filter(|k| !k.starts_with("default/veloxide-probe-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_backup_objects_deletes_no_data_and_the_old_finalizer_goes_quietly() {
    let world = World::start().await;
    let server = Server::start(&world.server_kubeconfig, "server-old");
    location(&world, "default", "2s").await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"}, "data": {"k": "v"}}),
    )
    .await;
    for name in ["kept", "deleted-while-down"] {
        create_backup(&world, name, json!({"includedNamespaces": ["shop"]})).await;
        wait_phase(&world, name, BackupPhase::Completed, WAIT).await;
    }
    let everything = stored(&world);
    assert_eq!(everything.len(), 16, "{everything:?}");

    // An upgrade: Backups made by an older veloxide carry its finalizer, and one was deleted
    // while no server ran (held by that finalizer).
    server.kill();
    for name in ["kept", "deleted-while-down"] {
        let patch = json!({"metadata": {"finalizers": [LEGACY_FINALIZER]}});
        backups(&world)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    backups(&world)
        .delete("deleted-while-down", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        backups(&world)
            .get("deleted-while-down")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let deleted_uid = backups(&world)
        .get("deleted-while-down")
        .await
        .unwrap()
        .uid();
    let server = Server::start(&world.server_kubeconfig, "server-new");
    // The finalizer goes and the object with it; the sync may bring a new one back at once
    // (below), so "gone" is: the object that was deleted no longer exists.
    eventually("the deleted Backup is gone", WAIT, || async {
        backups(&world)
            .get_opt("deleted-while-down")
            .await
            .unwrap()
            .is_none_or(|b| b.uid() != deleted_uid)
    })
    .await;
    eventually("the older finalizer is removed", WAIT, || async {
        backups(&world)
            .get("kept")
            .await
            .unwrap()
            .finalizers()
            .is_empty()
    })
    .await;
    assert_eq!(stored(&world), everything, "the upgrade deleted files");
    // The files are there, so the sync brings the deleted Backup back.
    eventually(
        "the deleted Backup comes back from the bucket",
        WAIT,
        || async {
            backups(&world)
                .get_opt("deleted-while-down")
                .await
                .unwrap()
                .is_some_and(|b| b.phase() == BackupPhase::Completed)
        },
    )
    .await;

    // `kubectl delete namespace velero` with the operator running: every object in it goes
    // (Backups, locations, Secrets, the lease), and no file in the store.
    restore_support::delete_namespace(&world, NS).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stored(&world),
        everything,
        "deleting the namespace deleted files"
    );
    // The day after: the namespace, the release's RBAC (its Role went with the namespace) and
    // a location again, and the backups are back.
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .await;
    world.reapply_rbac().await;
    world
        .put_secret("cloud-credentials", &[("cloud", b"[default]\naws_access_key_id=veloxide\naws_secret_access_key=not-a-real-secret-0123\n".as_slice())], None)
        .await;
    world
        .put_secret(
            "storage-ca-cert",
            &[("ca-bundle.crt", &world.moto.pki.ca.cert_pem())],
            None,
        )
        .await;
    location(&world, "default", "2s").await;
    for name in ["kept", "deleted-while-down"] {
        eventually(&format!("{name} is synced back"), WAIT, || async {
            backups(&world)
                .get_opt(name)
                .await
                .unwrap()
                .is_some_and(|b| b.phase() == BackupPhase::Completed)
        })
        .await;
    }
    assert_eq!(stored(&world), everything);
    let _: Api<Backup> = backups(&world);
    drop(server);
}
