//! The webhook's serving certificate: TLS 1.2 or newer, reloaded when the files change.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_openssl::OpenSSLConfig;
use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslMethod, SslVersion};
use openssl::x509::X509;
use tokio_util::sync::CancellationToken;

/// Why a certificate and key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM certificate chain: {source}")]
    Certificate {
        path: PathBuf,
        source: openssl::error::ErrorStack,
    },
    // The key's content never appears in the message, only its path.
    #[error("{path} holds no usable PEM private key")]
    Key { path: PathBuf },
    #[error("the certificate and key do not match, or TLS could not be set up: {0}")]
    Setup(openssl::error::ErrorStack),
}

/// The certificate chain and key files of a serving certificate.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    /// Build an acceptor from the files as they are now.
    pub fn acceptor(&self) -> Result<Arc<SslAcceptor>, TlsError> {
        let (cert, key) = self.read()?;
        acceptor(&self.cert, &cert, &self.key, &key)
    }
}

/// An acceptor offering TLS 1.2 and 1.3 with Mozilla's intermediate cipher list.
fn acceptor(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<Arc<SslAcceptor>, TlsError> {
    let chain = X509::stack_from_pem(cert_pem).map_err(|source| TlsError::Certificate {
        path: cert_path.to_owned(),
        source,
    })?;
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err(TlsError::Certificate {
            path: cert_path.to_owned(),
            source: openssl::error::ErrorStack::get(),
        });
    };
    let key = PKey::private_key_from_pem(key_pem).map_err(|_| TlsError::Key {
        path: key_path.to_owned(),
    })?;
    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(TlsError::Setup)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(TlsError::Setup)?;
    builder.set_certificate(leaf).map_err(TlsError::Setup)?;
    for cert in intermediates {
        builder
            .add_extra_chain_cert(cert.clone())
            .map_err(TlsError::Setup)?;
    }
    builder.set_private_key(&key).map_err(TlsError::Setup)?;
    builder.check_private_key().map_err(TlsError::Setup)?;
    builder.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", client)
            .ok_or(openssl::ssl::AlpnError::NOACK)
    });
    Ok(Arc::new(builder.build()))
}

/// Re-read the files every `interval` and swap the acceptor when their content changes, so
/// a rotated Secret mount takes effect for new connections with no restart. A broken new
/// pair is logged and the previous certificate keeps serving.
pub async fn watch(
    files: CertFiles,
    config: OpenSSLConfig,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut last = files.read().ok();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let current = match files.read() {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook certificate; keeping the current one");
                continue;
            }
        };
        if last.as_ref() == Some(&current) {
            continue;
        }
        match acceptor(&files.cert, &current.0, &files.key, &current.1) {
            Ok(new) => {
                config.reload_from_acceptor(new);
                tracing::info!(cert = %files.cert.display(), "webhook certificate reloaded");
                last = Some(current);
            }
            Err(e) => {
                // Mid-rotation the two files can briefly disagree; try again next tick.
                tracing::warn!(error = %e, "new webhook certificate not usable yet; keeping the current one");
            }
        }
    }
}
