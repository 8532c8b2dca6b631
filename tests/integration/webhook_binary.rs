//! The running `veloxide webhook` binary over real HTTPS: every rule, the protocol edges,
//! TLS versions, and certificate rotation with no restart.

use crate::common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::cases;
use common::webhook_proc::{WebhookProcess, serving_cert, write_pair};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use serde_json::Value;
use veloxide::webhook::VALIDATE_BSL_PATH;

#[tokio::test]
async fn every_rule_case_over_https() {
    let webhook = WebhookProcess::start();
    let client = webhook.client();
    let url = format!("{}{VALIDATE_BSL_PATH}", webhook.base_url);
    let mut failures = Vec::new();
    for (i, case) in cases::all().into_iter().enumerate() {
        let uid = format!("binary-{i}");
        let review = cases::review(&uid, "CREATE", Some(cases::object(&case.spec)));
        let response = client.post(&url).json(&review).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", case.name);
        let answer: Value = response.json().await.unwrap();
        if let Err(e) = cases::check_response(&case, &uid, &answer) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let response = client
        .post(&url)
        .body("{\"hello\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("AdmissionReview"));
    let health = client
        .get(format!("{}/healthz", webhook.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

fn host_port(base_url: &str) -> String {
    base_url.trim_start_matches("https://").to_owned()
}

/// The subject CN of the certificate a fresh connection is served.
fn served_cn(
    webhook: &WebhookProcess,
    max: Option<SslVersion>,
    min: Option<SslVersion>,
) -> Result<String, String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    // Checked by CN below; the point here is what the server presents and accepts.
    builder.set_verify(SslVerifyMode::NONE);
    builder.set_max_proto_version(max).unwrap();
    builder.set_min_proto_version(min).unwrap();
    // Let the client offer old versions so a refusal is the server's doing.
    builder.set_security_level(0);
    builder.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
    let connector = builder.build();
    let tcp = TcpStream::connect(host_port(&webhook.base_url)).unwrap();
    let stream = connector
        .connect("localhost", tcp)
        .map_err(|e| e.to_string())?;
    let cert = stream.ssl().peer_certificate().ok_or("no certificate")?;
    let cn = cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .as_slice()
        .to_vec();
    Ok(String::from_utf8(cn).unwrap())
}

#[test]
fn tls_1_2_and_1_3_are_served_and_older_versions_refused() {
    let webhook = WebhookProcess::start();
    assert_eq!(
        served_cn(&webhook, Some(SslVersion::TLS1_2), Some(SslVersion::TLS1_2)).unwrap(),
        "veloxide-webhook"
    );
    assert_eq!(
        served_cn(&webhook, Some(SslVersion::TLS1_3), Some(SslVersion::TLS1_3)).unwrap(),
        "veloxide-webhook"
    );
    let old = served_cn(&webhook, Some(SslVersion::TLS1_1), Some(SslVersion::TLS1));
    assert!(old.is_err(), "TLS 1.1 was accepted");
}

fn wait_for_cn(webhook: &WebhookProcess, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cn = served_cn(webhook, None, None).unwrap();
        if cn == expected || Instant::now() > deadline {
            return cn;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rotated_certificate_is_served_without_restart() {
    let webhook = WebhookProcess::start();
    assert_eq!(served_cn(&webhook, None, None).unwrap(), "veloxide-webhook");

    // A new serving certificate from a new CA, as after a Secret rotation.
    let new_ca = e2e::peers::Pki::new("rotated-ca").ca;
    write_pair(
        webhook.dir.path(),
        &serving_cert(&new_ca, "veloxide-webhook-rotated"),
    );
    assert_eq!(
        wait_for_cn(&webhook, "veloxide-webhook-rotated"),
        "veloxide-webhook-rotated"
    );

    // A broken pair (key for another certificate) is refused; the last good one keeps serving.
    let other = serving_cert(&new_ca, "mismatched");
    let good = serving_cert(&new_ca, "veloxide-webhook-rotated-again");
    std::fs::write(webhook.key_path(), other.key_pem()).unwrap();
    std::fs::write(webhook.cert_path(), good.cert_pem()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        served_cn(&webhook, None, None).unwrap(),
        "veloxide-webhook-rotated"
    );
    // Once the key catches up, the new certificate is served.
    std::fs::write(webhook.key_path(), good.key_pem()).unwrap();
    assert_eq!(
        wait_for_cn(&webhook, "veloxide-webhook-rotated-again"),
        "veloxide-webhook-rotated-again"
    );
}

#[test]
fn process_survives_garbage_connections() {
    use std::io::Write as _;
    let webhook = WebhookProcess::start();
    for payload in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0u8; 512],
        b"\x16\x03\x01\x00\x05hello",
    ] {
        let mut tcp = TcpStream::connect(host_port(&webhook.base_url)).unwrap();
        let _ = tcp.write_all(payload);
    }
    assert_eq!(served_cn(&webhook, None, None).unwrap(), "veloxide-webhook");
}
