//! `make bench-backup`: back up N ConfigMaps of 1 KiB from a real kube-apiserver into moto over
//! HTTPS with `veloxide server`, for N = 10,000 and 100,000 (`VX_BENCH_SIZES`, comma-separated),
//! and print duration, items/s and the server's peak RSS for each, next to a baseline doing
//! the same work with standard tools on the same machine: `kubectl get configmaps -o json`,
//! `tar czf`, `aws s3 cp`. The ratio of peak RSS between sizes shows whether memory grows
//! with the cluster (it should not: lists are paged and the archive is streamed).
//!
//! Each size gets a fresh control plane, moto and server, so each peak (VmHWM) is that run's own.

#[path = "support/objects.rs"]
mod objects;
#[path = "support/proc.rs"]
mod proc;
#[path = "../tests/integration/server_support/mod.rs"]
mod server_support;

use std::process::Command;
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use server_support::{BUCKET, Server, World};
use veloxide::api::{Backup, BackupPhase};

const NS: &str = "bench";

struct Figures {
    seconds: f64,
    peak_rss_kib: u64,
    /// veloxide only: RSS before the backup started, and the archive's size.
    idle_rss_kib: u64,
    archive_bytes: f64,
}

fn vm_hwm_kib(pid: u32) -> u64 {
    proc::status_kib(pid, "VmHWM:")
}

async fn populate(world: &World, count: usize) {
    objects::create_namespace(world, NS).await;
    objects::create_configmaps(world, NS, count).await;
}

async fn veloxide(world: &World, count: usize) -> Figures {
    let server = Server::start(&world.server_kubeconfig, "bench");
    server.wait_ready().await;
    world.create_location("default", json!({}), json!({})).await;
    world
        .wait_ready_reason("default", "Available", Duration::from_secs(60))
        .await;
    let idle_rss_kib = proc::status_kib(server.pid(), "VmRSS:");
    let backups: Api<Backup> = Api::namespaced(world.client.clone(), server_support::NS);
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "bench", "namespace": server_support::NS},
        "spec": {"includedNamespaces": [NS]},
    }))
    .unwrap();
    let started = Instant::now();
    backups
        .create(&PostParams::default(), &backup)
        .await
        .unwrap();
    loop {
        let b = backups.get("bench").await.unwrap();
        match b.phase() {
            BackupPhase::Completed => {
                let items = b.status.unwrap().progress.unwrap().items_backed_up.unwrap();
                assert_eq!(
                    items as usize,
                    count + 1,
                    "every ConfigMap and the namespace"
                );
                break;
            }
            p if p.is_terminal() => panic!("backup ended {p:?}: {:?}", b.status),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let archive_bytes = server_support::sample(
        &server.metrics().await,
        "velero_backup_tarball_size_bytes",
        &[("schedule", "")],
    )
    .unwrap_or(0.0);
    Figures {
        seconds,
        peak_rss_kib: vm_hwm_kib(server.pid()),
        idle_rss_kib,
        archive_bytes,
    }
}

/// One step under `/usr/bin/time`: (seconds, peak RSS KiB).
fn timed(command: Command) -> (f64, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "%e %M", "-o"])
        .arg(report.path())
        .arg(program)
        .args(args);
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let out = wrapped.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(report.path()).unwrap();
    let mut parts = text.split_whitespace();
    let seconds = parts.next().unwrap().parse().unwrap();
    let kib = parts.next().unwrap().parse().unwrap();
    (seconds, kib)
}

fn baseline(world: &World) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("configmaps.json");
    let mut get = Command::new("sh");
    get.args([
        "-c",
        &format!(
            "kubectl get configmaps -n {NS} -o json > {}",
            json.display()
        ),
    ])
    .env("KUBECONFIG", &world.cluster.kubeconfig);
    let (s1, m1) = timed(get);
    let archive = dir.path().join("baseline.tar.gz");
    let mut tar = Command::new("tar");
    tar.arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .arg("configmaps.json");
    let (s2, m2) = timed(tar);
    let mut cp = Command::new(e2e::peers::venv_bin("aws"));
    cp.args(["s3", "cp"])
        .arg(&archive)
        .arg(format!("s3://{BUCKET}/baseline/baseline.tar.gz"))
        .args(["--endpoint-url", &world.moto.url(), "--region", "us-east-1"])
        .env("AWS_CA_BUNDLE", &world.moto.ca_file)
        .env("AWS_ACCESS_KEY_ID", "veloxide")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-0123");
    let (s3, m3) = timed(cp);
    Figures {
        seconds: s1 + s2 + s3,
        peak_rss_kib: m1.max(m2).max(m3),
        idle_rss_kib: 0,
        archive_bytes: 0.0,
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("VX_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("VX_BENCH_SIZES: numbers"))
        .collect();
    let mut peaks = Vec::new();
    println!("load average {}", proc::load_average());
    println!(
        "{:>8}  {:>10} {:>10} {:>12}   {:>10} {:>10} {:>12}   {:>7}",
        "items", "vx s", "vx items/s", "vx peak RSS", "base s", "base it/s", "base peak", "speedup"
    );
    for &count in &sizes {
        let world = World::start().await;
        populate(&world, count).await;
        let vx = veloxide(&world, count).await;
        let base = baseline(&world);
        println!(
            "{:>8}  {:>10.2} {:>10.0} {:>9} MiB   {:>10.2} {:>10.0} {:>8} MiB   {:>6.2}x",
            count,
            vx.seconds,
            count as f64 / vx.seconds,
            vx.peak_rss_kib / 1024,
            base.seconds,
            count as f64 / base.seconds,
            base.peak_rss_kib / 1024,
            base.seconds / vx.seconds,
        );
        println!(
            "          veloxide: RSS before the backup {} MiB, archive {:.1} MiB",
            vx.idle_rss_kib / 1024,
            vx.archive_bytes / 1048576.0
        );
        peaks.push((count, vx.peak_rss_kib));
    }
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last())
        && first.0 != last.0
    {
        println!(
            "veloxide peak RSS at {} items / at {} items: {:.2} (target <= 1.2)",
            last.0,
            first.0,
            last.1 as f64 / first.1 as f64
        );
    }
}
