//! moto's server (S3 and KMS in one process) over HTTPS with a certificate from the run's CA.

use std::path::PathBuf;
use std::time::Duration;

use super::process::{Supervised, port_open};
use super::{Pki, TempDir, free_port, venv_bin};

/// A running moto server. Dropping it stops the server.
#[derive(Debug)]
pub struct Moto {
    pub port: u16,
    pub pki: Pki,
    /// The CA certificate (PEM) that signed moto's certificate.
    pub ca_file: PathBuf,
    process: Supervised,
    dir: TempDir,
}

impl Moto {
    /// Start moto with a new CA; its certificate names `localhost` and `127.0.0.1`.
    pub fn start() -> Moto {
        Self::start_with(Pki::new("veloxide test CA"))
    }

    pub fn start_with(pki: Pki) -> Moto {
        let dir = TempDir::new("moto");
        let server = pki.server(&["localhost"], &["127.0.0.1"]);
        let (crt, key) = server.write(dir.path(), "moto");
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, pki.ca.cert_pem()).expect("write CA");
        let port = free_port();
        let args: Vec<String> = vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-c".into(),
            crt.display().to_string(),
            "-k".into(),
            key.display().to_string(),
        ];
        let mut process = Supervised::start(
            "moto_server",
            &venv_bin("moto_server"),
            &args,
            dir.path().join("moto.log"),
        );
        process.wait_until(Duration::from_secs(30), || port_open(port));
        Moto {
            port,
            pki,
            ca_file,
            process,
            dir,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// moto's log so far.
    pub fn log(&self) -> String {
        self.process.log_text()
    }
}

/// Setting moto up for a test, over plain requests: moto checks no signatures, but routes
/// by the service named in the credential scope of `Authorization`.
impl Moto {
    /// An HTTP client trusting the run's CA.
    pub fn http(&self) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(&self.pki.ca.cert_pem()).expect("CA PEM");
        reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .expect("reqwest client")
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIATEST/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        )
    }

    /// An S3 request to moto; panics unless it succeeds. Returns the body. A request that
    /// gets no answer at all is tried again for a few seconds: moto's port opens a moment
    /// before its TLS server answers (seen once in a fresh-clone run).
    pub async fn s3(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> String {
        let client = self.http();
        let mut tries = 0;
        let reply = loop {
            let sent = client
                .request(method.clone(), format!("{}{path}", self.url()))
                .header("authorization", Self::auth("s3"))
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(reply) => break reply,
                Err(e) if tries < 20 && (e.is_connect() || e.is_request()) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("{method} {path}: {e}"),
            }
        };
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status}: {text}");
        text
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.s3(reqwest::Method::PUT, &format!("/{bucket}"), Vec::new())
            .await;
    }

    /// How many multipart uploads are in progress in `bucket`.
    pub async fn multipart_uploads(&self, bucket: &str) -> usize {
        let text = self
            .s3(
                reqwest::Method::GET,
                &format!("/{bucket}?uploads"),
                Vec::new(),
            )
            .await;
        text.matches("<Upload>").count()
    }

    /// A KMS API call (`TrentService.ACTION`); panics unless it succeeds.
    pub async fn kms(&self, action: &str, body: serde_json::Value) -> serde_json::Value {
        let reply = self
            .http()
            .post(format!("{}/", self.url()))
            .header("authorization", Self::auth("kms"))
            .header("x-amz-target", format!("TrentService.{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("KMS {action}: {e}"));
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "KMS {action}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// A symmetric key with `alias` (e.g. `alias/velero`); returns the key id.
    pub async fn create_kms_key(&self, alias: &str) -> String {
        let created = self.kms("CreateKey", serde_json::json!({})).await;
        let id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("KeyId")
            .to_owned();
        self.kms(
            "CreateAlias",
            serde_json::json!({"AliasName": alias, "TargetKeyId": id}),
        )
        .await;
        id
    }

    pub async fn disable_kms_key(&self, key_id: &str) {
        self.kms("DisableKey", serde_json::json!({"KeyId": key_id}))
            .await;
    }
}
