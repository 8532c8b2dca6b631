//! `make bench-vs-velero`: veloxide and Velero (v1.18, built by `make velero-peer`) doing the
//! same backup and restore, each on a fresh control plane of its own, against one moto over
//! HTTPS, with the same BackupStorageLocation manifest; and the API server's own ceilings for
//! the same work on the same machine.
//!
//! Workload: 10 namespaces holding 1,000 Secrets and N - 1,000 ConfigMaps, each of 1 KiB
//! (`VX_BENCH_SIZES`, default `10000,100000`). For each size: a backup by each side; for
//! `VX_BENCH_RESTORE_SIZE` (default 10000) also a restore of that backup by each side into an
//! empty cluster. Each figure is the median of `VX_BENCH_RUNS` runs (default 3).
//!
//! Figures per side: wall time from the Backup (Restore) object's creation to `Completed`,
//! items/s (from the object's own `status.progress`), the peak RSS of the server process
//! (`VmHWM`) and of its process tree (sampled every 100 ms: Velero's plugins are processes of
//! their own), and the API requests the server made during the run (the API server's audit log,
//! counted for the server's user) next to `apiserver_request_total`'s increase (every client).
//! Both servers authenticate as a ServiceAccount bound to cluster-admin, as in a cluster, so
//! API priority and fairness treats them alike. Velero runs with its client rate limits raised
//! (`VX_VELERO_ARGS`, default `--client-qps=1000 --client-burst=2000`): at its defaults (100/s,
//! burst 100) a restore making 3 requests an object measures the throttle, not the work.
//!
//! Ceilings, on the backup's own control plane: a paged list (500 a page, one request at a
//! time) of every namespaced resource type in the 10 namespaces and of the namespaces, bodies
//! dropped; for restores, creating the same objects in an empty cluster with 16 parallel
//! clients (it is how each source cluster is filled, so that time is measured every run).

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

use axum::http;
use e2e::cluster::Cluster;
use e2e::peers::Moto;
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, PostParams};
use kube::{Client, discovery};
use serde_json::{Value, json};
use server_support::{BUCKET, NS, Server, World};
use velero_support::{VeleroSide, resource};

const NAMESPACES: usize = 10;
const SECRETS: usize = 1000;
const PAGE: u32 = 500;
const CREATE_CLIENTS: usize = 16;
/// Longest a backup or restore of ours may take before the benchmark gives up.
const RUN_LIMIT: Duration = Duration::from_secs(3600);

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
}

impl Figures {
    fn items_per_second(&self) -> f64 {
        self.items / self.seconds
    }
}

fn namespace(i: usize) -> String {
    format!("bench-{i}")
}

/// The workload's objects, namespaces first (a restore's order between kinds).
fn workload(count: usize) -> Vec<Value> {
    let value = "x".repeat(1024);
    let mut docs: Vec<Value> = (0..NAMESPACES)
        .map(|i| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(i)}}))
        .collect();
    for i in 0..SECRETS.min(count) {
        docs.push(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("s-{i:06}"), "namespace": namespace(i % NAMESPACES)},
            "stringData": {"value": format!("{i}-{value}")}}));
    }
    for i in 0..count.saturating_sub(SECRETS) {
        docs.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:06}"), "namespace": namespace(i % NAMESPACES)},
            "data": {"value": format!("{i}-{value}")}}));
    }
    docs
}

/// Create the workload with [`CREATE_CLIENTS`] requests in flight (namespaces first, then the
/// rest); the seconds it took: the create ceiling.
async fn populate(client: &Client, count: usize) -> f64 {
    let docs = workload(count);
    let started = Instant::now();
    let (namespaces, rest) = docs.split_at(NAMESPACES);
    for batch in [namespaces, rest] {
        futures::stream::iter(batch)
            .map(|doc| create(client, doc))
            .buffer_unordered(CREATE_CLIENTS)
            .for_each(|_| async {})
            .await;
    }
    started.elapsed().as_secs_f64()
}

async fn create(client: &Client, doc: &Value) {
    let plural = match doc["kind"].as_str() {
        Some("Namespace") => "namespaces",
        Some("Secret") => "secrets",
        _ => "configmaps",
    };
    let ns = doc["metadata"]["namespace"].as_str();
    let res = resource("v1", plural);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &res),
        None => Api::all_with(client.clone(), &res),
    };
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {plural}: {e}"));
}

/// GET `path` as text (bounded).
async fn get_text(client: &Client, path: &str) -> String {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    tokio::time::timeout(Duration::from_secs(120), client.request_text(request))
        .await
        .unwrap_or_else(|_| panic!("GET {path} within 120 s"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The list ceiling: every namespaced resource type discovery lists, in each of the
/// namespaces, and the namespaces, paged, one request at a time, bodies dropped. Seconds.
async fn list_ceiling(client: &Client) -> f64 {
    let discovery = discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let mut paths = vec!["/api/v1/namespaces".to_owned()];
    for group in discovery.groups() {
        for (res, caps) in group.recommended_resources() {
            if caps.scope != discovery::Scope::Namespaced || !caps.supports_operation("list") {
                continue;
            }
            let base = match res.group.as_str() {
                "" => format!("/api/{}", res.version),
                g => format!("/apis/{g}/{}", res.version),
            };
            for i in 0..NAMESPACES {
                paths.push(format!("{base}/namespaces/{}/{}", namespace(i), res.plural));
            }
        }
    }
    let started = Instant::now();
    for path in &paths {
        let mut token = String::new();
        loop {
            let url = format!("{path}?limit={PAGE}&continue={token}");
            let body = get_text(client, &url).await;
            match continue_token(&body) {
                Some(next) => token = next,
                None => break,
            }
        }
    }
    started.elapsed().as_secs_f64()
}

/// The `metadata.continue` of a list body, read from the list's metadata (before `items`).
fn continue_token(body: &str) -> Option<String> {
    let head = &body[..body.find("\"items\"").unwrap_or(body.len())];
    let start = head.find("\"continue\":\"")? + "\"continue\":\"".len();
    let token = &head[start..start + head[start..].find('"')?];
    (!token.is_empty()).then(|| token.to_owned())
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

/// Fill a fresh cluster with the workload as the bench's loader (a ServiceAccount, like the
/// servers); the create and list ceilings measured on it.
async fn fill(cluster: &Cluster, admin: &Client, count: usize) -> (f64, f64) {
    let (kubeconfig, _) = service_account(cluster, admin, "bench-loader").await;
    let loader = client_from(&kubeconfig).await;
    let create = populate(&loader, count).await;
    let list = list_ceiling(&loader).await;
    (create, list)
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

/// `velero server` on `side` as its ServiceAccount, with the location; its user name.
async fn start_velero(side: &mut VeleroSide) -> String {
    let (kubeconfig, user) = service_account(&side.cluster, &side.client, "velero").await;
    let args = std::env::var("VX_VELERO_ARGS")
        .unwrap_or_else(|_| "--client-qps=1000 --client-burst=2000".into());
    let args: Vec<&str> = args.split_whitespace().collect();
    side.start_server_as(&kubeconfig, &args);
    side.apply(&[location(&side.moto, "velero")]).await;
    side.wait_location_available("default", Duration::from_secs(120))
        .await;
    user
}

/// One backup by veloxide: its figures, and the create and list ceilings of its cluster.
async fn veloxide_backup(moto: Arc<Moto>, count: usize) -> (Figures, f64, f64) {
    let world = World::start_on(moto).await;
    let (create, list) = fill(&world.cluster, &world.client, count).await;
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
    (figures, create, list)
}

/// One backup by Velero (the workload goes in before the server starts: Velero reads API
/// discovery when it starts).
async fn velero_backup(moto: Arc<Moto>, count: usize) -> (Figures, f64, f64) {
    let mut side = VeleroSide::start(moto).await;
    let (create, list) = fill(&side.cluster, &side.client, count).await;
    let user = start_velero(&mut side).await;
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
    (figures, create, list)
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
async fn velero_restore(moto: Arc<Moto>) -> Figures {
    let mut side = VeleroSide::start(moto).await;
    let user = start_velero(&mut side).await;
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
    }
}

/// The table of one operation: both sides, their ratios, and each side against the ceiling.
fn report(
    what: &str,
    vx: &[Figures],
    velero: &[Figures],
    ceiling: (&str, f64),
    targets: (f64, f64),
) {
    let (v, w) = (medians(vx), medians(velero));
    println!("\n{what}, median of {} runs", vx.len());
    println!(
        "{:<10} {:>8} {:>9} {:>10} {:>14} {:>14} {:>10} {:>10}",
        "", "items", "seconds", "items/s", "server RSS", "tree RSS", "API own", "API all"
    );
    for (name, f) in [("veloxide", v), ("Velero", w)] {
        println!(
            "{:<10} {:>8.0} {:>9.2} {:>10.0} {:>10.1} MiB {:>10.1} MiB {:>10.0} {:>10.0}",
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
    println!(
        "veloxide / Velero: items/s {:.1}x (target >= {}x), server peak RSS {:.3}x and tree {:.3}x (target <= 0.1x), own API requests {:.2}x",
        v.items_per_second() / w.items_per_second(),
        targets.0,
        v.peak_kib / w.peak_kib,
        v.tree_peak_kib / w.tree_peak_kib,
        v.requests / w.requests
    );
    println!(
        "{} ceiling {:.2} s: veloxide {:.2}x it (target <= {}x), Velero {:.2}x",
        ceiling.0,
        ceiling.1,
        v.seconds / ceiling.1,
        targets.1,
        w.seconds / ceiling.1
    );
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
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        proc::load_average()
    );
    println!("Velero: {}", velero_support::velero_bin().display());
    for &count in &sizes {
        let (mut vx_b, mut ve_b, mut vx_r, mut ve_r) = (vec![], vec![], vec![], vec![]);
        let (mut creates, mut lists) = (vec![], vec![]);
        for i in 0..runs {
            let moto = Arc::new(Moto::start());
            moto.create_bucket(BUCKET).await;
            let (f, c, l) = veloxide_backup(moto.clone(), count).await;
            eprintln!(
                "[{count} #{i}] veloxide backup {:.2} s ({} items)",
                f.seconds, f.items
            );
            vx_b.push(f);
            creates.push(c);
            lists.push(l);
            let (f, c, l) = velero_backup(moto.clone(), count).await;
            eprintln!(
                "[{count} #{i}] Velero backup {:.2} s ({} items)",
                f.seconds, f.items
            );
            ve_b.push(f);
            creates.push(c);
            lists.push(l);
            if count == restore_size {
                let f = veloxide_restore(moto.clone()).await;
                eprintln!("[{count} #{i}] veloxide restore {:.2} s", f.seconds);
                vx_r.push(f);
                let f = velero_restore(moto.clone()).await;
                eprintln!("[{count} #{i}] Velero restore {:.2} s", f.seconds);
                ve_r.push(f);
            }
            eprintln!("[{count} #{i}] load average {}", proc::load_average());
        }
        report(
            &format!("backup of {count} objects"),
            &vx_b,
            &ve_b,
            ("list", median(lists)),
            (10.0, 1.25),
        );
        if !vx_r.is_empty() {
            report(
                &format!("restore of the {count}-object backup into an empty cluster"),
                &vx_r,
                &ve_r,
                (
                    &format!("create ({CREATE_CLIENTS} clients)"),
                    median(creates),
                ),
                (5.0, 2.0),
            );
        }
    }
    println!("\nload average at the end {}", proc::load_average());
}
