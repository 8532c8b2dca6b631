//! Deleting a Restore deletes its files under `restores/<name>/` (Velero's restore finalizer),
//! through the real `veloxide server` against moto over HTTPS: only that restore's files (`r1`
//! leaves `r10`'s alone), never the backup's; a restore whose backup is gone still goes away,
//! leaving its files with a Warning event; a restore deleted while it runs is stopped; a store
//! that fails is retried until it answers.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::proxy::Proxy;
use backup_support::*;
use kube::ResourceExt as _;
use kube::api::DeleteParams;
use restore_support::*;
use serde_json::json;
use server_support::{BUCKET, Server, World};
use veloxide::api::RestorePhase;

/// Velero's name, spelled out: Restores written by either server must be released by either.
const FINALIZER: &str = "restores.velero.io/external-resources-finalizer";
const WAIT: Duration = Duration::from_secs(60);

async fn delete_restore(world: &World, name: &str) {
    restores(world)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

async fn wait_gone(world: &World, name: &str) {
    eventually(&format!("restore {name} gone"), WAIT, || async {
        restores(world).get_opt(name).await.unwrap().is_none()
    })
    .await;
}

fn files(world: &World, location: &str, restore: &str) -> Vec<String> {
    list_keys(world, &format!("{location}/restores/{restore}/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_restore_deletes_its_files_and_only_those() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 2).await;
    let _server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": ["shop"], "storageLocation": "plain"}),
        WAIT,
    )
    .await;
    let backup_files = list_keys(&world, "plain/backups/b1/");
    assert!(!backup_files.is_empty());

    // Two restores whose names share a prefix.
    for (name, target) in [("r1", "shop-r1"), ("r10", "shop-r10")] {
        create_restore(
            &world,
            name,
            json!({"backupName": "b1", "namespaceMapping": {"shop": target}}),
        )
        .await;
        let done = wait_restore(&world, name, RestorePhase::Completed).await;
        assert!(
            done.finalizers().contains(&FINALIZER.to_owned()),
            "{:?}",
            done.finalizers()
        );
        assert_eq!(files(&world, "plain", name).len(), 4, "{name}");
    }
    let r10_files = files(&world, "plain", "r10");

    delete_restore(&world, "r1").await;
    wait_gone(&world, "r1").await;
    assert_eq!(files(&world, "plain", "r1"), Vec::<String>::new());
    assert_eq!(files(&world, "plain", "r10"), r10_files);
    // Listed without the slash, `r1` would have matched `r10`: only r10's files are left.
    assert_eq!(list_keys(&world, "plain/restores/r1"), r10_files);
    assert_eq!(list_keys(&world, "plain/backups/b1/"), backup_files);
    assert!(
        !world
            .events_for("r1")
            .await
            .iter()
            .any(|(reason, _)| reason == "FilesLeft")
    );

    // A restore that never ran wrote nothing: it goes away quietly.
    create_restore(&world, "r-invalid", json!({"backupName": "nope"})).await;
    wait_restore(&world, "r-invalid", RestorePhase::FailedValidation).await;
    delete_restore(&world, "r-invalid").await;
    wait_gone(&world, "r-invalid").await;
    assert!(
        !world
            .events_for("r-invalid")
            .await
            .iter()
            .any(|(reason, _)| reason == "FilesLeft")
    );

    // The backup goes first: where r10's files are is no longer known. The Restore still goes
    // away, and says it left them.
    backup_support::backups(&world)
        .delete("b1", &DeleteParams::default())
        .await
        .unwrap();
    eventually("backup b1 gone", WAIT, || async {
        backups(&world).get_opt("b1").await.unwrap().is_none()
    })
    .await;
    delete_restore(&world, "r10").await;
    wait_gone(&world, "r10").await;
    let events = world.events_for("r10").await;
    let left = events
        .iter()
        .find(|(reason, _)| reason == "FilesLeft")
        .unwrap_or_else(|| panic!("no FilesLeft event: {events:?}"));
    assert!(left.1.contains("could not be located"), "{}", left.1);
    assert!(left.1.contains("\"b1\" no longer exists"), "{}", left.1);
    assert!(left.1.contains("restores/r10/"), "{}", left.1);
    assert_eq!(files(&world, "plain", "r10"), r10_files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_restore_is_stopped_and_a_failing_store_retried() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 2).await;
    let mut proxy = Proxy::start(world.moto.port, None, 0).await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    world
        .create_available_location("slow", json!({"s3Url": proxy.url()}), json!({}))
        .await;
    backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": ["shop"], "storageLocation": "slow"}),
        WAIT,
    )
    .await;
    // The store hangs (open connections cut, new ones silent): the restore's claim of its
    // folder cannot finish, so it is still running when it is deleted.
    proxy.pause();
    proxy.restart().await;
    create_restore(
        &world,
        "r-slow",
        json!({"backupName": "b1", "namespaceMapping": {"shop": "shop-slow"}}),
    )
    .await;
    eventually("r-slow running", WAIT, || async {
        restores(&world).get("r-slow").await.unwrap().phase() == RestorePhase::InProgress
    })
    .await;
    // What the restore might have written before it stopped, put there behind its back: its
    // owner marker (written first, naming it) and a log.
    let uid = restores(&world).get("r-slow").await.unwrap().uid().unwrap();
    let marker = json!({"apiVersion": "veloxide.io/v1", "kind": "FolderOwner",
        "owner": {"kind": "Restore", "namespace": "velero", "name": "r-slow", "uid": uid}});
    let planted = [
        (
            "slow/restores/r-slow/restore-r-slow-logs.gz",
            b"partial".to_vec(),
        ),
        (
            "slow/restores/r-slow/veloxide-owner.json",
            serde_json::to_vec(&marker).unwrap(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (key, content) in &planted {
        let body = dir.path().join("body");
        std::fs::write(&body, content).unwrap();
        let out = aws(
            &world,
            &[
                "s3api",
                "put-object",
                "--bucket",
                BUCKET,
                "--key",
                key,
                "--body",
                body.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let planted: Vec<&str> = planted.iter().map(|(k, _)| *k).collect();
    delete_restore(&world, "r-slow").await;
    // Stopped within a tick; the finalizer holds it while its files cannot be deleted.
    eventually("r-slow stopped", Duration::from_secs(10), || async {
        let r = restores(&world).get("r-slow").await.unwrap();
        r.phase() == RestorePhase::Failed
            && r.status
                .and_then(|s| s.failure_reason)
                .is_some_and(|f| f.contains("deleted while it ran"))
    })
    .await;
    assert!(
        get(&world, "v1", "configmaps", "shop-slow", "settings-0")
            .await
            .is_none()
    );

    // The store refuses connections: the deletion fails, says so, and is retried.
    proxy.stop();
    eventually("a DeleteFailed event", WAIT, || async {
        world
            .events_for("r-slow")
            .await
            .iter()
            .any(|(reason, _)| reason == "DeleteFailed")
    })
    .await;
    let held = restores(&world).get("r-slow").await.unwrap();
    assert!(held.finalizers().contains(&FINALIZER.to_owned()));
    assert_eq!(list_keys(&world, "slow/restores/r-slow/"), planted);

    // The store answers again: the next attempt deletes the file and releases the Restore.
    proxy.resume();
    proxy.restart().await;
    wait_gone(&world, "r-slow").await;
    assert_eq!(
        list_keys(&world, "slow/restores/r-slow/"),
        Vec::<String>::new()
    );
    assert!(list_keys(&world, "slow/backups/b1/").len() > 1);
    assert!(
        !world
            .events_for("r-slow")
            .await
            .iter()
            .any(|(reason, _)| reason == "FilesLeft")
    );
}
