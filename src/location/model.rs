//! The typed result of parsing a location: plain data, no I/O.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::cacert::CaBundle;

/// Everything about a location the storage layer needs, with every rule already checked.
#[derive(Clone, Debug, PartialEq)]
pub struct LocationConfig {
    pub provider: Provider,
    /// The bucket name (no `/`).
    pub bucket: String,
    /// The prefix with surrounding `/` trimmed; empty for the bucket's root.
    pub prefix: String,
    pub endpoint: Endpoint,
    pub trust: Trust,
    pub encryption: Encryption,
    pub checksum: Checksum,
    /// Object tags as `k1=v1&k2=v2`, already checked against S3's limits.
    pub tagging: Option<String>,
    pub credentials: Credentials,
    /// Whether backups may be written (`accessMode` is `ReadWrite` or absent).
    pub read_write: bool,
    pub validation_frequency: Option<Duration>,
    pub backup_sync_period: Option<Duration>,
}

/// The object-store providers veloxide speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// S3 and S3-compatible stores (`aws`, `velero.io/aws`).
    Aws,
}

/// Where the store is and how requests are addressed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// A custom endpoint (`s3Url`); AWS's regional endpoint when absent.
    pub s3_url: Option<Url>,
    /// The signing region (`region`).
    pub region: Option<String>,
    /// Path-style addressing (`s3ForcePathStyle`).
    pub force_path_style: bool,
    /// The endpoint used in links handed to users (`publicUrl`).
    pub public_url: Option<Url>,
}

/// The region assumed for a custom endpoint that does not name one. It is fixed so that no
/// code path ever asks a metadata service.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Endpoint {
    /// The region to sign with: the configured one, else [`DEFAULT_REGION`].
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_REGION)
    }
}

/// How the store's TLS certificate is trusted, and what identity is presented.
#[derive(Clone, Debug, PartialEq)]
pub struct Trust {
    pub ca: CaSource,
    /// `insecureSkipTLSVerify`: no certificate checks at all.
    pub insecure_skip_tls_verify: bool,
    /// `clientCertRef`: a `kubernetes.io/tls` Secret to present as the client certificate.
    pub client_cert_secret: Option<String>,
}

/// Where the CA bundle comes from. System roots are always trusted as well.
#[derive(Clone, Debug, PartialEq)]
pub enum CaSource {
    /// Only the system roots.
    System,
    /// The deprecated inline `caCert`, already checked.
    Inline(CaBundle),
    /// `caCertRef`: a key of a Secret in the location's namespace.
    Secret(SecretKeyRef),
}

/// A key of a Secret in the location's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// The one server-side encryption mode applied to every object written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// Whatever the bucket's default is.
    None,
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    SseS3,
    /// SSE-KMS with a key id, ARN or alias, optionally with an S3 Bucket Key.
    SseKms { key_id: String, bucket_key: bool },
    /// SSE-C with a 32-byte customer key.
    SseC(CustomerKeySource),
}

impl Encryption {
    /// A short name for status, events and metrics.
    pub fn mode(&self) -> &'static str {
        match self {
            Encryption::None => "None",
            Encryption::SseS3 => "SSE-S3",
            Encryption::SseKms { .. } => "SSE-KMS",
            Encryption::SseC(_) => "SSE-C",
        }
    }
}

/// Where an SSE-C key is read from. The key itself is never part of a parsed location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerKeySource {
    /// `customerKeyEncryptionFile`: a file holding exactly 32 raw bytes.
    File(PathBuf),
    /// `customerKeyEncryptionSecret` (`name/key`): a Secret key holding exactly 32 bytes.
    Secret(SecretKeyRef),
}

/// Flexible checksums on uploads (`checksumAlgorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// `checksumAlgorithm: ""`: no flexible checksum headers or trailers at all.
    Disabled,
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Crc64Nvme,
}

impl Checksum {
    /// Velero's default when `checksumAlgorithm` is absent.
    pub const DEFAULT: Checksum = Checksum::Crc32;

    /// Every accepted spelling, as S3 names them.
    pub const NAMES: [(&'static str, Checksum); 5] = [
        ("CRC32", Checksum::Crc32),
        ("CRC32C", Checksum::Crc32c),
        ("SHA1", Checksum::Sha1),
        ("SHA256", Checksum::Sha256),
        ("CRC64NVME", Checksum::Crc64Nvme),
    ];
}

/// How the store client authenticates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `spec.credential`: a Secret key in AWS shared-credentials format.
    pub secret: Option<SecretKeyRef>,
    /// `profile` inside the credentials file.
    pub profile: Option<String>,
    /// `credentialsFile`: a path on the server's filesystem.
    pub file: Option<PathBuf>,
}

impl LocationConfig {
    /// Every Secret this location names, so a change to any of them re-checks it.
    pub fn secret_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        if let CaSource::Secret(r) = &self.trust.ca {
            names.push(&r.name);
        }
        if let Some(name) = &self.trust.client_cert_secret {
            names.push(name);
        }
        if let Some(r) = &self.credentials.secret {
            names.push(&r.name);
        }
        if let Encryption::SseC(CustomerKeySource::Secret(r)) = &self.encryption {
            names.push(&r.name);
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The key prefix everything of this location is written under (`""` or `prefix/`).
    pub fn key_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }
}
