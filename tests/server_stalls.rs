//! Stalled and slow clients cannot hold the webhook: 300 connections that send half a request
//! (100 of them not even finishing the TLS handshake) and one whose body trickles in a byte a
//! second. A real AdmissionReview is still answered at once beside them; the half requests are
//! closed within the header-read timeout, the trickled body within the request timeout
//! (veloxide::http_limits, numbers in docs/security.md).

mod common;

use std::time::{Duration, Instant};

use common::cases;
use common::webhook_proc::WebhookProcess;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use veloxide::webhook::VALIDATE_BSL_PATH;

const STALLED_TLS: usize = 200;
const STALLED_HANDSHAKE: usize = 100;
/// veloxide::http_limits::{HEADER_READ_TIMEOUT, REQUEST_TIMEOUT}, restated so this test
/// compiles (and fails) against a server without them.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(4);

type Tls = tokio_native_tls::TlsStream<TcpStream>;

async fn tls_connect(webhook: &WebhookProcess) -> Tls {
    let addr = webhook.base_url.trim_start_matches("https://").to_owned();
    let ca = native_tls::Certificate::from_pem(webhook.ca.cert_pem().as_bytes()).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .disable_built_in_roots(true)
        .request_alpns(&["http/1.1"])
        .build()
        .unwrap();
    let tcp = TcpStream::connect(&addr).await.unwrap();
    tokio_native_tls::TlsConnector::from(connector)
        .connect("localhost", tcp)
        .await
        .unwrap()
}

/// Wait until the peer closes (EOF or error) and return when; panics after `limit`.
async fn closed_within<S: AsyncReadExt + Unpin>(stream: &mut S, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_trickling_clients_are_cut_and_a_real_review_is_answered_at_once() {
    let webhook = WebhookProcess::start();
    let addr = webhook.base_url.trim_start_matches("https://").to_owned();
    let started = Instant::now();

    // Half a request over TLS: a request line and one header, then silence.
    let mut stalled = Vec::new();
    for _ in 0..STALLED_TLS {
        let mut s = tls_connect(&webhook).await;
        s.write_all(format!("POST {VALIDATE_BSL_PATH} HTTP/1.1\r\nHost: x\r\n").as_bytes())
            .await
            .unwrap();
        s.flush().await.unwrap();
        stalled.push(s);
    }
    // Not even a TLS handshake.
    let mut raw = Vec::new();
    for _ in 0..STALLED_HANDSHAKE {
        raw.push(TcpStream::connect(&addr).await.unwrap());
    }
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

    // A real review, beside all of them.
    let client = webhook.client();
    let review = cases::review(
        "real",
        "CREATE",
        Some(cases::object(&cases::spec_with(serde_json::json!({})))),
    );
    let asked = Instant::now();
    let response = client
        .post(format!("{}{VALIDATE_BSL_PATH}", webhook.base_url))
        .json(&review)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("a real review is answered beside the stalled connections");
    let took = asked.elapsed();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response"]["uid"], "real", "{answer}");
    assert!(took < Duration::from_secs(2), "the review took {took:?}");

    // The half requests are closed within the header-read timeout.
    let bound = HEADER_READ_TIMEOUT + SLACK;
    for s in &mut stalled {
        let left = bound
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        closed_within(s, left).await;
    }
    // The unfinished handshakes within the TLS handshake timeout (10 s, axum-server's).
    let bound = Duration::from_secs(10) + SLACK;
    for s in &mut raw {
        let left = bound
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        closed_within(s, left).await;
    }
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
