//! webhook-certs/gen-dev-certs.sh makes a CA and serving certificate the webhook serves, and
//! the caBundle it prints is what a client (the API server) must trust to reach the Service.

use std::process::Command;

use base64::Engine as _;

#[tokio::test]
async fn generated_certificate_serves_the_service_name() {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/webhook-certs/gen-dev-certs.sh"
    );
    let output = Command::new("bash")
        .arg(script)
        .args(["-s", "veloxide-webhook", "-n", "backup-system", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ca_bundle = String::from_utf8(output.stdout).unwrap();
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(ca_bundle.trim())
        .expect("the script prints the caBundle as base64");
    assert_eq!(ca_pem, std::fs::read(dir.path().join("ca.crt")).unwrap());
    let key_mode = std::fs::metadata(dir.path().join("tls.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o077,
        0
    );

    let (mut child, lines) = e2e::peers::process::spawn_listening(
        Command::new(env!("CARGO_BIN_EXE_veloxide"))
            .args(["webhook", "--listen", "127.0.0.1:0"])
            .arg("--tls-cert-file")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key-file")
            .arg(dir.path().join("tls.key")),
        &["veloxide webhook listening on https://"],
    );
    let addr: std::net::SocketAddr = lines[0].parse().unwrap();

    let host = "veloxide-webhook.backup-system.svc";
    let client = reqwest::Client::builder()
        .use_native_tls()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca_pem).unwrap()])
        .resolve(host, addr)
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://{host}:{}/healthz", addr.port()))
        .send()
        .await;
    // A name outside the certificate's SANs must fail verification.
    let wrong = client
        .get(format!("https://127.0.0.1:{}/healthz", addr.port()))
        .send()
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer.unwrap().status(), 200);
    assert!(wrong.is_err(), "a name not in the SANs was accepted");
}
