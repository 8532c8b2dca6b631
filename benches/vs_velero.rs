//! `make bench-vs-velero`: veloxide and Velero (v1.18, built by `make velero-peer`) doing the
//! same backup and restore, each on a fresh control plane of its own, against one moto over
//! HTTPS, with the same BackupStorageLocation manifest; and the API server's own ceilings for
//! the same work on the same machine.
//!
//! Workload: 10 namespaces holding 1,000 Secrets and N - 1,000 ConfigMaps, each of 1 KiB
//! (`VX_BENCH_SIZES`, default `10000,100000`; `300000` is the optional large run). For each
//! size: a backup by each side; for `VX_BENCH_RESTORE_SIZE` (default 10000) also a restore of
//! that backup by each side into an empty cluster. Each figure is the median of
//! `VX_BENCH_RUNS` runs (default 3). `VX_BENCH_VELERO` picks the Velero columns (default
//! `default,tuned`; `none` leaves Velero out while iterating: its restore of 10,000 objects
//! takes minutes).
//!
//! Two Velero columns. "Velero" runs at its defaults but for the client rate limits
//! (`VX_VELERO_ARGS`, default `--client-qps=1000 --client-burst=2000`: at its defaults, 100/s
//! with a burst of 100, a restore making 3 requests an object measures the throttle, not the
//! work). "Velero tuned" is run as a performance-minded user would: `--item-block-worker-count`
//! at twice the cores, `--client-qps=1000 --client-burst=2000`, `--client-page-size=500`, and
//! `GOMEMLIMIT` at 90% of its chart's 512Mi limit (`VX_VELERO_TUNED_ARGS` replaces the flags).
//!
//! Figures per side: wall time from the Backup (Restore) object's creation to `Completed`,
//! items/s (from the object's own `status.progress`), the peak RSS of the server process
//! (`VmHWM`) and of its process tree (sampled every 100 ms: Velero's plugins are processes of
//! their own), and the API requests the server made during the run (the API server's audit log,
//! counted for the server's user) next to `apiserver_request_total`'s increase (every client).
//! Both servers authenticate as a ServiceAccount bound to cluster-admin, as in a cluster, so
//! API priority and fairness treats them alike.
//!
//! Ceilings, on each backup's own control plane (`support/ceilings.rs`): a sequential paged
//! list (500 a page, one request at a time) of every namespaced resource type in the 10
//! namespaces and of the namespaces; a parallel list (every type cluster-wide, 8 in flight);
//! for restores, creating the same objects in an empty cluster with 16 parallel clients (it is
//! how each source cluster is filled, so that time is measured every run).

#[path = "support/ceilings.rs"]
mod ceilings;
#[path = "support/proc.rs"]
mod proc;
#[path = "../tests/integration/server_support/mod.rs"]
mod server_support;
#[path = "../tests/integration/velero_support/mod.rs"]
mod velero_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ceilings::{CREATE_CLIENTS, LISTS_IN_FLIGHT, NAMESPACES, get_text, namespace};
use e2e::cluster::Cluster;
use e2e::peers::Moto;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use server_support::{BUCKET, NS, Server, World};
use velero_support::{VeleroSide, resource};

/// Longest a backup or restore of ours may take before the benchmark gives up.
const RUN_LIMIT: Duration = Duration::from_secs(3600);
/// Velero's chart's memory limit (its install's `--velero-pod-mem-limit`, 512Mi): the tuned
/// column runs with `GOMEMLIMIT` at 90% of it.
const VELERO_MEMORY_LIMIT_MIB: u64 = 512;

#[derive(Clone, Copy, Default)]
struct Figures {
    seconds: f64,
    items: f64,
    /// The server process's own peak (VmHWM), KiB.
    peak_kib: f64,
    /// The peak of the server's process tree (sampled), KiB.
    tree_peak_kib: f64,
    /// Requests by the server's user while the run went on.
    requests: f64,
    /// `apiserver_request_total`'s increase over the run (every client).
    all_requests: f64,
    /// veloxide's backups: seconds per phase, from `status.phaseMillis` (zeros otherwise).
    phases: [f64; PHASES.len()],
}

/// The phases a veloxide backup's status breaks its time into.
const PHASES: [(&str, &str); 7] = [
    ("discovery", "discovery"),
    ("volumes", "volumes"),
    ("listing", "listing"),
    ("encoding+compression", "encoding"),
    ("upload", "upload"),
    ("side files", "sideFiles"),
    ("status writes", "statusWrites"),
];

impl Figures {
    fn items_per_second(&self) -> f64 {
        self.items / self.seconds
    }
}

/// The sum of `apiserver_request_total` over every label set.
async fn api_requests_total(client: &Client) -> f64 {
    get_text(client, "/metrics")
        .await
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Requests the audit log records for `user` so far.
fn requests_by(cluster: &Cluster, user: &str) -> f64 {
    let text = std::fs::read_to_string(cluster.dir().join("audit.log")).unwrap_or_default();
    let needle = format!("\"username\":\"{user}\"");
    text.lines().filter(|l| l.contains(&needle)).count() as f64
}

/// RSS of `pid` and all its descendants, KiB.
fn tree_rss_kib(pid: u32) -> f64 {
    (proc::status_kib(pid, "VmRSS:") as f64)
        + velero_support::children(pid)
            .into_iter()
            .map(tree_rss_kib)
            .sum::<f64>()
}

/// Samples the RSS of a process tree every 100 ms until dropped; `peak()` is the largest sum.
struct TreeSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl TreeSampler {
    fn start(pid: u32) -> TreeSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(tree_rss_kib(pid) as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        TreeSampler { stop, peak }
    }

    fn peak(&self) -> f64 {
        self.peak.load(Ordering::Relaxed) as f64
    }
}

impl Drop for TreeSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The location both sides get, as a user writes it for Velero (inline `caCert`); each side
/// writes under its own prefix of the one bucket. Synced every 2 s so a restore need not wait.
fn location(moto: &Moto, prefix: &str) -> Value {
    use base64::Engine as _;
    json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": NS},
        "spec": {
            "provider": "aws",
            "default": true,
            "backupSyncPeriod": "2s",
            "objectStorage": {"bucket": BUCKET, "prefix": prefix,
                "caCert": base64::engine::general_purpose::STANDARD.encode(moto.pki.ca.cert_pem())},
            "credential": {"name": "cloud-credentials", "key": "cloud"},
            "config": {"region": "us-east-1", "s3Url": moto.url(), "s3ForcePathStyle": "true"},
        }
    })
}

/// A server's identity: a ServiceAccount bound to cluster-admin (Velero's install binds its
/// ServiceAccount so; the bench's loader is one too). Returns its kubeconfig and user name.
async fn service_account(
    cluster: &Cluster,
    client: &Client,
    name: &str,
) -> (std::path::PathBuf, String) {
    let user = format!("system:serviceaccount:{NS}:{name}");
    velero_support::apply(
        client,
        &[json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("bench-{name}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}]})],
    )
    .await;
    let kubeconfig = cluster.kubeconfig_for_service_account(NS, name).unwrap();
    (kubeconfig, user)
}

/// Wait until `plural`/`name` in the `velero` namespace reaches a terminal phase; Completed
/// or panic. Returns the object.
async fn wait_completed(
    client: &Client,
    plural: &str,
    name: &str,
    log: impl Fn() -> String,
) -> Value {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &resource("velero.io/v1", plural));
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        if let Some(o) = api.get_opt(name).await.unwrap() {
            let o = serde_json::to_value(o).unwrap();
            match o["status"]["phase"].as_str().unwrap_or("") {
                "Completed" => return o,
                "Failed" | "PartiallyFailed" | "FailedValidation" => panic!(
                    "{plural}/{name}: {}\n{}",
                    o["status"],
                    velero_support::tail(&log(), 60)
                ),
                _ => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "{plural}/{name} unfinished after {RUN_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until the synced backup `name` exists in the cluster (bounded).
async fn wait_synced(client: &Client, name: &str) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &resource("velero.io/v1", "backups"));
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.get_opt(name).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "backup {name} not synced within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Create `plural`/`name` with `spec`, wait for Completed, and take the figures. `progress` is
/// the status field counting items (`itemsBackedUp` or `itemsRestored`).
#[allow(clippy::too_many_arguments)]
async fn run(
    cluster: &Cluster,
    admin: &Client,
    user: &str,
    pid: u32,
    plural: &str,
    spec: Value,
    progress: &str,
    log: impl Fn() -> String,
) -> Figures {
    let api: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), NS, &resource("velero.io/v1", plural));
    let kind = if plural == "backups" {
        "Backup"
    } else {
        "Restore"
    };
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": kind,
        "metadata": {"name": "bench", "namespace": NS}, "spec": spec,
    }))
    .unwrap();
    let all_before = api_requests_total(admin).await;
    let mine_before = requests_by(cluster, user);
    let sampler = TreeSampler::start(pid);
    let started = Instant::now();
    api.create(&PostParams::default(), &obj).await.unwrap();
    let done = wait_completed(admin, plural, "bench", log).await;
    let seconds = started.elapsed().as_secs_f64();
    let tree_peak_kib = sampler.peak();
    drop(sampler);
    Figures {
        seconds,
        items: done["status"]["progress"][progress].as_f64().unwrap_or(0.0),
        peak_kib: proc::status_kib(pid, "VmHWM:") as f64,
        tree_peak_kib,
        requests: requests_by(cluster, user) - mine_before,
        all_requests: api_requests_total(admin).await - all_before,
        phases: PHASES.map(|(_, field)| {
            done["status"]["phaseMillis"][field].as_f64().unwrap_or(0.0) / 1000.0
        }),
    }
}

fn backup_spec() -> Value {
    let namespaces: Vec<String> = (0..NAMESPACES).map(namespace).collect();
    json!({"includedNamespaces": namespaces, "storageLocation": "default", "ttl": "720h0m0s",
           "snapshotVolumes": false})
}

/// A client authenticating with `kubeconfig`.
async fn client_from(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

/// The API server's ceilings on one filled cluster, seconds.
#[derive(Clone, Copy)]
struct Ceilings {
    /// Creating the workload with 16 clients.
    create: f64,
    /// The sequential paged list.
    list: f64,
    /// The parallel list.
    parallel_list: f64,
}

/// Fill a fresh cluster with the workload as the bench's loader (a ServiceAccount, like the
/// servers); the ceilings measured on it.
async fn fill(cluster: &Cluster, admin: &Client, count: usize) -> Ceilings {
    let (kubeconfig, _) = service_account(cluster, admin, "bench-loader").await;
    let loader = client_from(&kubeconfig).await;
    let create = ceilings::populate(&loader, count).await;
    let list = ceilings::list_ceiling(&loader).await;
    let parallel_list = ceilings::parallel_list_ceiling(&loader).await;
    Ceilings {
        create,
        list,
        parallel_list,
    }
}

/// veloxide's server on `world` (the chart's RBAC, its ServiceAccount), with the location.
async fn start_veloxide(world: &World) -> (Server, String) {
    let server = Server::start(&world.server_kubeconfig, "bench");
    server.wait_ready().await;
    velero_support::apply(&world.client, &[location(&world.moto, "veloxide")]).await;
    world
        .wait_ready_reason("default", "Available", Duration::from_secs(120))
        .await;
    (server, format!("system:serviceaccount:{NS}:veloxide"))
}

/// Which Velero: as installed (its rate limits raised), or tuned.
#[derive(Clone, Copy, PartialEq)]
enum Velero {
    Default,
    Tuned,
}

impl Velero {
    /// Its flags and environment.
    fn settings(self) -> (Vec<String>, Vec<String>) {
        let env = |k: &str, d: String| std::env::var(k).unwrap_or(d);
        match self {
            Velero::Default => (
                env(
                    "VX_VELERO_ARGS",
                    "--client-qps=1000 --client-burst=2000".into(),
                )
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
                vec![],
            ),
            Velero::Tuned => {
                let workers = 2 * cores();
                let flags = env(
                    "VX_VELERO_TUNED_ARGS",
                    format!(
                        "--item-block-worker-count={workers} --client-qps=1000 \
                         --client-burst=2000 --client-page-size=500"
                    ),
                );
                let limit = VELERO_MEMORY_LIMIT_MIB * 9 / 10;
                (
                    flags.split_whitespace().map(str::to_owned).collect(),
                    vec![format!("GOMEMLIMIT={limit}MiB")],
                )
            }
        }
    }

    /// Its folder in the bucket (each column writes and restores its own backup).
    fn prefix(self) -> &'static str {
        match self {
            Velero::Default => "velero",
            Velero::Tuned => "velero-tuned",
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `velero server` on `side` as its ServiceAccount, with the location; its user name.
async fn start_velero(side: &mut VeleroSide, which: Velero) -> String {
    let (kubeconfig, user) = service_account(&side.cluster, &side.client, "velero").await;
    let (flags, env) = which.settings();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    side.start_server_with_env(&kubeconfig, &env, &flags);
    side.apply(&[location(&side.moto, which.prefix())]).await;
    side.wait_location_available("default", Duration::from_secs(120))
        .await;
    user
}

/// One backup by veloxide: its figures, and the ceilings of its cluster.
async fn veloxide_backup(moto: Arc<Moto>, count: usize) -> (Figures, Ceilings) {
    let world = World::start_on(moto).await;
    let ceilings = fill(&world.cluster, &world.client, count).await;
    let (server, user) = start_veloxide(&world).await;
    let figures = run(
        &world.cluster,
        &world.client,
        &user,
        server.pid(),
        "backups",
        backup_spec(),
        "itemsBackedUp",
        String::new,
    )
    .await;
    (figures, ceilings)
}

/// One backup by Velero (the workload goes in before the server starts: Velero reads API
/// discovery when it starts).
async fn velero_backup(moto: Arc<Moto>, count: usize, which: Velero) -> (Figures, Ceilings) {
    let mut side = VeleroSide::start(moto).await;
    let ceilings = fill(&side.cluster, &side.client, count).await;
    let user = start_velero(&mut side, which).await;
    let pid = side.server_pid().expect("velero server runs");
    let figures = run(
        &side.cluster,
        &side.client,
        &user,
        pid,
        "backups",
        backup_spec(),
        "itemsBackedUp",
        || side.server_log(),
    )
    .await;
    (figures, ceilings)
}

/// veloxide restores its backup into an empty cluster.
async fn veloxide_restore(moto: Arc<Moto>) -> Figures {
    let world = World::start_on(moto).await;
    let (server, user) = start_veloxide(&world).await;
    wait_synced(&world.client, "bench").await;
    run(
        &world.cluster,
        &world.client,
        &user,
        server.pid(),
        "restores",
        json!({"backupName": "bench"}),
        "itemsRestored",
        String::new,
    )
    .await
}

/// Velero restores its backup into an empty cluster.
async fn velero_restore(moto: Arc<Moto>, which: Velero) -> Figures {
    let mut side = VeleroSide::start(moto).await;
    let user = start_velero(&mut side, which).await;
    wait_synced(&side.client, "bench").await;
    let pid = side.server_pid().expect("velero server runs");
    run(
        &side.cluster,
        &side.client,
        &user,
        pid,
        "restores",
        json!({"backupName": "bench"}),
        "itemsRestored",
        || side.server_log(),
    )
    .await
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The median of each figure over the runs.
fn medians(runs: &[Figures]) -> Figures {
    let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
    Figures {
        seconds: m(|f| f.seconds),
        items: m(|f| f.items),
        peak_kib: m(|f| f.peak_kib),
        tree_peak_kib: m(|f| f.tree_peak_kib),
        requests: m(|f| f.requests),
        all_requests: m(|f| f.all_requests),
        phases: std::array::from_fn(|i| median(runs.iter().map(|f| f.phases[i]).collect())),
    }
}

/// What one operation's table compares: each side's runs, the ceilings (name, seconds, the
/// target for veloxide's time against it) and the targets against each Velero column.
struct Table<'a> {
    what: String,
    veloxide: &'a [Figures],
    velero: &'a [Figures],
    tuned: &'a [Figures],
    ceilings: Vec<(String, f64, f64)>,
    /// The least speed-up wanted against Velero and against Velero tuned.
    speedups: (f64, f64),
}

/// The table of one operation: every side, veloxide's ratios to each Velero column, and every
/// side against each ceiling.
fn report(table: &Table<'_>) {
    let (v, d, t) = (
        medians(table.veloxide),
        medians(table.velero),
        medians(table.tuned),
    );
    println!("\n{}, median of {} runs", table.what, table.veloxide.len());
    println!(
        "{:<13} {:>8} {:>9} {:>10} {:>14} {:>14} {:>10} {:>10}",
        "", "items", "seconds", "items/s", "server RSS", "tree RSS", "API own", "API all"
    );
    let sides = [
        ("veloxide", v, table.veloxide),
        ("Velero", d, table.velero),
        ("Velero tuned", t, table.tuned),
    ];
    for (name, f, _) in sides.iter().filter(|(_, _, runs)| !runs.is_empty()) {
        println!(
            "{:<13} {:>8.0} {:>9.2} {:>10.0} {:>10.1} MiB {:>10.1} MiB {:>10.0} {:>10.0}",
            name,
            f.items,
            f.seconds,
            f.items_per_second(),
            f.peak_kib / 1024.0,
            f.tree_peak_kib / 1024.0,
            f.requests,
            f.all_requests
        );
    }
    for ((name, w, _), target) in sides[1..]
        .iter()
        .zip([table.speedups.0, table.speedups.1])
        .filter(|((_, _, runs), _)| !runs.is_empty())
    {
        println!(
            "veloxide / {name}: items/s {:.1}x (target >= {target}x), server peak RSS {:.3}x \
             and tree {:.3}x (target <= 0.1x), own API requests {:.2}x",
            v.items_per_second() / w.items_per_second(),
            v.peak_kib / w.peak_kib,
            v.tree_peak_kib / w.tree_peak_kib,
            v.requests / w.requests
        );
    }
    if v.phases.iter().any(|&p| p > 0.0) {
        let phases: Vec<String> = PHASES
            .iter()
            .zip(v.phases)
            .map(|((name, _), seconds)| format!("{name} {seconds:.2}"))
            .collect();
        println!(
            "veloxide's time per phase (s, medians; listing, encoding and upload overlap): {}",
            phases.join(", ")
        );
    }
    for (name, seconds, target) in &table.ceilings {
        println!(
            "{name} ceiling {seconds:.2} s: veloxide {:.2}x it (target <= {target}x), \
             Velero {:.2}x, Velero tuned {:.2}x",
            v.seconds / seconds,
            d.seconds / seconds,
            t.seconds / seconds
        );
    }
}

#[tokio::main]
async fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.into());
    let sizes: Vec<usize> = env("VX_BENCH_SIZES", "10000,100000")
        .split(',')
        .map(|s| s.trim().parse().expect("VX_BENCH_SIZES: numbers"))
        .collect();
    let runs: usize = env("VX_BENCH_RUNS", "3")
        .parse()
        .expect("VX_BENCH_RUNS: a number");
    let restore_size: usize = env("VX_BENCH_RESTORE_SIZE", "10000")
        .parse()
        .expect("VX_BENCH_RESTORE_SIZE: a number");
    println!(
        "cores {}, load average at the start {} (above the core count: other work was running)",
        cores(),
        proc::load_average()
    );
    let veleros: Vec<Velero> = env("VX_BENCH_VELERO", "default,tuned")
        .split(',')
        .filter_map(|s| match s.trim() {
            "default" => Some(Velero::Default),
            "tuned" => Some(Velero::Tuned),
            "none" | "" => None,
            other => panic!("VX_BENCH_VELERO: {other:?}; use default, tuned or none"),
        })
        .collect();
    println!("Velero: {}", velero_support::velero_bin().display());
    for &which in &veleros {
        let (flags, env) = which.settings();
        println!(
            "Velero {}: {} {}",
            which.prefix(),
            env.join(" "),
            flags.join(" ")
        );
    }
    for &count in &sizes {
        let mut backups: [Vec<Figures>; 3] = Default::default();
        let mut restores: [Vec<Figures>; 3] = Default::default();
        let mut ceilings: Vec<Ceilings> = vec![];
        for i in 0..runs {
            let moto = Arc::new(Moto::start());
            moto.create_bucket(BUCKET).await;
            let (f, c) = veloxide_backup(moto.clone(), count).await;
            eprintln!(
                "[{count} #{i}] veloxide backup {:.2} s ({} items)",
                f.seconds, f.items
            );
            backups[0].push(f);
            ceilings.push(c);
            for (n, which) in [(1, Velero::Default), (2, Velero::Tuned)] {
                if !veleros.contains(&which) {
                    continue;
                }
                let (f, c) = velero_backup(moto.clone(), count, which).await;
                eprintln!(
                    "[{count} #{i}] {} backup {:.2} s ({} items)",
                    which.prefix(),
                    f.seconds,
                    f.items
                );
                backups[n].push(f);
                ceilings.push(c);
            }
            if count == restore_size {
                let f = veloxide_restore(moto.clone()).await;
                eprintln!("[{count} #{i}] veloxide restore {:.2} s", f.seconds);
                restores[0].push(f);
                for (n, which) in [(1, Velero::Default), (2, Velero::Tuned)] {
                    if !veleros.contains(&which) {
                        continue;
                    }
                    let f = velero_restore(moto.clone(), which).await;
                    eprintln!(
                        "[{count} #{i}] {} restore {:.2} s",
                        which.prefix(),
                        f.seconds
                    );
                    restores[n].push(f);
                }
            }
            eprintln!("[{count} #{i}] load average {}", proc::load_average());
        }
        let ceiling = |f: fn(&Ceilings) -> f64| median(ceilings.iter().map(f).collect());
        report(&Table {
            what: format!("backup of {count} objects"),
            veloxide: &backups[0],
            velero: &backups[1],
            tuned: &backups[2],
            ceilings: vec![
                ("sequential list".into(), ceiling(|c| c.list), 1.0),
                (
                    format!("parallel list ({LISTS_IN_FLIGHT} in flight)"),
                    ceiling(|c| c.parallel_list),
                    1.3,
                ),
            ],
            speedups: (10.0, 5.0),
        });
        if !restores[0].is_empty() {
            report(&Table {
                what: format!("restore of the {count}-object backup into an empty cluster"),
                veloxide: &restores[0],
                velero: &restores[1],
                tuned: &restores[2],
                ceilings: vec![(
                    format!("create ({CREATE_CLIENTS} clients)"),
                    ceiling(|c| c.create),
                    1.1,
                )],
                speedups: (8.0, 8.0),
            });
        }
    }
    println!("\nload average at the end {}", proc::load_average());
}
