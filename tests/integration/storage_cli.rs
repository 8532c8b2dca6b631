//! `veloxide backup-location verify -f FILE` against moto over HTTPS, as a user runs it: the
//! location and its Secrets in one YAML file, no cluster. Also the leak test: no secret
//! material (secret access key, SSE-C key, client private key) in anything the command
//! prints, even with every log level on.

use crate::peers;
use crate::storage_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use peers::{Haproxy, Recorder, SseCMode, TempDir};
use storage_support::*;

struct Run {
    code: i32,
    out: String,
}

/// Run the CLI with every log level on, so the leak test sees every log line too.
async fn verify(yaml: &str, extra: &[&str]) -> Run {
    let dir = TempDir::new("verify");
    let file = dir.path().join("location.yaml");
    std::fs::write(&file, yaml).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["backup-location", "verify", "-f"])
        .arg(&file)
        .args(extra)
        // Every log level on, the SDK's crates named explicitly too. The SigV4 signer's trace
        // output holds the SSE-C key header: the product's log set-up must drop it whatever
        // RUST_LOG says.
        .env(
            "RUST_LOG",
            "trace,aws_sigv4::http_request=trace,aws_smithy_runtime=trace,aws_config=trace",
        )
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .await
        .expect("run veloxide");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Run {
        code: output.status.code().unwrap_or(-1),
        out,
    }
}

fn secret_yaml(name: &str, data: &[(&str, &[u8])]) -> String {
    let mut s = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: velero\ndata:\n"
    );
    for (k, v) in data {
        s.push_str(&format!("  {k}: {}\n", STANDARD.encode(v)));
    }
    s
}

fn location_yaml(url: &str, bucket: &str, config: &[(&str, &str)], client_cert: bool) -> String {
    let mut s = format!(
        "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata:\n  name: default\n  namespace: velero\nspec:\n  provider: aws\n  credential:\n    name: cloud-credentials\n    key: cloud\n  objectStorage:\n    bucket: {bucket}\n    prefix: velero\n    caCertRef:\n      name: storage-ca\n      key: ca.crt\n"
    );
    if client_cert {
        s.push_str("    clientCertRef:\n      name: store-client\n");
    }
    s.push_str(&format!(
        "  config:\n    region: us-east-1\n    s3Url: {url}\n    s3ForcePathStyle: \"true\"\n"
    ));
    for (k, v) in config {
        s.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    s
}

fn all_secrets(ca: &[u8]) -> String {
    let mut s = secret_yaml(
        "cloud-credentials",
        &[("cloud", credentials_file().as_bytes())],
    );
    s.push_str(&secret_yaml("storage-ca", &[("ca.crt", ca)]));
    s.push_str(&secret_yaml("sse-c", &[("key", CUSTOMER_KEY)]));
    s
}

#[tokio::test]
async fn verify_passes_in_each_mode_and_never_prints_secret_material() {
    let moto = moto();
    let bucket = bucket("cli");
    moto.create_bucket(&bucket).await;
    moto.create_kms_key("alias/cli").await;
    let ca = moto.pki.ca.cert_pem();
    let server = moto.pki.server(&["localhost"], &["127.0.0.1"]);
    let sse_c_store = Recorder::in_front_of(moto, SseCMode::Emulate).await;
    // mTLS in front of moto, so a client private key is part of the material too.
    let clients = peers::Pki::new("client CA");
    let client = clients.client("veloxide");
    let mtls = Haproxy::in_front_of(moto, &server, Some(&clients.ca));
    let mut outputs = Vec::new();
    // (endpoint, config entries, whether the client certificate is presented)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, bool);
    let cases: Vec<Case> = vec![
        (moto.url(), vec![], false),
        (moto.url(), vec![("serverSideEncryption", "AES256")], false),
        (
            moto.url(),
            vec![
                ("serverSideEncryption", "aws:kms"),
                ("kmsKeyId", "alias/cli"),
                ("bucketKeyEnabled", "true"),
            ],
            false,
        ),
        (
            sse_c_store.url(),
            vec![("customerKeyEncryptionSecret", "sse-c/key")],
            false,
        ),
        (
            mtls.url("127.0.0.1"),
            vec![("serverSideEncryption", "AES256")],
            true,
        ),
    ];
    for (url, config, client_cert) in cases {
        let mut yaml = location_yaml(&url, &bucket, &config, client_cert);
        yaml.push_str(&all_secrets(&ca));
        yaml.push_str(&secret_yaml(
            "store-client",
            &[
                ("tls.crt", &client.cert_pem()),
                ("tls.key", &client.key_pem()),
            ],
        ));
        let run = verify(&yaml, &[]).await;
        assert_eq!(run.code, 0, "{config:?} should pass:\n{}", run.out);
        assert!(run.out.contains("result: PASSED"), "{}", run.out);
        assert!(
            run.out.contains("PASS  encryption-round-trip"),
            "{}",
            run.out
        );
        outputs.push(run.out);
    }
    // Failing runs print error chains; they must not leak either.
    let mut yaml = location_yaml(
        &moto.url(),
        &bucket,
        &[("customerKeyEncryptionSecret", "sse-c/key")],
        false,
    );
    yaml.push_str(&all_secrets(&ca));
    let run = verify(&yaml, &[]).await;
    assert_eq!(run.code, 1, "moto ignores SSE-C:\n{}", run.out);
    assert!(run.out.contains("EncryptionMismatch"), "{}", run.out);
    outputs.push(run.out);

    let key_body: String = String::from_utf8(client.key_pem())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let forbidden = [
        SECRET_KEY.to_owned(),
        STANDARD.encode(SECRET_KEY),
        String::from_utf8_lossy(CUSTOMER_KEY).into_owned(),
        STANDARD.encode(CUSTOMER_KEY),
        key_body[..40].to_owned(),
    ];
    for out in &outputs {
        for secret in &forbidden {
            if let Some(at) = out.find(secret.as_str()) {
                let line = out[..at].rsplit('\n').next().unwrap_or("");
                let start = at.saturating_sub(line.len().min(300));
                panic!(
                    "secret material in the output: ...{}...",
                    &out[start..(at + 80).min(out.len())]
                );
            }
        }
    }
}

#[tokio::test]
async fn verify_fails_with_reason_and_remedy_and_honours_overrides() {
    let moto = moto();
    let bucket = bucket("cli-fail");
    moto.create_bucket(&bucket).await;
    let stranger = peers::Pki::new("not the store's CA");
    // The location trusts the wrong CA.
    let mut yaml = location_yaml(&moto.url(), &bucket, &[], false);
    yaml.push_str(&all_secrets(&stranger.ca.cert_pem()));
    let run = verify(&yaml, &[]).await;
    assert_eq!(run.code, 1, "{}", run.out);
    assert!(run.out.contains("FAIL  tls-handshake"), "{}", run.out);
    assert!(
        run.out
            .contains("reason: X509UnknownAuthority (TLSVerified)"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains("remedy: set spec.objectStorage.caCertRef"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains("result: FAILED (X509UnknownAuthority)"),
        "{}",
        run.out
    );

    // --cacert wins over caCertRef; --credentials-file over the credential Secret (absent here).
    let dir = TempDir::new("cli-overrides");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, moto.pki.ca.cert_pem()).unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, credentials_file()).unwrap();
    let mut yaml = location_yaml(&moto.url(), &bucket, &[], false);
    yaml.push_str(&secret_yaml(
        "storage-ca",
        &[("ca.crt", &stranger.ca.cert_pem())],
    ));
    let args = [
        "--cacert",
        ca_file.to_str().unwrap(),
        "--credentials-file",
        creds.to_str().unwrap(),
    ];
    let run = verify(&yaml, &args).await;
    assert_eq!(run.code, 0, "{}", run.out);

    // --insecure-skip-tls-verify passes against the untrusted store, loudly.
    let mut yaml = location_yaml(&moto.url(), &bucket, &[], false);
    yaml.push_str(&all_secrets(&stranger.ca.cert_pem()));
    let run = verify(&yaml, &["--insecure-skip-tls-verify"]).await;
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(run.out.contains("WITHOUT checking"), "{}", run.out);

    // A missing Secret is a failed first step with its own reason.
    let yaml = location_yaml(&moto.url(), &bucket, &[], false);
    let run = verify(&yaml, &[]).await;
    assert_eq!(run.code, 1, "{}", run.out);
    assert!(run.out.contains("reason: SecretNotFound"), "{}", run.out);
}
