//! Two `veloxide server` replicas against a real control plane: exactly one (the Lease holder)
//! reconciles; when it stops, the other takes over within the lease duration, whether the
//! leader released the Lease (SIGTERM) or vanished (SIGKILL).

use crate::server_support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use server_support::{LEASE, NS, Server, World, sample};

async fn holder(world: &World) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), NS);
    leases
        .get_opt("veloxide-controller")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn checks(server: &Server) -> f64 {
    sample(
        &server.metrics().await,
        "veloxide_location_validations_total",
        &[("location", "default")],
    )
    .unwrap_or(0.0)
}

/// Change the spec so whoever leads re-checks it.
async fn touch(world: &World, frequency: &str) {
    world
        .locations()
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"validationFrequency": frequency}})),
        )
        .await
        .unwrap();
}

/// Wait until `server` holds the lease and has re-checked the location; return how long it took.
async fn wait_takeover(world: &World, server: &Server, since: Instant) -> Duration {
    let before = checks(server).await;
    let deadline = Instant::now() + LEASE * 4;
    let mut touched = 0;
    loop {
        if holder(world).await.as_deref() == Some(server.identity.as_str()) {
            touched += 1;
            touch(world, &format!("{}m", 10 + touched)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            if checks(server).await > before {
                return since.elapsed();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not take over; holder {:?}",
            server.identity,
            holder(world).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_replica_reconciles_and_another_takes_over() {
    let world = World::start().await;
    let a = Server::start(&world.server_kubeconfig, "replica-a");
    a.wait_ready().await;
    // Let a win the lease before b starts, so the roles are known.
    let deadline = Instant::now() + LEASE * 3;
    while holder(&world).await.as_deref() != Some("replica-a") {
        assert!(
            Instant::now() < deadline,
            "replica-a never acquired the lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let b = Server::start(&world.server_kubeconfig, "replica-b");
    b.wait_ready().await;

    world.create_location("default", json!({}), json!({})).await;
    world
        .wait_ready_reason("default", "Available", Duration::from_secs(20))
        .await;
    for frequency in ["2m", "3m", "4m"] {
        touch(&world, frequency).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(checks(&a).await >= 2.0, "the leader checks every change");
    assert_eq!(checks(&b).await, 0.0, "the follower must not reconcile");
    // Both serve location gauges (mirrored from the objects), so either pod can be scraped.
    let follower_metrics = b.metrics().await;
    assert_eq!(
        sample(
            &follower_metrics,
            "velero_backup_location_status_gauge",
            &[("backup_location_name", "default")]
        ),
        Some(1.0)
    );

    // A graceful stop releases the lease: b takes over at once.
    let stopped = Instant::now();
    assert!(a.terminate().success());
    let took = wait_takeover(&world, &b, stopped).await;
    eprintln!("takeover after SIGTERM: {took:?}");
    assert!(took < LEASE * 2, "takeover after a release took {took:?}");

    // A crash does not release it: c waits for the lease to expire, then takes over.
    let c = Server::start(&world.server_kubeconfig, "replica-c");
    c.wait_ready().await;
    let killed = Instant::now();
    b.kill();
    let took = wait_takeover(&world, &c, killed).await;
    eprintln!("takeover after SIGKILL: {took:?}");
    assert!(took < LEASE * 3, "takeover after a crash took {took:?}");
}
