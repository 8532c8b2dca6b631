//! Stalled and slow clients cannot hold the webhook: 250 connections that send half a request
//! (100 of them not even finishing the TLS handshake) and one whose body trickles in a byte a
//! second. A real AdmissionReview is still answered at once beside them; the half requests are
//! closed within the header-read timeout, the trickled body within the request timeout
//! (veloxide::http_limits, numbers in docs/security.md).

use crate::common;

use std::time::{Duration, Instant};

use common::cases;
use common::webhook_proc::WebhookProcess;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use veloxide::webhook::VALIDATE_BSL_PATH;

const STALLED_TLS: usize = 150;
const STALLED_HANDSHAKE: usize = 100;
/// veloxide::http_limits::{HEADER_READ_TIMEOUT, REQUEST_TIMEOUT}, restated so this test
/// compiles (and fails) against a server without them.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(4);

type Tls = tokio_native_tls::TlsStream<TcpStream>;

async fn tls_connect(webhook: &WebhookProcess) -> Tls {
    try_tls_connect(webhook).await.unwrap()
}

async fn try_tls_connect(webhook: &WebhookProcess) -> Option<Tls> {
    let addr = webhook.base_url.trim_start_matches("https://").to_owned();
    let ca = native_tls::Certificate::from_pem(&webhook.ca.cert_pem()).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .disable_built_in_roots(true)
        .request_alpns(&["http/1.1"])
        .build()
        .unwrap();
    let tcp = TcpStream::connect(&addr).await.ok()?;
    tokio_native_tls::TlsConnector::from(connector)
        .connect("localhost", tcp)
        .await
        .ok()
}

/// The sockets process `pid` holds open (listeners and connections).
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Post a real review; it must be answered within 2 s.
async fn review_at_once(
    webhook: &WebhookProcess,
    client: &reqwest::Client,
    review: &Value,
    baseline: usize,
) {
    let beside = sockets(webhook.pid()).saturating_sub(baseline);
    let asked = Instant::now();
    let response = client
        .post(format!("{}{VALIDATE_BSL_PATH}", webhook.base_url))
        .json(review)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("a real review is answered beside the stalled connections");
    let took = asked.elapsed();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response"]["uid"], "real", "{answer}");
    assert!(
        took < Duration::from_secs(2),
        "the review took {took:?} beside {beside} open connections"
    );
    eprintln!("a real review answered in {took:?} beside {beside} open connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_trickling_clients_are_cut_and_a_real_review_is_answered_at_once() {
    let webhook = WebhookProcess::start();
    let addr = webhook.base_url.trim_start_matches("https://").to_owned();
    let baseline = sockets(webhook.pid());

    // Not even a TLS handshake.
    let mut raw = Vec::new();
    for _ in 0..STALLED_HANDSHAKE {
        raw.push(TcpStream::connect(&addr).await.unwrap());
    }
    let raw_done = Instant::now();
    // The server holds them (none is over the cap; TLS handshakes count from TCP accept).
    // Accepting them takes a moment on a loaded machine: wait up to 2 s (well inside the 5 s
    // header timeout that cuts them).
    let mut held = sockets(webhook.pid());
    while held < baseline + STALLED_HANDSHAKE / 2 && raw_done.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        held = sockets(webhook.pid());
    }
    assert!(
        // (some may still wait in the listen backlog on a loaded machine)
        held >= baseline + STALLED_HANDSHAKE / 2,
        "the server holds {held} sockets, {baseline} before"
    );
    let client = webhook.client();
    let early = cases::review(
        "real",
        "CREATE",
        Some(cases::object(&cases::spec_with(serde_json::json!({})))),
    );
    review_at_once(&webhook, &client, &early, baseline).await;
    // Half a request over TLS: a request line and one header, then silence. Opened all at once,
    // so they are all held together however slow the machine.
    let half = format!("POST {VALIDATE_BSL_PATH} HTTP/1.1\r\nHost: x\r\n");
    // A few handshakes at a time: a loaded machine must not make them slower than the
    // server's own handshake bound.
    use futures::StreamExt as _;
    let stalled: Vec<Tls> = futures::stream::iter(0..STALLED_TLS)
        .map(|_| async {
            let mut s = try_tls_connect(&webhook).await?;
            // On a slow machine the server may already have cut one idle past the bound.
            let _ = s.write_all(half.as_bytes()).await;
            let _ = s.flush().await;
            Some(s)
        })
        .buffer_unordered(8)
        .filter_map(|s| async { s })
        .collect()
        .await;
    let tls_done = Instant::now();
    // Complete headers, then a body a byte a second.
    let mut trickle = tls_connect(&webhook).await;
    trickle
        .write_all(
            format!("POST {VALIDATE_BSL_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{")
                .as_bytes(),
        )
        .await
        .unwrap();
    let trickle_started = Instant::now();
    let (trickle_tx, mut trickle_rx) = tokio::sync::oneshot::channel();
    let trickler = tokio::spawn(async move {
        let outcome = loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if trickle.write_all(b" ").await.is_err() || trickle.flush().await.is_err() {
                break "write failed";
            }
            // Read whatever came back without blocking the trickle.
            let mut buf = [0u8; 1024];
            match tokio::time::timeout(Duration::from_millis(10), trickle.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break "closed",
                Ok(Ok(_)) => break "answered",
                Err(_) => {}
            }
            if trickle_started.elapsed() > REQUEST_TIMEOUT * 3 {
                break "never cut";
            }
        };
        let _ = trickle_tx.send((outcome, trickle_started.elapsed()));
    });

    // Another, beside the half requests.
    let review = cases::review(
        "real",
        "CREATE",
        Some(cases::object(&cases::spec_with(serde_json::json!({})))),
    );
    review_at_once(&webhook, &client, &review, baseline).await;

    // The half requests are closed within the header-read timeout of their creation, the
    // unfinished handshakes within the TLS handshake timeout (10 s, axum-server's): counted on
    // the server's side, its open sockets back to what it held before.
    let pid = webhook.pid();
    let wait_sockets = |at_most: usize, deadline: Instant, what: &'static str| async move {
        loop {
            let open = sockets(pid);
            if open <= at_most {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the server still holds {open} sockets (at most {at_most} expected)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_sockets(
        baseline + STALLED_HANDSHAKE + 2,
        tls_done + HEADER_READ_TIMEOUT + SLACK,
        "half requests",
    )
    .await;
    let last = [
        raw_done + Duration::from_secs(10),
        tls_done + HEADER_READ_TIMEOUT,
        trickle_started + REQUEST_TIMEOUT,
    ]
    .into_iter()
    .max()
    .unwrap();
    // What may stay: the review client's kept-alive connection.
    wait_sockets(baseline + 2, last + SLACK, "every stalled connection").await;
    drop(stalled);
    drop(raw);
    // The trickled body within the request timeout.
    let (outcome, at) = tokio::time::timeout(REQUEST_TIMEOUT * 3, &mut trickle_rx)
        .await
        .expect("the trickler ends")
        .unwrap();
    trickler.await.unwrap();
    assert!(
        outcome != "never cut" && at < REQUEST_TIMEOUT + SLACK,
        "trickled body: {outcome} after {at:?}"
    );
}
