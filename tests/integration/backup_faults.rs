//! Faults during a backup: the store becoming unreachable mid-upload, and the server being
//! killed mid-backup. Either way the backup ends Failed with its reason, and the store keeps
//! neither an object nor a multipart upload of it. A TCP proxy in front of moto slows the
//! upload down so the fault lands while parts are in flight.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::proxy::Proxy;
use backup_support::*;
use server_support::{BUCKET, Server, World, sample};
use veloxide::api::BackupPhase;

/// Bytes per second through the proxy: the upload takes a few seconds.
const RATE: u64 = 3_000_000;

async fn setup(world: &World, proxy: &Proxy, server: &Server) {
    back_up_big_slowly(world, proxy, server).await;
    upload_in_flight(world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_unreachable_mid_upload_fails_and_leaves_nothing() {
    let world = World::start().await;
    let mut proxy = Proxy::start(world.moto.port, None, RATE).await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    setup(&world, &proxy, &server).await;

    proxy.stop();
    let failed = wait_phase(&world, "big", BackupPhase::Failed, Duration::from_secs(120)).await;
    let status = failed.status.clone().unwrap();
    let reason = status.failure_reason.clone().unwrap();
    let (_, label, _) = condition(&failed, "Ready").unwrap();
    assert_eq!(label, "EndpointUnreachable", "{reason}");
    assert!(reason.contains("big.tar.gz"), "{reason}");
    // The abort could not reach the store either: the backup says so and retries.
    let (cleaned, why, _) = condition(&failed, "StoreCleaned").unwrap();
    assert_eq!(
        (cleaned.as_str(), why.as_str()),
        ("False", "CleanupPending")
    );
    assert_eq!(world.moto.multipart_uploads(BUCKET).await, 1);

    // The store comes back: the upload is aborted and nothing of the backup remains.
    proxy.restart().await;
    eventually("the leftovers removed", Duration::from_secs(30), || async {
        let b = backups(&world).get("big").await.unwrap();
        condition(&b, "StoreCleaned").is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert_eq!(world.moto.multipart_uploads(BUCKET).await, 0);
    assert_eq!(list_keys(&world, "slow/backups/big/"), Vec::<String>::new());
    let metrics = server.metrics().await;
    assert_eq!(
        sample(&metrics, "velero_backup_failure_total", &[("schedule", "")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "velero_backup_last_status", &[("schedule", "")]),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_backup_fails_it_with_velero_s_message() {
    let world = World::start().await;
    let proxy = Proxy::start(world.moto.port, None, RATE).await;
    let first = Server::start(&world.server_kubeconfig, "server-a");
    setup(&world, &proxy, &first).await;
    assert_eq!(
        backups(&world).get("big").await.unwrap().phase(),
        BackupPhase::InProgress
    );

    // SIGKILL: no chance to abort the upload or release the lease.
    first.kill();
    let second = Server::start(&world.server_kubeconfig, "server-b");
    let failed = wait_phase(&world, "big", BackupPhase::Failed, Duration::from_secs(60)).await;
    assert_eq!(
        failed.status.as_ref().unwrap().failure_reason.as_deref(),
        Some(
            r#"found a backup with status "InProgress" during the server starting, mark it as "Failed""#
        )
    );
    assert!(
        failed
            .status
            .as_ref()
            .unwrap()
            .completion_timestamp
            .is_some()
    );
    wait_store_cleaned(&world, "big").await;
    assert_eq!(world.moto.multipart_uploads(BUCKET).await, 0);
    assert_eq!(list_keys(&world, "slow/backups/big/"), Vec::<String>::new());
    let metrics = second.metrics().await;
    assert_eq!(
        sample(&metrics, "velero_backup_failure_total", &[("schedule", "")]),
        Some(1.0)
    );
    // It stays Failed: the new leader does not run it again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        backups(&world).get("big").await.unwrap().phase(),
        BackupPhase::Failed
    );
    assert_eq!(
        sample(
            &second.metrics().await,
            "velero_backup_attempt_total",
            &[("schedule", "")]
        ),
        Some(0.0)
    );
}
