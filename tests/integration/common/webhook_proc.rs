//! The `veloxide webhook` binary, started for a test and killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use e2e::peers::process::spawn_listening;

use e2e::peers::certs::{Issued, Spec, Usage, issue};

pub struct WebhookProcess {
    child: Child,
    pub base_url: String,
    pub dir: tempfile::TempDir,
    pub ca: Issued,
}

impl WebhookProcess {
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Start the webhook with a serving certificate for 127.0.0.1 and localhost.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = issue(&Spec::ca("veloxide-webhook-test-ca"), None);
        let serving = serving_cert(&ca, "veloxide-webhook");
        std::fs::write(dir.path().join("ca.crt"), ca.cert_pem()).unwrap();
        write_pair(dir.path(), &serving);
        let (child, lines) = spawn_listening(
            Command::new(env!("CARGO_BIN_EXE_veloxide"))
                .args([
                    "webhook",
                    "--listen",
                    "127.0.0.1:0",
                    "--cert-reload-interval",
                    "100ms",
                ])
                .arg("--tls-cert-file")
                .arg(dir.path().join("tls.crt"))
                .arg("--tls-key-file")
                .arg(dir.path().join("tls.key"))
                .stderr(Stdio::inherit()),
            &["veloxide webhook listening on "],
        );
        WebhookProcess {
            child,
            base_url: lines.concat(),
            dir,
            ca,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client that trusts only the test CA, as the API server trusts only `caBundle`.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_native_tls()
            .tls_certs_only([reqwest::Certificate::from_pem(&self.ca.cert_pem()).unwrap()])
            .build()
            .unwrap()
    }
}

impl Drop for WebhookProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serving_cert(ca: &Issued, cn: &str) -> Issued {
    issue(
        &Spec::leaf(
            cn,
            Usage::Server,
            &["localhost", "veloxide-webhook.velero.svc"],
            &["127.0.0.1"],
        ),
        Some(ca),
    )
}

/// Write a certificate and key the way a rotated Secret mount ends up: both files replaced.
pub fn write_pair(dir: &Path, pair: &Issued) {
    std::fs::write(dir.join("tls.key"), pair.key_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), pair.cert_pem()).unwrap();
}
