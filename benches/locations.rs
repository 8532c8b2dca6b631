//! `make bench-locations`: many BackupStorageLocations on one store (moto over HTTPS behind a
//! private CA), checked by one `veloxide server` (release build) against a real kube-apiserver.
//! Prints the time until every location is Available, the server's peak RSS, and how many S3
//! client sets and connections (TLS handshakes) it made, next to the same run with a single
//! location (the baseline), with the ratios.
//!
//! Settings: BENCH_LOCATIONS (default 1000).

#[path = "../tests/integration/server_support/mod.rs"]
mod server_support;

use std::time::{Duration, Instant};

use futures::{StreamExt as _, stream};
use server_support::{Server, World, sample};

struct Run {
    locations: usize,
    all_available: Duration,
    peak_rss_mib: f64,
    clients_built: f64,
    connections: f64,
    checks: f64,
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn run(count: usize) -> Run {
    let world = World::start().await;
    let server = Server::start(&world.server_kubeconfig, "bench");
    server.wait_ready().await;
    let started = Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(16, |i| {
            let world = &world;
            async move {
                world
                    .create_location(
                        &format!("loc-{i:05}"),
                        serde_json::json!({}),
                        serde_json::json!({}),
                    )
                    .await
            }
        })
        .await;
    let created = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let list = world.locations().list(&Default::default()).await.unwrap();
        let available = list
            .items
            .iter()
            .filter(|l| {
                l.status.as_ref().and_then(|s| s.phase)
                    == Some(veloxide::api::LocationPhase::Available)
            })
            .count();
        if available == count {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {available} of {count} Available after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_available = started.elapsed();
    let metrics = server.metrics().await;
    let total = |name: &str| sample(&metrics, name, &[]).unwrap_or(0.0);
    let checks: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("veloxide_location_validations_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    eprintln!("  {count} locations created in {created:.1?}");
    Run {
        locations: count,
        all_available,
        peak_rss_mib: peak_rss_mib(server.pid()),
        clients_built: total("veloxide_storage_clients_built_total"),
        connections: total("veloxide_storage_connections_opened_total"),
        checks,
    }
}

fn main() {
    let count: usize = std::env::var("BENCH_LOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("bench-locations: one store (moto over HTTPS, private CA), one veloxide server (release)");
        let baseline = run(1).await;
        let many = run(count).await;
        for r in [&baseline, &many] {
            println!(
                "  {:>5} locations: all Available after {:>7.2} s | server peak RSS {:>6.1} MiB | S3 client sets built {:>4} | connections (TLS handshakes) by the SDK clients {:>5} | checks {:>5}",
                r.locations, r.all_available.as_secs_f64(), r.peak_rss_mib, r.clients_built, r.connections, r.checks
            );
        }
        println!(
            "ratio {}/1: time {:.1}x, peak RSS {:.2}x, client sets {:.0}x, connections {:.1}x (targets: all Available within 60 s, peak RSS <= 64 MiB)",
            many.locations,
            many.all_available.as_secs_f64() / baseline.all_available.as_secs_f64(),
            many.peak_rss_mib / baseline.peak_rss_mib,
            many.clients_built / baseline.clients_built.max(1.0),
            many.connections / baseline.connections.max(1.0),
        );
    });
}
