//! HAProxy (Debian's) terminating TLS in front of moto: with `verify required` it demands a
//! client certificate and sends the real TLS alert 116 when none comes (nginx answers HTTP 400
//! instead); with any server certificate, it plays a store with a wrong, expired or
//! IP-address certificate.

use std::fmt::Write as _;
use std::time::Duration;

use super::process::{Supervised, port_open};
use super::{Issued, Moto, TempDir, free_port, haproxy_bin};

/// How the proxy presents itself and what it demands.
pub struct HaproxyOptions<'a> {
    /// The certificate shown to clients.
    pub server_cert: &'a Issued,
    /// Intermediate certificates sent with it.
    pub chain: Vec<&'a Issued>,
    /// When set, clients must present a certificate issued by this CA (`verify required`).
    pub client_ca: Option<&'a Issued>,
    /// moto's port, and the CA to check moto's certificate with.
    pub backend_port: u16,
    pub backend_ca: &'a Issued,
}

/// A running HAProxy. Dropping it stops it.
#[derive(Debug)]
pub struct Haproxy {
    pub port: u16,
    process: Supervised,
    _dir: TempDir,
}

impl Haproxy {
    /// In front of `moto`, serving `server_cert` (no chain), asking for a client certificate
    /// from `client_ca` when given.
    pub fn in_front_of(moto: &Moto, server_cert: &Issued, client_ca: Option<&Issued>) -> Haproxy {
        Haproxy::start(HaproxyOptions {
            server_cert,
            chain: vec![],
            client_ca,
            backend_port: moto.port,
            backend_ca: &moto.pki.ca,
        })
    }

    pub fn start(options: HaproxyOptions<'_>) -> Haproxy {
        let dir = TempDir::new("haproxy");
        let crt = dir.path().join("server.pem");
        let mut pem = options.server_cert.cert_pem();
        for c in &options.chain {
            pem.extend_from_slice(&c.cert_pem());
        }
        pem.extend_from_slice(&options.server_cert.key_pem());
        std::fs::write(&crt, pem).expect("write server PEM");
        let backend_ca = dir.path().join("backend-ca.crt");
        std::fs::write(&backend_ca, options.backend_ca.cert_pem()).expect("write backend CA");
        let port = free_port();
        let mut bind = format!("127.0.0.1:{port} ssl crt {}", crt.display());
        if let Some(ca) = options.client_ca {
            let path = dir.path().join("client-ca.crt");
            std::fs::write(&path, ca.cert_pem()).expect("write client CA");
            write!(bind, " ca-file {} verify required", path.display()).expect("string");
        }
        let config = format!(
            "global\n    maxconn 256\n\
             defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\
             frontend s3\n    bind {bind}\n    default_backend moto\n\
             backend moto\n    server moto 127.0.0.1:{backend} ssl verify required ca-file {ca} sni str(localhost)\n",
            backend = options.backend_port,
            ca = backend_ca.display(),
        );
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config).expect("write haproxy.cfg");
        let args = vec!["-db".to_owned(), "-f".to_owned(), cfg.display().to_string()];
        let mut process = Supervised::start(
            "haproxy",
            &haproxy_bin(),
            &args,
            dir.path().join("haproxy.log"),
        );
        process.wait_until(Duration::from_secs(10), || port_open(port));
        Haproxy {
            port,
            process,
            _dir: dir,
        }
    }

    /// `https://HOST:PORT` for a host name or IP the certificate may (or may not) name.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.process.log_text()
    }
}
