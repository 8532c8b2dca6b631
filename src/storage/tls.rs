//! The one TLS setup every object-store connection uses: native-tls (OpenSSL on Linux), system
//! roots plus the location's CA bundle, an optional client identity, TLS 1.2 or newer.

use std::time::Duration;

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::hyper_014::HyperClientBuilder;
use native_tls::{Certificate, Identity, Protocol, TlsConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::secrets::SecretMaterial;

/// How long a TCP connect may take before the endpoint counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a TLS configuration could not be built (bad PEM that slipped past the parser, or an
/// identity OpenSSL refuses). Messages never include key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the CA bundle holds a certificate OpenSSL cannot load")]
    Ca,
    #[error("the client certificate and key cannot be loaded: {0}")]
    Identity(String),
    #[error("the TLS connector cannot be built: {0}")]
    Connector(String),
}

/// The TLS-relevant part of a location.
#[derive(Clone, Copy, Debug)]
pub struct TlsOptions {
    pub insecure_skip_tls_verify: bool,
}

/// Build the native-tls connector for a location's trust settings.
pub fn connector(
    secrets: &SecretMaterial,
    options: TlsOptions,
) -> Result<TlsConnector, TlsSetupError> {
    let mut builder = TlsConnector::builder();
    builder.min_protocol_version(Some(Protocol::Tlsv12));
    if let Some(pem) = &secrets.ca_pem {
        // System roots stay trusted (native-tls keeps them unless told otherwise); the bundle
        // adds to them, so public endpoints keep working with a private CA configured.
        for cert in openssl::x509::X509::stack_from_pem(pem).map_err(|_| TlsSetupError::Ca)? {
            let der = cert.to_der().map_err(|_| TlsSetupError::Ca)?;
            builder
                .add_root_certificate(Certificate::from_der(&der).map_err(|_| TlsSetupError::Ca)?);
        }
    }
    if let Some(identity) = &secrets.client_identity {
        let id = Identity::from_pkcs8(&identity.cert_pem, &identity.key_pkcs8_pem.0)
            // native-tls's error text describes the parse failure, never the key bytes.
            .map_err(|e| TlsSetupError::Identity(e.to_string()))?;
        builder.identity(id);
    }
    if options.insecure_skip_tls_verify {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder
        .build()
        .map_err(|e| TlsSetupError::Connector(e.to_string()))
}

/// The SDK HTTP client over that connector. Plain `http://` endpoints still work (tests and
/// in-cluster stores without TLS), since the connector only wraps `https://` connections.
/// Every connection it opens is counted in `stats`.
pub(crate) fn http_client(
    tls: TlsConnector,
    stats: std::sync::Arc<super::stats::StorageStats>,
) -> SharedHttpClient {
    let mut http = hyper::client::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let https = hyper_tls::HttpsConnector::from((http, tokio_native_tls::TlsConnector::from(tls)));
    // Queue body chunks instead of flattening them: TLS streams do not do vectored writes,
    // so hyper would otherwise copy each multipart part (8 MiB) into a per-connection buffer
    // that stays allocated in the pool, roughly doubling memory per part in flight.
    let mut hyper_builder = hyper::Client::builder();
    hyper_builder.http1_writev(true);
    #[allow(deprecated)] // the hyper 0.14 client is the SDK's only route to a native-tls connector
    let client = HyperClientBuilder::new()
        .hyper_builder(hyper_builder)
        .build(super::stats::Counting {
            inner: https,
            stats,
        });
    client
}

/// Connect and complete a TLS handshake with `host:port`, nothing more: the location check's
/// first step, so a certificate problem is told apart from anything HTTP or S3 says.
pub async fn handshake(
    tls: TlsConnector,
    host: &str,
    port: u16,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| "connect timed out")??;
    let tls = tokio_native_tls::TlsConnector::from(tls);
    // An IP literal is checked against IP SANs by OpenSSL; brackets must go for IPv6.
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
        .await
        .map_err(|_| "TLS handshake timed out")??;
    // TLS 1.3 servers send a client-certificate refusal (alert 116) after the client's
    // Finished, so the handshake "succeeds" locally; one read brings the alert in.
    stream
        .write_all(
            format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut buf = [0u8; 64];
    let _ = tokio::time::timeout(CONNECT_TIMEOUT, stream.read(&mut buf))
        .await
        .map_err(|_| "no answer after the TLS handshake")??;
    Ok(())
}
