//! `kube-standin`: a Kubernetes API server stand-in for tests, faithful to the parts of the API
//! the operator, kube-rs, `kubectl` and Helm use. See e2e/README.md for what it does not do.

pub mod admission;
pub mod builtin;
pub mod crd;
pub mod crud;
pub mod discovery;
pub mod handle;
pub mod lifecycle;
pub mod managed;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod proxy;
pub mod resources;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;
pub mod write;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::{Value, json};

pub use crud::LIST_FAULT_ANNOTATION;
pub use handle::StandIn;

/// The Kubernetes version the stand-in reports. kubectl's dispatcher picks its client by it.
pub const KUBE_VERSION: (&str, &str, &str) = ("1", "33", "v1.33.0");

/// How to start the stand-in.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub kubeconfig: PathBuf,
    /// `NAMESPACE/SERVICE` → `HOST:PORT`, for webhooks registered by `clientConfig.service`.
    pub webhook_endpoints: HashMap<String, String>,
}

/// Shared server state.
pub struct App {
    pub store: Mutex<store::Store>,
    pub token: String,
    pub webhook_endpoints: HashMap<String, String>,
    /// Every request served: method, path, query, user, user agent, status code.
    pub requests: Mutex<Vec<Value>>,
}

impl App {
    pub fn new(token: String, webhook_endpoints: HashMap<String, String>) -> Self {
        let mut s = store::Store::new(resources::Registry::with_builtins());
        let now = objects::now();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "uid": tls::uuid(), "creationTimestamp": now,
                             "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            s.put("/namespaces", obj);
        }
        App {
            store: Mutex::new(s),
            token,
            webhook_endpoints,
            requests: Mutex::new(vec![]),
        }
    }

    /// The store, even if a panicking request poisoned the lock (the data is still consistent
    /// enough for a test server).
    pub fn store(&self) -> std::sync::MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Parses `NAMESPACE/SERVICE=HOST:PORT`.
pub fn parse_endpoint(s: &str) -> Result<(String, String), String> {
    let (svc, addr) = s
        .split_once('=')
        .ok_or("expected NAMESPACE/SERVICE=HOST:PORT")?;
    if !svc.contains('/') || !addr.contains(':') {
        return Err("expected NAMESPACE/SERVICE=HOST:PORT".into());
    }
    Ok((svc.to_string(), addr.to_string()))
}

/// Serves until the process is killed.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let ip = addr.ip().to_string();
    let pki = tls::generate("kube-standin-ca", &[ip.as_str(), "localhost", "127.0.0.1"])?;
    let token = tls::random_hex(24);
    let url = format!("https://{addr}");
    let kubeconfig = tls::kubeconfig(&url, &pki.ca.cert_pem, &token);
    let tmp = config.kubeconfig.with_extension("tmp");
    std::fs::write(&tmp, kubeconfig).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &config.kubeconfig)?;
    let app = Arc::new(App::new(token, config.webhook_endpoints));
    let tls =
        axum_server::tls_openssl::OpenSSLConfig::from_pem(&pki.leaf.cert_pem, &pki.leaf.key_pem)?;
    let server = axum_server::from_tcp(listener)?
        .acceptor(axum_server::tls_openssl::OpenSSLAcceptor::new(tls));
    println!("kube-standin listening on {url}");
    use std::io::Write;
    std::io::stdout().flush()?;
    server
        .serve(server::router(app).into_make_service())
        .await?;
    Ok(())
}
