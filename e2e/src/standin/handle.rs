//! Starting the stand-in from tests: [`StandIn::start`] spawns the `kube-standin` binary, waits
//! for its ready line, and kills it on drop. When `VELOXIDE_E2E_KUBECONFIG` names a kubeconfig,
//! the same handle points at that (real) cluster instead and starts nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The environment variable that sends the e2e scenarios to a real cluster.
pub const CLUSTER_ENV: &str = "VELOXIDE_E2E_KUBECONFIG";

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(
        "kube-standin binary not found (set KUBE_STANDIN_BIN or run `cargo build -p e2e --bin kube-standin`)"
    )]
    NoBinary,
    #[error("starting kube-standin: {0}")]
    Io(#[from] std::io::Error),
    #[error("kube-standin did not become ready: {0}")]
    NotReady(String),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("kube client: {0}")]
    Kube(#[from] kube::Error),
    #[error("decoding the request log: {0}")]
    Json(#[from] serde_json::Error),
}

/// A running stand-in (or an external cluster). Dropping it stops the stand-in.
pub struct StandIn {
    child: Option<Child>,
    dir: PathBuf,
    /// The kubeconfig to hand to kubectl, Helm and kube-rs.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT` for the stand-in; empty for an external cluster.
    pub url: String,
}

/// Finds the `kube-standin` binary: `$KUBE_STANDIN_BIN`, else next to the running test binary.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBE_STANDIN_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join("kube-standin"))
        .find(|p| p.is_file())
}

fn temp_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kube-standin-{}", super::tls::random_hex(6)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl StandIn {
    /// An external cluster when `VELOXIDE_E2E_KUBECONFIG` is set, else a fresh stand-in.
    pub fn start() -> Result<Self, HandleError> {
        Self::start_with(&find_binary().ok_or(HandleError::NoBinary)?, &[])
    }

    /// Like [`StandIn::start`] with a given binary and `--webhook-endpoint NS/SVC=HOST:PORT` maps.
    pub fn start_with(binary: &Path, webhook_endpoints: &[String]) -> Result<Self, HandleError> {
        if let Some(kc) = std::env::var_os(CLUSTER_ENV).filter(|v| !v.is_empty()) {
            return Ok(StandIn {
                child: None,
                dir: temp_dir()?,
                kubeconfig: kc.into(),
                url: String::new(),
            });
        }
        let dir = temp_dir()?;
        let kubeconfig = dir.join("kubeconfig");
        let log = std::fs::File::create(dir.join("standin.log"))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig);
        for w in webhook_endpoints {
            cmd.args(["--webhook-endpoint", w]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("kube-standin listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let mut handle = StandIn {
            child: Some(child),
            dir,
            kubeconfig,
            url: String::new(),
        };
        handle.url = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| HandleError::NotReady(handle.log()))?;
        Ok(handle)
    }

    /// True when this is the stand-in, false for an external cluster.
    pub fn is_standin(&self) -> bool {
        self.child.is_some()
    }

    /// A scratch directory that lives as long as the handle (kubectl and Helm homes, files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the stand-in logged to stderr so far (one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("standin.log")).unwrap_or_default()
    }

    pub async fn client(&self) -> Result<kube::Client, HandleError> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// The stand-in's request log: `{method, path, query, user, userAgent, code}` per request.
    pub async fn requests(&self) -> Result<Vec<Value>, HandleError> {
        let req = http_get("/debug/requests");
        let text = self.client().await?.request_text(req).await?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Forgets the watch history, so watches from older resourceVersions get 410 Gone.
    pub async fn compact(&self) -> Result<(), HandleError> {
        let req = http::Request::post("/debug/compact")
            .body(vec![])
            .expect("valid request");
        self.client().await?.request_text(req).await?;
        Ok(())
    }
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(vec![])
        .expect("valid request")
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("KEEP_STANDIN_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
