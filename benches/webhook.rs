//! `make bench-webhook`: admission reviews per second against the running `veloxide webhook`,
//! next to the same client posting the same body to a no-op route of the same server (the
//! transport's ceiling). Loopback HTTPS, keep-alive, 64 concurrent clients, a realistic
//! location (SSE-KMS, a 4-certificate inline CA bundle). Prints medians of several rounds.
//!
//! Settings: BENCH_SECONDS (per round and route, default 5), BENCH_ROUNDS (default 3),
//! BENCH_CONCURRENCY (default 64).

#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::webhook_proc::WebhookProcess;
use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Round {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    body: Arc<Vec<u8>>,
    concurrency: u64,
    seconds: u64,
) -> Round {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let start = Instant::now();
                let ok = match client.post(&url).body(body.to_vec()).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(start.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Round {
        rps: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

fn main() {
    let seconds = env_or("BENCH_SECONDS", 5);
    let rounds = env_or("BENCH_ROUNDS", 3);
    let concurrency = env_or("BENCH_CONCURRENCY", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let webhook = WebhookProcess::start();
        let bundle: String = (0..4)
            .map(|i| e2e::peers::Pki::new(&format!("bench-root-{i}")).ca.cert_pem_text())
            .collect();
        let spec = json!({
            "provider": "aws",
            "objectStorage": {"bucket": "velero-backups", "prefix": "cluster-a",
                              "caCert": base64::engine::general_purpose::STANDARD.encode(bundle)},
            "config": {"region": "us-east-1", "s3Url": "https://minio.backup.svc:9000", "s3ForcePathStyle": "true",
                       "serverSideEncryption": "aws:kms", "kmsKeyId": "alias/velero-backups", "bucketKeyEnabled": "true",
                       "checksumAlgorithm": "CRC32"},
            "validationFrequency": "1m0s",
        });
        let review = common::cases::review("bench", "CREATE", Some(common::cases::object(&spec)));
        let body = Arc::new(serde_json::to_vec(&review).unwrap());
        let client = webhook.client();
        let validate = format!("{}/validate-velero-io-v1-backupstoragelocation", webhook.base_url);
        let noop = format!("{}/healthz", webhook.base_url);

        // Sanity: the body really is validated (allowed, with the deprecation warning).
        let answer: serde_json::Value = client.post(&validate).body(body.to_vec()).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["response"]["allowed"], true, "{answer}");
        // Warm up connections and allocator.
        run(&client, &validate, body.clone(), concurrency, 1).await;

        println!("webhook benchmark: {concurrency} clients, {seconds}s per route, {rounds} rounds, body {} bytes", body.len());
        let (mut v_rps, mut v_p50, mut v_p99, mut n_rps, mut n_p50, mut n_p99) = (vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut errors = 0;
        for round in 1..=rounds {
            let v = run(&client, &validate, body.clone(), concurrency, seconds).await;
            let n = run(&client, &noop, body.clone(), concurrency, seconds).await;
            println!(
                "  round {round}: validate {:>8.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms | no-op {:>8.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms",
                v.rps, v.p50.as_secs_f64() * 1e3, v.p99.as_secs_f64() * 1e3,
                n.rps, n.p50.as_secs_f64() * 1e3, n.p99.as_secs_f64() * 1e3
            );
            errors += v.errors + n.errors;
            v_rps.push(v.rps); v_p50.push(v.p50.as_secs_f64() * 1e3); v_p99.push(v.p99.as_secs_f64() * 1e3);
            n_rps.push(n.rps); n_p50.push(n.p50.as_secs_f64() * 1e3); n_p99.push(n.p99.as_secs_f64() * 1e3);
        }
        let (vr, nr) = (median(v_rps), median(n_rps));
        println!("median validate: {vr:.0} req/s, p50 {:.2} ms, p99 {:.2} ms", median(v_p50), median(v_p99));
        println!("median no-op:    {nr:.0} req/s, p50 {:.2} ms, p99 {:.2} ms", median(n_p50), median(n_p99));
        println!("ratio validate/no-op: {:.2} (target >= 0.80)", vr / nr);
        println!("webhook peak RSS: {:.1} MiB", peak_rss_kib(webhook.pid()) as f64 / 1024.0);
        println!("failed requests: {errors}");
    });
}
