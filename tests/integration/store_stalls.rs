//! A store that stalls in the middle of a transfer (the connection stays open, no byte moves)
//! ends the backup or restore Failed, with a reason naming the stall, within the documented
//! bound (`--store-stall-timeout`, docs/security.md). A TCP proxy of the tests' own in front of
//! moto (TLS passes through; moto's certificate names 127.0.0.1) stops forwarding after a
//! budget of bytes, mid-upload for the backup and mid-download for the restore.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use backup_support::proxy::Proxy;
use backup_support::*;
use restore_support::*;
use serde_json::json;
use server_support::{Server, World};
use veloxide::api::{BackupPhase, RestorePhase};

const STALL: Duration = Duration::from_secs(3);
/// Bytes each way after the stall is armed: well inside a ~1 MiB archive.
const BUDGET: u64 = 64 * 1024;

async fn server_and_location(world: &World, proxy: &Proxy) -> Server {
    let server = Server::start_logged(
        &world.server_kubeconfig,
        "server-a",
        "info,veloxide=debug",
        Stdio::inherit(),
        &["--store-stall-timeout", "3s"],
    );
    server.wait_ready().await;
    world
        .create_available_location("stally", json!({"s3Url": proxy.url()}), json!({}))
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_stalling_mid_upload_fails_the_backup_naming_the_stall() {
    let world = World::start().await;
    let proxy = Proxy::start(world.moto.port, None, 0).await;
    create_big_configmaps(&world, "big", 3, 400 * 1024).await;
    let _server = server_and_location(&world, &proxy).await;
    proxy.stall_after(BUDGET);
    let asked = Instant::now();
    create_backup(
        &world,
        "stalled",
        json!({"includedNamespaces": ["big"], "storageLocation": "stally"}),
    )
    .await;
    // The bound: the stall timeout plus the archive's size at 64 KiB/s (about 19 s here), plus
    // the time to collect the resources and write the status.
    let failed = wait_phase(
        &world,
        "stalled",
        BackupPhase::Failed,
        Duration::from_secs(60),
    )
    .await;
    let reason = failed.status.unwrap().failure_reason.unwrap_or_default();
    assert!(reason.contains("stalled"), "{reason}");
    assert!(asked.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_stalling_mid_download_fails_the_restore_naming_the_stall() {
    let world = World::start().await;
    let proxy = Proxy::start(world.moto.port, None, 0).await;
    create_big_configmaps(&world, "big", 3, 400 * 1024).await;
    let _server = server_and_location(&world, &proxy).await;
    create_backup(
        &world,
        "whole",
        json!({"includedNamespaces": ["big"], "storageLocation": "stally"}),
    )
    .await;
    wait_phase(
        &world,
        "whole",
        BackupPhase::Completed,
        Duration::from_secs(60),
    )
    .await;
    proxy.stall_after(BUDGET);
    let asked = Instant::now();
    create_restore(
        &world,
        "stalled",
        json!({"backupName": "whole", "namespaceMapping": {"big": "big-copy"}}),
    )
    .await;
    let failed = wait_restore(&world, "stalled", RestorePhase::Failed).await;
    let took = asked.elapsed();
    let reason = failed.status.unwrap().failure_reason.unwrap_or_default();
    assert!(reason.contains("stalled"), "{reason}");
    assert!(
        took < STALL * 3 + Duration::from_secs(10),
        "the restore took {took:?} to fail"
    );
}
