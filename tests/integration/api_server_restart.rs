//! kube-apiserver restarted in the middle of a backup and of a restore (etcd and the
//! controller manager keep running, as in a control-plane upgrade). The API server is away
//! for longer than the server's lease, so the leader's lease runs out mid-run: it stops its
//! controllers (server::leader), reconnects by itself, takes the lease back and its start-up
//! sweep ends the run as docs/server.md documents: Failed with Velero's restart message,
//! nothing left InProgress, no multipart upload and no half-written file in the store.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::{Duration, Instant};

use backup_support::proxy::Proxy;
use backup_support::*;
use restore_support::{create_restore, restores};
use serde_json::json;
use server_support::{BUCKET, LEASE, Server, World};
use veloxide::api::{BackupPhase, RestorePhase};

/// Bytes per second through the proxy in front of moto: a run takes a few seconds.
const RATE: u64 = 3_000_000;

/// A control plane, a server, and Backup `big` running through a proxy to moto at RATE.
async fn slow_world() -> (World, Proxy, Server) {
    let world = World::start().await;
    let proxy = Proxy::start(world.moto.port, None, RATE).await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    back_up_big_slowly(&world, &proxy, &server).await;
    (world, proxy, server)
}

/// Restarts the API server; blocks (the restart waits for /readyz), so off the async workers.
fn restart_api_server(world: &World) -> Duration {
    let started = Instant::now();
    let away = LEASE + Duration::from_secs(2);
    tokio::task::block_in_place(|| world.cluster.restart_api_server(away))
        .expect("kube-apiserver restarts");
    started.elapsed()
}

/// Waits for a terminal phase, reading through API-server blips.
async fn terminal_backup(world: &World, name: &str) -> veloxide::api::Backup {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(b) = backups(world).get(name).await
            && b.phase().is_terminal()
        {
            return b;
        }
        assert!(Instant::now() < deadline, "{name} never ended");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_mid_backup_ends_it_failed_and_cleaned() {
    let (world, _proxy, mut server) = slow_world().await;
    upload_in_flight(&world).await;

    let down = restart_api_server(&world);
    eprintln!("kube-apiserver was away for {down:?}");

    // The leader lost its lease while the API server was away: it stopped the run (aborting
    // its upload), took the lease back, and its start-up sweep failed the orphaned backup.
    let ended = terminal_backup(&world, "big").await;
    let status = ended.status.clone().unwrap();
    assert_eq!(ended.phase(), BackupPhase::Failed, "{status:?}");
    assert_eq!(
        status.failure_reason.as_deref(),
        Some(
            r#"found a backup with status "InProgress" during the server starting, mark it as "Failed""#
        )
    );
    wait_store_cleaned(&world, "big").await;
    assert_eq!(world.moto.multipart_uploads(BUCKET).await, 0);
    assert_eq!(list_keys(&world, "slow/backups/big/"), Vec::<String>::new());

    // The same server, reconnected, runs the next backup to the end.
    backed_up(
        &world,
        "after",
        json!({"includedNamespaces": ["big"], "storageLocation": "slow"}),
        Duration::from_secs(120),
    )
    .await;
    assert!(server.is_running(), "the server survived the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_mid_restore_ends_it_and_leaves_no_run_behind() {
    let (world, _proxy, mut server) = slow_world().await;
    wait_phase(
        &world,
        "big",
        BackupPhase::Completed,
        Duration::from_secs(120),
    )
    .await;
    let backup_files = list_keys(&world, "slow/backups/big/");

    // Into another namespace, so every item is a create the API server must answer.
    create_restore(
        &world,
        "back",
        json!({"backupName": "big", "namespaceMapping": {"big": "big-copy"}}),
    )
    .await;
    eventually("the restore running", Duration::from_secs(60), || async {
        restores(&world)
            .get("back")
            .await
            .is_ok_and(|r| r.phase() == RestorePhase::InProgress)
    })
    .await;

    let down = restart_api_server(&world);
    eprintln!("kube-apiserver was away for {down:?}");

    let deadline = Instant::now() + Duration::from_secs(180);
    let ended = loop {
        if let Ok(r) = restores(&world).get("back").await
            && r.phase().is_terminal()
        {
            break r;
        }
        assert!(Instant::now() < deadline, "the restore never ended");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let status = ended.status.clone().unwrap();
    assert_eq!(ended.phase(), RestorePhase::Failed, "{status:?}");
    assert_eq!(
        status.failure_reason.as_deref(),
        Some(
            r#"found a restore with status "InProgress" during the server starting, mark it as "Failed""#
        )
    );
    // The backup it read is untouched, and no upload of the restore's own files is left open.
    assert_eq!(list_keys(&world, "slow/backups/big/"), backup_files);
    assert_eq!(world.moto.multipart_uploads(BUCKET).await, 0);
    assert!(server.is_running(), "the server survived the restart");
}
