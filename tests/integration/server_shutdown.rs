//! SIGTERM ends the server within its shutdown timeout, whatever its controllers are waiting
//! on. A pod is SIGKILLed once its grace period is over; a server that ends on its own first
//! releases its lease and says what it dropped.

use crate::backup_support;
use crate::server_support;

use std::time::{Duration, Instant};

use backup_support::{backed_up, create};
use e2e::peers::{Fault, Recorder, SseCMode};
use kube::api::{Api, PostParams};
use serde_json::json;
use server_support::{NS, Server, World};
use veloxide::api::DeleteBackupRequest;

/// A deletion whose store accepts the deletes and never answers them (bounded here only by a
/// 300 s stall timeout) is in flight when the server is asked to stop. Before the shutdown
/// timeout the server waited for it, past any grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_asked_to_stop_ends_within_its_shutdown_timeout() {
    let world = World::start().await;
    let store = Recorder::in_front_of(&world.moto, SseCMode::PassThrough).await;
    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &["--store-stall-timeout", "300s", "--shutdown-timeout", "3s"],
    );
    server.wait_ready().await;
    world
        .create_available_location("default", json!({"s3Url": store.url()}), json!({}))
        .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    backed_up(
        &world,
        "nightly",
        json!({"includedNamespaces": ["shop"]}),
        Duration::from_secs(90),
    )
    .await;

    store.clear();
    store.inject("POST", &["delete"], Fault::Hang(600));
    store.inject("DELETE", &[], Fault::Hang(600));
    let request: DeleteBackupRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
        "metadata": {"name": "nightly-delete", "namespace": NS},
        "spec": {"backupName": "nightly"},
    }))
    .unwrap();
    Api::<DeleteBackupRequest>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !store
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" || (r.method == "POST" && r.target.contains("delete")))
    {
        assert!(
            Instant::now() < deadline,
            "the deletion never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let asked = Instant::now();
    let status = server.terminate_within(Duration::from_secs(30)).await;
    let status = status.expect("the server was still running 30 s after SIGTERM");
    eprintln!("exited {:?} after SIGTERM", asked.elapsed());
    assert!(status.success(), "{status:?}");
}
