//! Secret material never reaches the server's log, whatever `RUST_LOG` asks for: a whole SSE-C
//! backup and restore (with a client certificate and shared-credentials Secret) run by a
//! server at `RUST_LOG=trace`, with the signer's target named explicitly at trace too (a more
//! specific directive used to override the built-in `aws_sigv4=off`). The log is searched for
//! the SSE-C key, the secret access key, the access key id and the client private key: raw,
//! base64, and as a derived `Debug` would print bytes (`[75, 51, ...]`).

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::process::Stdio;
use std::time::Duration;

use backup_support::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2e::peers::{Recorder, SseCMode};
use restore_support::*;
use serde_json::json;
use server_support::{Server, World};
use veloxide::api::RestorePhase;

/// Printable, so a raw leak is visible in text; exactly 32 bytes (the type checks).
const CUSTOMER_KEY: &[u8; 32] = b"K3y-harden-sse-c-never-in-a-log!";
const ACCESS_KEY_ID: &str = "AKIAHARDENKEYIDNEVERLOGGED";
const SECRET_KEY: &str = "hardenSecretAccessKey/never+logged0123456";

/// The forms a secret could take in a log line.
fn forms(secret: &[u8]) -> Vec<String> {
    let mut out = vec![
        String::from_utf8_lossy(secret).into_owned(),
        STANDARD.encode(secret),
    ];
    // A derived Debug of the bytes: "[75, 51, 121, ..." (the first 8 are enough to match).
    let debug = format!("{:?}", &secret[..8]);
    out.push(debug.trim_end_matches(']').to_owned());
    // Hex, as some debug output prints bodies.
    out.push(secret[..12].iter().map(|b| format!("{b:02x}")).collect());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_server_log_at_trace_over_an_sse_c_backup_and_restore() {
    let world = World::start().await;
    let store = Recorder::in_front_of(&world.moto, SseCMode::Emulate).await;
    let credentials = format!(
        "[default]\naws_access_key_id={ACCESS_KEY_ID}\naws_secret_access_key={SECRET_KEY}\n"
    );
    world
        .put_secret(
            "cloud-credentials",
            &[("cloud", credentials.as_bytes())],
            None,
        )
        .await;
    world
        .put_secret("ssec-key", &[("key", CUSTOMER_KEY)], None)
        .await;
    // A client identity too: its private key is material the server holds.
    let client = world.moto.pki.client("veloxide");
    world
        .put_secret(
            "store-client",
            &[
                ("tls.crt", &client.cert_pem()),
                ("tls.key", &client.key_pem()),
            ],
            Some("kubernetes.io/tls"),
        )
        .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "vault"}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "plain", "namespace": "vault"}, "data": {"k": "v"}}),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Server::start_logged(
        &world.server_kubeconfig,
        "server-a",
        "trace,aws_sigv4::http_request=trace,aws_sigv4=trace",
        Stdio::from(log),
        &[],
    );
    server.wait_ready().await;
    world
        .create_location(
            "ssec",
            json!({"s3Url": store.url(), "customerKeyEncryptionSecret": "ssec-key/key"}),
            json!({"clientCertRef": {"name": "store-client"}}),
        )
        .await;
    world
        .wait_ready_reason("ssec", "Available", Duration::from_secs(60))
        .await;
    backed_up(
        &world,
        "b-trace",
        json!({"includedNamespaces": ["vault"], "storageLocation": "ssec"}),
        Duration::from_secs(120),
    )
    .await;
    create_restore(
        &world,
        "r-trace",
        json!({"backupName": "b-trace", "namespaceMapping": {"vault": "vault-copy"}}),
    )
    .await;
    wait_restore(&world, "r-trace", RestorePhase::Completed).await;
    // The SSE-C header really went out with the key (so the log had a chance to show it).
    assert!(store.requests().iter().any(|r| {
        r.header("x-amz-server-side-encryption-customer-key")
            .is_some()
    }));
    server.kill();

    let text = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap()).into_owned();
    assert!(
        text.lines().count() > 1000,
        "RUST_LOG=trace should log a lot; got {} lines",
        text.lines().count()
    );
    let key_body: String = String::from_utf8(client.key_pem())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut forbidden: Vec<(&str, String)> = Vec::new();
    for (what, secret) in [
        ("SSE-C key", CUSTOMER_KEY.as_slice()),
        ("secret access key", SECRET_KEY.as_bytes()),
        ("access key id", ACCESS_KEY_ID.as_bytes()),
        ("credentials file", credentials.as_bytes()),
    ] {
        forbidden.extend(forms(secret).into_iter().map(|f| (what, f)));
    }
    forbidden.push(("client private key", key_body[..40].to_owned()));
    forbidden.push((
        "client private key",
        STANDARD.encode(client.key_pem())[..40].to_owned(),
    ));
    forbidden.extend(
        forms(&client.key_pem()[40..80])
            .into_iter()
            .map(|f| ("client private key", f)),
    );
    for (what, secret) in &forbidden {
        if let Some(at) = text.find(secret.as_str()) {
            let start = text[..at]
                .rfind('\n')
                .map_or(0, |n| n + 1)
                .max(at.saturating_sub(300));
            panic!(
                "{what} in the server log as {secret:?}: ...{}...",
                &text[start..(at + 120).min(text.len())]
            );
        }
    }
}
