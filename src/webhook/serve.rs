//! Serving the webhook over HTTPS until the shutdown signal.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_openssl::OpenSSLConfig;
use tokio_util::sync::CancellationToken;

use super::tls::{CertFiles, TlsError};
use crate::http_limits::{self, Limited, MAX_CONNECTIONS};

/// How in-flight requests are given to finish after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Where and with which certificate to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub files: CertFiles,
    /// How often the certificate files are checked for changes.
    pub reload_interval: Duration,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot serve on {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Serve `app` over HTTPS. `on_listening` is called with the bound address (useful with
/// port 0). Returns once the shutdown signal fired and in-flight requests drained.
pub async fn serve(
    options: ServeOptions,
    app: Router,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), ServeError> {
    let config = OpenSSLConfig::from_acceptor(options.files.acceptor()?);
    let handle = Handle::new();
    tokio::spawn(super::tls::watch(
        options.files.clone(),
        config.clone(),
        options.reload_interval,
        shutdown.clone(),
    ));
    {
        let handle = handle.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Some(addr) = handle.listening().await {
                on_listening(addr);
            }
            shutdown.cancelled().await;
            handle.graceful_shutdown(Some(DRAIN));
        });
    }
    // TCP_NODELAY: without it small responses wait on delayed ACKs (~40 ms p99 measured).
    let acceptor = axum_server::tls_openssl::OpenSSLAcceptor::new(config)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    // The cap wraps the TLS acceptor, so a stalled handshake holds a slot too.
    let acceptor = Limited::new(acceptor, MAX_CONNECTIONS);
    http_limits::configure(axum_server::bind(options.listen).acceptor(acceptor))
        .handle(handle)
        .serve(http_limits::bounded(app).into_make_service())
        .await
        .map_err(|source| ServeError::Io {
            addr: options.listen,
            source,
        })
}
