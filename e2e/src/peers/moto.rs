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
