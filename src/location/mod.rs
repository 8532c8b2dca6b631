//! The one parser of a BackupStorageLocation's configuration.
//!
//! The admission webhook and the controllers both call [`LocationConfig::from_spec`]: a rule
//! lives here once, and its message reads the same at `kubectl apply` time and in `status`.
//! Nothing here does I/O; Secrets are read later, by the storage layer, from the references
//! this parse produces.

mod cacert;
mod config;
mod findings;
mod model;

pub use cacert::{CaBundle, CertificateInfo, Inspected, inspect_base64, inspect_pem};
use findings::Findings;
pub use findings::{Rejected, Violation};
pub use model::*;

use std::path::{Component, Path, PathBuf};

use jiff::Timestamp;

use crate::api::{BackupStorageLocationSpec, GoDuration, LocalObjectReference, SecretKeySelector};

/// A location that parsed, with warnings the user should see.
#[derive(Debug)]
pub struct Parsed {
    pub config: LocationConfig,
    pub warnings: Vec<String>,
}

/// The directory the chart mounts credentials in, and the server's default for
/// `--credentials-dir`.
pub const DEFAULT_CREDENTIALS_DIR: &str = "/credentials";

/// Where a location's `credentialsFile` and `customerKeyEncryptionFile` may point. On the
/// server a location's author does not own the filesystem: a path anywhere would let whoever
/// may write a BackupStorageLocation make the server read any file it can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilePaths {
    /// Only under these directories (the server: `--credentials-dir`).
    Under(Vec<PathBuf>),
    /// Anywhere: the CLI, reading the files of the person who runs it.
    Anywhere,
}

impl Default for FilePaths {
    fn default() -> Self {
        FilePaths::Under(vec![PathBuf::from(DEFAULT_CREDENTIALS_DIR)])
    }
}

impl FilePaths {
    /// Refuse `path` (named by `field`) unless it is allowed: absolute, no `.` or `..`
    /// components, under one of the directories. The check is on the path as written: the
    /// directories are read-only mounts whose links stay inside them.
    fn check(&self, field: &str, path: &Path, findings: &mut Findings) {
        let FilePaths::Under(dirs) = self else {
            return;
        };
        let plain = path.is_absolute()
            && path
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        if plain && dirs.iter().any(|d| path.starts_with(d) && path != d) {
            return;
        }
        let allowed: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        findings.deny(
            field,
            format!(
                "{:?} is not under a directory this server reads credentials from ({}): the \
                 server only reads files under --credentials-dir, so that a location cannot \
                 make it read any file; put the file there (mounted from a Secret) or name a \
                 Secret instead",
                path.display(),
                allowed.join(", ")
            ),
        );
    }
}

impl LocationConfig {
    /// Parse a location spec as the server does (files only under the default credentials
    /// directory), judging certificate expiry against the current time.
    pub fn from_spec(spec: &BackupStorageLocationSpec) -> Result<Parsed, Rejected> {
        Self::from_spec_with(spec, &FilePaths::default())
    }

    /// Parse a location spec with `files` deciding where file paths may point.
    pub fn from_spec_with(
        spec: &BackupStorageLocationSpec,
        files: &FilePaths,
    ) -> Result<Parsed, Rejected> {
        Self::from_spec_at_with(spec, Timestamp::now(), files)
    }

    /// Parse a location spec, judging certificate expiry against `now`.
    pub fn from_spec_at(
        spec: &BackupStorageLocationSpec,
        now: Timestamp,
    ) -> Result<Parsed, Rejected> {
        Self::from_spec_at_with(spec, now, &FilePaths::default())
    }

    /// [`Self::from_spec_at`] with `files` deciding where file paths may point.
    pub fn from_spec_at_with(
        spec: &BackupStorageLocationSpec,
        now: Timestamp,
        files: &FilePaths,
    ) -> Result<Parsed, Rejected> {
        let mut findings = Findings::default();
        let provider = parse_provider(&spec.provider, &mut findings);
        let storage = &spec.object_storage;

        let bucket = parse_bucket(&storage.bucket, &mut findings);
        let prefix = storage
            .prefix
            .as_deref()
            .unwrap_or("")
            .trim_matches('/')
            .to_owned();

        let ca = parse_ca_source(spec, now, &mut findings);
        let client_cert_secret = storage
            .client_cert_ref
            .as_ref()
            .and_then(|r| client_cert_secret(r, &mut findings));
        let credential_secret = spec
            .credential
            .as_ref()
            .and_then(|s| secret_key_ref("spec.credential", s, &mut findings));

        let keys = config::parse(spec.config.as_ref(), &mut findings);
        if let Some(path) = &keys.credentials_file {
            files.check("spec.config.credentialsFile", path, &mut findings);
        }
        if let Encryption::SseC(CustomerKeySource::File(path)) = &keys.encryption {
            files.check("spec.config.customerKeyEncryptionFile", path, &mut findings);
        }

        let validation_frequency = parse_duration(
            "spec.validationFrequency",
            spec.validation_frequency.as_ref(),
            &mut findings,
        );
        let backup_sync_period = parse_duration(
            "spec.backupSyncPeriod",
            spec.backup_sync_period.as_ref(),
            &mut findings,
        );

        if keys.insecure_skip_tls_verify && !matches!(ca, CaSource::System) {
            findings.warn(
                "spec.config.insecureSkipTLSVerify is true, so the CA bundle given in \
                 spec.objectStorage is ignored; remove insecureSkipTLSVerify to use it",
            );
        }

        if !findings.violations.is_empty() {
            return Err(Rejected {
                violations: findings.violations,
                warnings: findings.warnings,
            });
        }
        let config = LocationConfig {
            provider: provider.unwrap_or(Provider::Aws),
            bucket: bucket.to_owned(),
            prefix,
            endpoint: keys.endpoint,
            trust: Trust {
                ca,
                insecure_skip_tls_verify: keys.insecure_skip_tls_verify,
                client_cert_secret,
            },
            encryption: keys.encryption,
            checksum: keys.checksum,
            tagging: keys.tagging,
            credentials: Credentials {
                secret: credential_secret,
                profile: keys.profile,
                file: keys.credentials_file,
            },
            read_write: spec.is_read_write(),
            validation_frequency: validation_frequency.flatten(),
            backup_sync_period: backup_sync_period.flatten(),
        };
        Ok(Parsed {
            config,
            warnings: findings.warnings,
        })
    }
}

fn parse_bucket<'a>(bucket: &'a str, findings: &mut Findings) -> &'a str {
    let bucket = bucket.trim();
    if bucket.is_empty() {
        findings.deny(
            "spec.objectStorage.bucket",
            "is required; name the bucket backups are written to",
        );
    } else if bucket.contains('/') {
        findings.deny(
            "spec.objectStorage.bucket",
            format!(
                "{bucket:?} holds a '/'; put only the bucket name here and the path in \
                 spec.objectStorage.prefix"
            ),
        );
    }
    bucket
}

/// The client certificate's Secret (`clientCertRef`): only its name is read.
fn client_cert_secret(reference: &LocalObjectReference, findings: &mut Findings) -> Option<String> {
    let name = reference.name.as_deref().unwrap_or("").trim();
    if name.is_empty() {
        findings.deny(
            "spec.objectStorage.clientCertRef.name",
            "is required; name a kubernetes.io/tls Secret holding tls.crt and tls.key",
        );
        return None;
    }
    Some(name.to_owned())
}

fn parse_provider(provider: &str, findings: &mut Findings) -> Option<Provider> {
    match provider.trim() {
        "aws" | "velero.io/aws" => Some(Provider::Aws),
        "" => {
            findings.deny(
                "spec.provider",
                "is required; set it to \"aws\" (or \"velero.io/aws\") for S3-compatible storage",
            );
            None
        }
        other => {
            findings.deny(
                "spec.provider",
                format!(
                    "{other:?} is not supported; veloxide stores backups in S3-compatible \
                     object storage: use \"aws\" or \"velero.io/aws\""
                ),
            );
            None
        }
    }
}

fn parse_ca_source(
    spec: &BackupStorageLocationSpec,
    now: Timestamp,
    findings: &mut Findings,
) -> CaSource {
    let storage = &spec.object_storage;
    let field = "spec.objectStorage.caCert";
    match (&storage.ca_cert, &storage.ca_cert_ref) {
        (Some(_), Some(_)) => {
            findings.deny(
                "spec.objectStorage",
                "caCert and caCertRef are both set; keep caCertRef (the CA in a Secret) and \
                 remove the deprecated inline caCert",
            );
            CaSource::System
        }
        (Some(inline), None) => match inspect_base64(field, inline, now) {
            Ok(inspected) => {
                findings.warn(
                    "spec.objectStorage.caCert is deprecated: store the CA in a Secret \
                     (kubectl create secret generic storage-ca-cert --from-file=ca-bundle.crt=ca.crt) \
                     and set caCertRef {name: storage-ca-cert, key: ca-bundle.crt} instead",
                );
                findings.warnings.extend(inspected.warnings);
                CaSource::Inline(inspected.bundle)
            }
            Err(message) => {
                findings.deny(field, message);
                CaSource::System
            }
        },
        (None, Some(selector)) => {
            match secret_key_ref("spec.objectStorage.caCertRef", selector, findings) {
                Some(reference) => CaSource::Secret(reference),
                None => CaSource::System,
            }
        }
        (None, None) => CaSource::System,
    }
}

/// Read a Secret key selector, requiring both the name and the key.
fn secret_key_ref(
    field: &str,
    selector: &SecretKeySelector,
    findings: &mut Findings,
) -> Option<SecretKeyRef> {
    let name = selector.name.as_deref().unwrap_or("").trim();
    let key = selector.key.as_deref().unwrap_or("").trim();
    if name.is_empty() {
        findings.deny(
            format!("{field}.name"),
            "is required; name the Secret (in the location's namespace)",
        );
    }
    if key.is_empty() {
        findings.deny(
            format!("{field}.key"),
            "is required; name the key inside the Secret's data",
        );
    }
    (!name.is_empty() && !key.is_empty()).then(|| SecretKeyRef {
        name: name.to_owned(),
        key: key.to_owned(),
    })
}

/// `Some(None)` when absent, `Some(Some(d))` when valid, `None` when refused.
fn parse_duration(
    field: &str,
    value: Option<&GoDuration>,
    findings: &mut Findings,
) -> Option<Option<std::time::Duration>> {
    match value.map(GoDuration::parse) {
        None => Some(None),
        Some(Ok(d)) => Some(Some(d)),
        Some(Err(e)) => {
            findings.deny(field, e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests;
