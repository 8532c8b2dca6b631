//! Real test peers for object storage, started per test run on free loopback ports:
//! moto's server (S3 + KMS) over HTTPS with a CA made for the run, HAProxy in front of it
//! (client-certificate checks, or any server certificate a trust test needs), and a recording
//! TLS proxy that shows which headers went over the wire.
//!
//! Reused by later issues. The storage tests include this module with `#[path]`, so it only
//! uses crates both the `e2e` and the `veloxide` packages depend on.

pub mod certs;
pub mod haproxy;
pub mod localstack;
pub mod moto;
pub mod process;
pub mod recorder;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub use certs::{Issued, Pki};
pub use haproxy::{Haproxy, HaproxyOptions};
pub use localstack::LocalStack;
pub use moto::Moto;
pub use recorder::{Fault, Recorded, Recorder, SseCMode};

/// The repository root: the nearest ancestor of this crate's manifest holding `.work` or `.git`.
pub fn repo_root() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .find(|p| p.join(".git").exists() || p.join(".work").is_dir())
        .unwrap_or(start)
        .to_path_buf()
}

/// A program from the test venv (`.work/venv/bin`), or a clear failure saying how to get it.
/// `VELOXIDE_VENV` points elsewhere when set.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("VELOXIDE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".work/venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `bash e2e/tools/install-s3-peers.sh` (or `make test-tools`) first",
        path.display()
    );
    path
}

/// `haproxy` on PATH, or a clear failure saying how to get it.
pub fn haproxy_bin() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join("haproxy");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "haproxy is missing: run `bash e2e/tools/install-s3-peers.sh` (or `make test-tools`) first"
    );
}

/// A free loopback port (bound and released; fine for tests that start the peer at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A fresh directory for a peer's files, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let mut random = [0u8; 6];
        openssl::rand::rand_bytes(&mut random).expect("OpenSSL's RNG");
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("veloxide-{label}-{suffix}"));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
