//! One writer at a time. Replica A runs a backup holding a long lease (60s: it renews only
//! every ~40s, so it does not notice for a while that it lost it); the lease is forced to
//! expire and replica B takes it, and B's start-up sweep marks the backup Failed and removes
//! its files. A then finishes its run: its status writes carry the resourceVersion it last
//! wrote, so the API server refuses them, A leaves B's Failed alone and removes the files it
//! wrote. Without the fence A's merge patch turned the Failed back into Completed.

use crate::backup_support;
use crate::server_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use backup_support::proxy::Proxy;
use backup_support::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use server_support::{NS, Server, World};
use veloxide::api::BackupPhase;

/// Client-to-store bytes per second: the ~1 MiB archive takes several seconds to upload.
const RATE: u64 = 150_000;

async fn holder(world: &World) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), NS);
    leases
        .get_opt("veloxide-controller")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_the_lease_cannot_overwrite_the_new_leaders_failed() {
    let world = World::start().await;
    let proxy = Proxy::start(world.moto.port, None, RATE).await;
    create_big_configmaps(&world, "big", 3, 300 * 1024).await;
    let a = Server::start_logged(
        &world.server_kubeconfig,
        "replica-a",
        "info,veloxide=debug",
        Stdio::inherit(),
        &["--lease-duration", "60s"],
    );
    a.wait_ready().await;
    eventually("replica-a leads", Duration::from_secs(20), || async {
        holder(&world).await.as_deref() == Some("replica-a")
    })
    .await;
    world
        .create_available_location("slow", json!({"s3Url": proxy.url()}), json!({}))
        .await;
    create_backup(
        &world,
        "raced",
        json!({"includedNamespaces": ["big"], "storageLocation": "slow"}),
    )
    .await;
    eventually("A claims the backup", Duration::from_secs(20), || async {
        backups(&world).get("raced").await.unwrap().phase() == BackupPhase::InProgress
    })
    .await;

    // Force the handover: the lease looks expired to anyone who reads it now; A, asleep until
    // its next renewal, does not know.
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), NS);
    let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    leases
        .patch(
            "veloxide-controller",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"renewTime": MicroTime(long_ago)}})),
        )
        .await
        .unwrap();
    let b = Server::start(&world.server_kubeconfig, "replica-b");
    b.wait_ready().await;
    eventually("B leads", Duration::from_secs(20), || async {
        holder(&world).await.as_deref() == Some("replica-b")
    })
    .await;
    // B's sweep fails the backup A is still running.
    let swept = wait_phase(
        &world,
        "raced",
        BackupPhase::Failed,
        Duration::from_secs(30),
    )
    .await;
    let reason = swept.status.unwrap().failure_reason.unwrap_or_default();
    assert!(reason.contains("during the server starting"), "{reason}");

    // A keeps running until its upload is done (seconds), well before its next renewal. The
    // Failed must stand, and nothing of A's run may stay in the store.
    let watch_until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < watch_until {
        let phase = backups(&world).get("raced").await.unwrap().phase();
        assert_eq!(
            phase,
            BackupPhase::Failed,
            "the replica that lost the lease overwrote the new leader's status"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A removes what it wrote after the sweep once its own (rate-limited) upload ends and its
    // fenced write fails: under a loaded suite that took longer than 20 s.
    eventually(
        "no file of the raced backup in the store",
        Duration::from_secs(90),
        || async { list_keys(&world, "slow/backups/raced/").is_empty() },
    )
    .await;
    drop(a);
    drop(b);
}
