//! A backup's life around the run: it waits for a location that has not been validated yet
//! (Velero would fail it), runs exactly once with two replicas, and its objects leave the
//! store when a DeleteBackupRequest asks for it or it expires.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::proxy::Proxy;
use backup_support::*;
use kube::ResourceExt as _;
use kube::api::{Api, PostParams};
use serde_json::json;
use server_support::{NS, Server, World, sample};
use veloxide::api::{BackupPhase, DeleteBackupRequest};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_location_then_runs_and_is_deleted_or_expires() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 2).await;
    // The store hangs: the location's first check cannot finish while the proxy is paused.
    let proxy = Proxy::start(world.moto.port, None, 0).await;
    proxy.pause();
    world
        .create_location("default", json!({"s3Url": proxy.url()}), json!({}))
        .await;
    create_backup(&world, "early", json!({"includedNamespaces": ["shop"]})).await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    eventually(
        "the backup waits for its location",
        Duration::from_secs(20),
        || async {
            let b = backups(&world).get("early").await.unwrap();
            b.phase() == BackupPhase::New
                && condition(&b, "Ready")
                    .is_some_and(|(_, reason, _)| reason == "WaitingForLocation")
        },
    )
    .await;
    assert!(
        world
            .locations()
            .get("default")
            .await
            .unwrap()
            .status
            .is_none()
    );
    proxy.resume();
    let done = wait_phase(&world, "early", BackupPhase::Completed, WAIT).await;
    // No finalizer: deleting the object is not a request to delete data.
    assert!(done.finalizers().is_empty(), "{:?}", done.finalizers());
    let keys = list_keys(&world, "default/backups/early/");
    assert_eq!(keys.len(), 8, "{keys:?}");

    // A DeleteBackupRequest deletes its objects, then the Backup.
    let requests: Api<DeleteBackupRequest> = Api::namespaced(world.client.clone(), NS);
    requests
        .create(
            &PostParams::default(),
            &DeleteBackupRequest::for_backup(&done),
        )
        .await
        .unwrap();
    eventually("the Backup is gone", WAIT, || async {
        backups(&world).get_opt("early").await.unwrap().is_none()
    })
    .await;
    assert_eq!(
        list_keys(&world, "default/backups/early/"),
        Vec::<String>::new()
    );
    let metrics = server.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "velero_backup_deletion_success_total",
            &[("schedule", "")]
        ),
        Some(1.0)
    );

    // A short TTL: at expiry a DeleteBackupRequest deletes the Backup and its objects. (20 s:
    // with 3 s a loaded machine sometimes expired it before the files were listed below.)
    create_backup(
        &world,
        "brief",
        json!({"includedNamespaces": ["shop"], "ttl": "20s"}),
    )
    .await;
    let brief = wait_phase(&world, "brief", BackupPhase::Completed, WAIT).await;
    assert!(brief.status.as_ref().unwrap().expiration.is_some());
    assert_eq!(list_keys(&world, "default/backups/brief/").len(), 8);
    eventually(
        "the expired Backup is collected",
        Duration::from_secs(60),
        || async { backups(&world).get_opt("brief").await.unwrap().is_none() },
    )
    .await;
    assert_eq!(
        list_keys(&world, "default/backups/brief/"),
        Vec::<String>::new()
    );
    assert!(
        world
            .events_for("brief")
            .await
            .iter()
            .any(|(reason, _)| reason == "Expired")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_each_backup_exactly_once() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 3).await;
    let a = Server::start(&world.server_kubeconfig, "server-a");
    let b = Server::start(&world.server_kubeconfig, "server-b");
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    let names: Vec<String> = (0..4).map(|i| format!("b{i}")).collect();
    for name in &names {
        create_backup(&world, name, json!({"includedNamespaces": ["shop"]})).await;
    }
    for name in &names {
        wait_phase(&world, name, BackupPhase::Completed, WAIT).await;
        let started = world
            .events_for(name)
            .await
            .into_iter()
            .filter(|(reason, _)| reason == "BackupStarted")
            .count();
        assert_eq!(started, 1, "{name} started {started} times");
    }
    let attempts =
        |m: &str| sample(m, "velero_backup_attempt_total", &[("schedule", "")]).unwrap_or(0.0);
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    assert_eq!(
        attempts(&ma) + attempts(&mb),
        4.0,
        "A: {}, B: {}",
        attempts(&ma),
        attempts(&mb)
    );
    // Only the lease holder ran any.
    assert!(attempts(&ma) == 0.0 || attempts(&mb) == 0.0);
}
