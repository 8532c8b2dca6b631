//! LocalStack (S3 + KMS) over HTTPS with a certificate from the run's CA: the peer that really
//! enforces SSE-C, which moto does not. A read without the customer key is refused with 400
//! InvalidRequest and one with another key with 403 AccessDenied, as S3 does.
//!
//! Installed by `e2e/tools/install-localstack.sh` into `.work/localstack-venv` (Python 3.13).

use std::path::PathBuf;
use std::time::Duration;

use super::process::{Supervised, port_open};
use super::{Pki, TempDir, free_port, repo_root};

/// A running LocalStack. Dropping it kills it.
#[derive(Debug)]
pub struct LocalStack {
    pub port: u16,
    pub pki: Pki,
    process: Supervised,
    _dir: TempDir,
}

/// The LocalStack venv's python, or a clear failure saying how to get it.
/// `VELOXIDE_LOCALSTACK_VENV` points elsewhere when set.
pub fn localstack_python() -> PathBuf {
    let venv = std::env::var_os("VELOXIDE_LOCALSTACK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".work/localstack-venv"));
    let path = venv.join("bin/python");
    assert!(
        path.is_file(),
        "{} is missing: run `bash e2e/tools/install-localstack.sh` (or `make test-tools`) first",
        path.display()
    );
    path
}

impl LocalStack {
    /// Start LocalStack with a certificate from `pki` naming `localhost` and `127.0.0.1`.
    pub fn start_with(pki: Pki) -> LocalStack {
        let dir = TempDir::new("localstack");
        let server = pki.server(&["localhost"], &["127.0.0.1"]);
        let pem = server.write_combined(dir.path(), "localstack");
        let port = free_port();
        // LocalStack's own shutdown on SIGTERM sometimes never ends ("Stopping all services"
        // and nothing more), which would hang the test in `Drop`: this shell turns the
        // supervisor's SIGTERM into SIGKILL. Its state is in memory and `dir`, nothing to save.
        // The environment goes through `env`, since the supervisor passes none of its own.
        // The default gateway binds 0.0.0.0 whatever it is told; hypercorn binds the address
        // given. DISABLE_EVENTS: no analytics, whose flush to a network this machine does not
        // have holds shutdown further. TMPDIR keeps LocalStack's temporary files in `dir`.
        let args: Vec<String> = [
            "-c".to_owned(),
            r#""$@" & p=$!; trap 'kill -KILL $p' TERM; wait $p; wait $p"#.to_owned(),
            "localstack".to_owned(),
            "/usr/bin/env".to_owned(),
            "GATEWAY_SERVER=hypercorn".to_owned(),
            format!("GATEWAY_LISTEN=127.0.0.1:{port}"),
            "SERVICES=s3,kms".to_owned(),
            "DNS_ADDRESS=0".to_owned(),
            "SKIP_SSL_CERT_DOWNLOAD=1".to_owned(),
            "DISABLE_EVENTS=1".to_owned(),
            format!("CUSTOM_SSL_CERT_PATH={}", pem.display()),
            format!("TMPDIR={}", dir.path().display()),
            localstack_python().display().to_string(),
            "-m".to_owned(),
            "localstack.runtime.main".to_owned(),
        ]
        .into();
        let mut process = Supervised::start(
            "localstack",
            std::path::Path::new("/bin/sh"),
            &args,
            dir.path().join("localstack.log"),
        );
        process.wait_until(Duration::from_secs(60), || port_open(port));
        LocalStack {
            port,
            pki,
            process,
            _dir: dir,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// LocalStack's log so far (one line per request, with the S3 operation and its outcome).
    pub fn log(&self) -> String {
        self.process.log_text()
    }

    /// An HTTP client trusting the run's CA, sending no credentials: LocalStack checks no
    /// signatures, so this is the independent client the tests read the store with.
    pub fn http(&self) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(&self.pki.ca.cert_pem()).expect("CA PEM");
        reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .expect("reqwest client")
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let url = format!("{}/{bucket}", self.url());
        let reply = self
            .http()
            .put(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "PUT {url}: {status}: {text}");
    }

    /// Every key under `prefix` in `bucket`, sorted (ListObjectsV2).
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        // The tests' prefixes are letters, digits, `-` and `/`: nothing to escape.
        let url = format!("{}/{bucket}?list-type=2&prefix={prefix}", self.url());
        let reply = self
            .http()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("LIST {url}: {e}"));
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "LIST {url}: {status}: {text}");
        let mut keys: Vec<String> = text
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_owned()))
            .collect();
        keys.sort();
        keys
    }

    /// `method` on one object, with the SSE-C headers for `key` when given; the status and body.
    pub async fn object(
        &self,
        method: reqwest::Method,
        bucket: &str,
        object: &str,
        key: Option<&[u8]>,
    ) -> (u16, Vec<u8>) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let url = format!("{}/{bucket}/{object}", self.url());
        let mut request = self.http().request(method.clone(), &url);
        if let Some(key) = key {
            let md5 = openssl::hash::hash(openssl::hash::MessageDigest::md5(), key).expect("MD5");
            request = request
                .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
                .header("x-amz-server-side-encryption-customer-key", b64.encode(key))
                .header(
                    "x-amz-server-side-encryption-customer-key-md5",
                    b64.encode(md5),
                );
        }
        let reply = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = reply.status().as_u16();
        (status, reply.bytes().await.unwrap_or_default().to_vec())
    }
}
