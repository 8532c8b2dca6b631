//! `make bench-scale`: the server's memory where a cluster is large in what veloxide itself
//! keeps, against the chart's memory limit (256 MiB, `charts/veloxide/values.yaml`).
//!
//! - sync: a bucket holding N backups (N = 100,000 by default, `VX_BENCH_SIZES`) written by
//!   another cluster. A fresh cluster's server syncs them all into Backup objects; the figures
//!   are the time until every one exists, the server's peak RSS (VmHWM) and its RSS once the
//!   pass is over (every controller then watches N Backups). The baseline, in the same run, is
//!   `kubectl get backups -o json` of the same N objects: the memory of one client holding
//!   them all once.
//! - restore: N ConfigMaps backed up and restored into another namespace (a namespace
//!   mapping), with the server's peak RSS; the baseline is the 16-client create ceiling of the
//!   same objects created by 16 clients in the same run (`kubectl create` has no parallel mode).
//!
//! `VX_BENCH_PARTS=sync` or `restore` runs one part. Each part gets fresh control planes and
//! moto, so each peak is that run's own.

#[path = "support/objects.rs"]
mod objects;
#[path = "support/proc.rs"]
mod proc;
use objects::{create_configmaps, create_namespace};
#[path = "../tests/integration/server_support/mod.rs"]
mod server_support;

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use server_support::{BUCKET, NS, Server, World};
use veloxide::api::{Backup, BackupPhase, Restore, RestorePhase};

/// The chart's `resources.limits.memory`.
const CHART_LIMIT_MIB: u64 = 256;

async fn wait_backup(backups: &Api<Backup>, name: &str) -> Backup {
    loop {
        let b = backups.get(name).await.unwrap();
        match b.phase() {
            BackupPhase::Completed => return b,
            p if p.is_terminal() => panic!("backup {name} ended {p:?}: {:?}", b.status),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The sync part: N stored backups into a fresh cluster.
async fn sync(count: usize) {
    // Cluster A makes one real backup; its velero-backup.json is the template for N more
    // under other names, as another cluster's nightly backups would be.
    let a = World::start().await;
    let server_a = Server::start(&a.server_kubeconfig, "maker");
    server_a.wait_ready().await;
    a.create_available_location("default", json!({}), json!({}))
        .await;
    create_namespace(&a, "seed").await;
    let backups_a: Api<Backup> = Api::namespaced(a.client.clone(), NS);
    let seed: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "seed", "namespace": NS},
        "spec": {"includedNamespaces": ["seed"]},
    }))
    .unwrap();
    backups_a
        .create(&PostParams::default(), &seed)
        .await
        .unwrap();
    wait_backup(&backups_a, "seed").await;
    server_a.terminate();
    let template: Value = serde_json::from_str(
        &a.moto
            .s3(
                reqwest::Method::GET,
                &format!("/{BUCKET}/default/backups/seed/velero-backup.json"),
                Vec::new(),
            )
            .await,
    )
    .unwrap();

    let started = Instant::now();
    let http = a.moto.http();
    let url = a.moto.url();
    futures::stream::iter(0..count)
        .map(|i| {
            let name = format!("nightly-{i:06}");
            let mut stored = template.clone();
            stored["metadata"]["name"] = json!(name);
            stored["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
            let body = serde_json::to_vec(&stored).unwrap();
            let put = http
                .put(format!(
                    "{url}/{BUCKET}/default/backups/{name}/velero-backup.json"
                ))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIATEST/20260101/us-east-1/s3/aws4_request, \
                     SignedHeaders=host, Signature=0",
                )
                .body(body);
            async move {
                let reply = put.send().await.unwrap();
                assert!(reply.status().is_success(), "{}", reply.status());
            }
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    println!(
        "sync: {count} stored backups written to moto in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let b = World::start_sharing(&a).await;
    let server = Server::start_with(
        &b.server_kubeconfig,
        "syncer",
        &["--backup-sync-period", "10s"],
    );
    server.wait_ready().await;
    let idle_kib = proc::status_kib(server.pid(), "VmRSS:");
    let backups: Api<Backup> = Api::namespaced(b.client.clone(), NS);
    let started = Instant::now();
    b.create_available_location("default", json!({}), json!({}))
        .await;
    let total = count + 1;
    let mut seen = 0;
    while seen < total {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let page = backups
            .list_metadata(&ListParams::default().limit(1))
            .await
            .unwrap();
        seen = page.metadata.remaining_item_count.unwrap_or(0) as usize + page.items.len();
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "the sync did not finish within an hour: {seen} of {total}"
        );
    }
    let sync_seconds = started.elapsed().as_secs_f64();
    // A few more passes with every Backup present: the steady state.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let peak_kib = proc::status_kib(server.pid(), "VmHWM:");
    let steady_kib = proc::status_kib(server.pid(), "VmRSS:");

    let report = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(report.path())
        .args(["sh", "-c", "kubectl get backups -A -o json > /dev/null"])
        .env("KUBECONFIG", &b.cluster.kubeconfig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(report.path()).unwrap();
    let mut parts = text.split_whitespace();
    let kubectl_seconds: f64 = parts.next().unwrap().parse().unwrap();
    let kubectl_kib: u64 = parts.next().unwrap().parse().unwrap();

    println!("sync of {total} backups (load {}):", proc::load_average());
    println!(
        "  veloxide: {sync_seconds:.0} s ({:.0} backups/s); RSS idle {} MiB, peak {} MiB, after the pass {} MiB; chart limit {CHART_LIMIT_MIB} MiB: peak/limit {:.2}",
        total as f64 / sync_seconds,
        idle_kib / 1024,
        peak_kib / 1024,
        steady_kib / 1024,
        peak_kib as f64 / 1024.0 / CHART_LIMIT_MIB as f64,
    );
    println!(
        "  baseline: kubectl get backups -o json of the same objects: {kubectl_seconds:.1} s, peak {} MiB; veloxide peak / kubectl peak {:.2}",
        kubectl_kib / 1024,
        peak_kib as f64 / kubectl_kib as f64,
    );
}

/// The restore part: N ConfigMaps backed up, restored into another namespace.
async fn restore(count: usize) {
    let world = World::start().await;
    create_namespace(&world, "big").await;
    create_configmaps(&world, "big", count).await;
    // The ceiling: the same objects created by 16 clients, into a namespace of their own.
    create_namespace(&world, "ceiling").await;
    let ceiling = create_configmaps(&world, "ceiling", count).await;
    let server = Server::start(&world.server_kubeconfig, "restorer");
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    let backups: Api<Backup> = Api::namespaced(world.client.clone(), NS);
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "big", "namespace": NS},
        "spec": {"includedNamespaces": ["big"]},
    }))
    .unwrap();
    backups
        .create(&PostParams::default(), &backup)
        .await
        .unwrap();
    wait_backup(&backups, "big").await;
    let after_backup_kib = proc::status_kib(server.pid(), "VmHWM:");

    let restores: Api<Restore> = Api::namespaced(world.client.clone(), NS);
    let restore: Restore = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "big", "namespace": NS},
        "spec": {"backupName": "big", "namespaceMapping": {"big": "copy"}},
    }))
    .unwrap();
    let started = Instant::now();
    restores
        .create(&PostParams::default(), &restore)
        .await
        .unwrap();
    let done = loop {
        let r = restores.get("big").await.unwrap();
        if r.phase().is_terminal() {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "the restore did not finish within an hour"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(done.phase(), RestorePhase::Completed, "{:?}", done.status);
    let peak_kib = proc::status_kib(server.pid(), "VmHWM:");
    println!(
        "restore of {count} ConfigMaps and their namespace (load {}):",
        proc::load_average()
    );
    println!(
        "  veloxide: {seconds:.1} s ({:.0} items/s); peak RSS through the backup {} MiB, through the restore {} MiB; chart limit {CHART_LIMIT_MIB} MiB: peak/limit {:.2}",
        count as f64 / seconds,
        after_backup_kib / 1024,
        peak_kib / 1024,
        peak_kib as f64 / 1024.0 / CHART_LIMIT_MIB as f64,
    );
    println!(
        "  baseline: 16 clients creating the same objects: {ceiling:.1} s; veloxide / ceiling {:.2}",
        seconds / ceiling
    );
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("VX_BENCH_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("VX_BENCH_SIZES: numbers"))
        .collect();
    let parts = std::env::var("VX_BENCH_PARTS").unwrap_or_else(|_| "sync,restore".into());
    println!(
        "cores {}, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        proc::load_average()
    );
    for &count in &sizes {
        if parts.contains("sync") {
            sync(count).await;
        }
        if parts.contains("restore") {
            restore(count).await;
        }
    }
}
