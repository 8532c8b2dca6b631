//! Building the S3 and KMS clients of a location: the only place in veloxide that does.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider, SharedHttpClient,
};
use native_tls::TlsConnector;
use openssl::sha::Sha256;

use super::credentials;
use super::error::{Result, StorageError};
use super::secrets::Resolved;
use super::stats::StorageStats;
use super::tls::{self, CONNECT_TIMEOUT, TlsOptions};
use crate::location::{Checksum, LocationConfig};

/// How many times a request is tried before its error is reported.
const MAX_ATTEMPTS: u32 = 3;

/// A digest of everything a client is built from: endpoint, trust and credentials (and the
/// checksum mode, which is client configuration in the SDK). Equal fingerprints mean a cached
/// client can be reused; any change to a Secret's content changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(resolved: &Resolved) -> Fingerprint {
        let c = &resolved.config;
        let s = &resolved.secrets;
        let mut h = Sha256::new();
        // Each field is length-prefixed so that no two different inputs hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(
            c.endpoint
                .s3_url
                .as_ref()
                .map_or("", |u| u.as_str())
                .as_bytes(),
        );
        field(c.endpoint.region().as_bytes());
        field(&[u8::from(c.endpoint.force_path_style)]);
        field(
            c.endpoint
                .public_url
                .as_ref()
                .map_or("", |u| u.as_str())
                .as_bytes(),
        );
        field(&[u8::from(c.trust.insecure_skip_tls_verify)]);
        field(s.ca_pem.as_deref().unwrap_or_default());
        if let Some(id) = &s.client_identity {
            field(&id.cert_pem);
            field(&id.key_pkcs8_pem.0);
        } else {
            field(b"");
            field(b"");
        }
        field(
            s.credentials_file
                .as_ref()
                .map_or("", |f| f.0.as_str())
                .as_bytes(),
        );
        field(c.credentials.profile.as_deref().unwrap_or("").as_bytes());
        field(format!("{:?}", c.checksum).as_bytes());
        Fingerprint(h.finish())
    }
}

/// The clients of one location, shared by every operation on it.
pub struct Clients {
    pub(crate) s3: aws_sdk_s3::Client,
    /// A client addressing `publicUrl`, used only to sign links handed to users.
    pub(crate) presign: Option<aws_sdk_s3::Client>,
    pub(crate) kms: aws_sdk_kms::Client,
    /// The same TLS settings, for the check's bare handshake.
    pub(crate) tls: TlsConnector,
    pub(crate) credentials: SharedCredentialsProvider,
    pub fingerprint: Fingerprint,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Clients {
    /// Build the clients of a resolved location.
    pub fn build(resolved: &Resolved) -> Result<Arc<Clients>> {
        Self::build_counted(resolved, &Default::default())
    }

    /// [`Clients::build`], recording the build and the connections it opens in `stats`.
    pub fn build_counted(resolved: &Resolved, stats: &Arc<StorageStats>) -> Result<Arc<Clients>> {
        stats.client_built();
        let config = &resolved.config;
        let tls = tls::connector(
            &resolved.secrets,
            TlsOptions {
                insecure_skip_tls_verify: config.trust.insecure_skip_tls_verify,
            },
        )?;
        let http = tls::http_client(tls.clone(), stats.clone());
        let credentials = credentials::provider(config, &resolved.secrets, http.clone());
        let s3_url = config.endpoint.s3_url.as_ref().map(endpoint_text);
        let s3 = s3_client(config, &http, &credentials, s3_url.as_deref());
        let presign = config
            .endpoint
            .public_url
            .as_ref()
            .map(|u| s3_client(config, &http, &credentials, Some(&endpoint_text(u))));
        let kms = kms_client(config, &http, &credentials, s3_url.as_deref());
        Ok(Arc::new(Clients {
            s3,
            presign,
            kms,
            tls,
            credentials,
            fingerprint: Fingerprint::of(resolved),
        }))
    }
}

/// The SDK appends paths to the endpoint itself; a trailing `/` would double them.
fn endpoint_text(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

fn timeouts() -> TimeoutConfig {
    // No overall operation timeout: a multipart part or a streamed GET may rightly take long.
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(Duration::from_secs(120))
        .build()
}

fn s3_client(
    config: &LocationConfig,
    http: &SharedHttpClient,
    credentials: &SharedCredentialsProvider,
    endpoint: Option<&str>,
) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        // Always explicit, so the SDK never looks for a region (and never asks IMDS).
        .region(Region::new(config.endpoint.region().to_owned()))
        .http_client(http.clone())
        .credentials_provider(credentials.clone())
        .force_path_style(config.endpoint.force_path_style)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts());
    if let Some(url) = endpoint {
        b = b.endpoint_url(url);
    }
    if config.checksum == Checksum::Disabled {
        // `checksumAlgorithm: ""`: no flexible-checksum headers or aws-chunked trailers on any
        // request, and no validation of checksums the store may or may not return.
        b = b
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn kms_client(
    config: &LocationConfig,
    http: &SharedHttpClient,
    credentials: &SharedCredentialsProvider,
    endpoint: Option<&str>,
) -> aws_sdk_kms::Client {
    let mut b = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.endpoint.region().to_owned()))
        .http_client(http.clone())
        .credentials_provider(credentials.clone())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts());
    // S3-compatible stores that offer KMS (moto, LocalStack) serve it on the same endpoint;
    // without s3Url, KMS is AWS's regional endpoint.
    if let Some(url) = endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_kms::Client::from_conf(b.build())
}

impl From<url::ParseError> for StorageError {
    fn from(e: url::ParseError) -> Self {
        StorageError::Config(e.to_string())
    }
}
