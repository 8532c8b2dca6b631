//! Object storage: the one trusted, encrypted path from veloxide to an S3-compatible store.
//!
//! ```text
//! LocationConfig + SecretSource ──resolve──▶ Resolved ──StoreCache::store──▶ ObjectStore
//!                                                         (clients cached by Fingerprint)
//! ObjectStore: put / upload (multipart) / get / head / list / delete / presigned_get / check
//! ```
//! Every operation applies the location's encryption and TLS settings; nothing else in
//! veloxide builds an S3 or KMS client. Keys passed to operations are relative to the
//! location's prefix.

mod cache;
mod check;
mod client;
mod credentials;
mod dir;
mod error;
mod kube;
mod multipart;
mod ops;
mod reason;
mod secrets;
mod sse;
pub mod stall;
mod stats;
mod tls;
mod uploads;

use std::sync::Arc;

pub use cache::StoreCache;
pub use check::{CheckReport, Outcome, Step, StepName};
pub use client::{Clients, Fingerprint};
pub use error::{Result, StorageError};
pub use kube::KubeSecrets;
pub use multipart::{MIN_PART_SIZE, MultipartOptions, Uploaded};
pub use ops::{Listing, ObjectBody, ObjectInfo};
pub use reason::Reason;
pub use secrets::{
    ClientIdentity, CustomerKey, Redacted, Resolved, SecretError, SecretMaterial, SecretSource,
    StaticSecrets, client_identity, inspect_ca, resolve, resolve_ca,
};
pub use sse::{Recorded, Sse};
pub use stats::StorageStats;

use crate::location::{Checksum, LocationConfig};

/// Whether a log event (or span) may be written at all, whatever `RUST_LOG` says. `false` for:
/// - everything from the SigV4 signer (`aws_sigv4`): at trace it logs the canonical request
///   with its header values, and SSE-C sends the customer key in a signed header;
/// - the SDK's trace events (`aws_*`): the orchestrator logs whole requests and responses
///   (headers, the SSE-C key among them; STS bodies, credentials among them);
/// - any SDK event with a credentials field: aws-config logs `loaded base credentials
///   creds=Credentials { access_key_id: .. }` at info.
///
/// `telemetry::init` installs it as a filter of its own beside the user's, so no directive can
/// override it.
pub fn log_event_is_secret_safe(meta: &tracing::Metadata<'_>) -> bool {
    /// Field names under which the SDK logs credentials, requests or signing material.
    const SECRET_FIELDS: [&str; 7] = [
        "creds",
        "credentials",
        "request",
        "response",
        "canonical_request",
        "string_to_sign",
        "params",
    ];
    let target = meta.target();
    if target.starts_with("aws_sigv4") {
        return false;
    }
    if target.starts_with("aws_") {
        if *meta.level() == tracing::Level::TRACE {
            return false;
        }
        if meta
            .fields()
            .iter()
            .any(|f| SECRET_FIELDS.contains(&f.name()))
        {
            return false;
        }
    }
    true
}

/// A location's store: its (shared, cached) clients plus what every operation needs to know.
pub struct ObjectStore {
    clients: Arc<Clients>,
    config: LocationConfig,
    sse: Sse,
    multipart: MultipartOptions,
    /// How long a transfer may go without a byte (see [`stall`]).
    stall: std::time::Duration,
    /// The ARN the configured KMS key id or alias resolves to, looked up once.
    kms_key_arn: tokio::sync::OnceCell<Option<String>>,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("bucket", &self.config.bucket)
            .field("prefix", &self.config.prefix)
            .field("encryption", &self.config.encryption.mode())
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// A store over already-built clients (see [`StoreCache`], which reuses them).
    pub fn new(clients: Arc<Clients>, resolved: &Resolved) -> Result<ObjectStore> {
        let sse = Sse::new(
            &resolved.config.encryption,
            resolved.secrets.customer_key.as_ref(),
        )
        .ok_or_else(|| {
            StorageError::Config("SSE-C is configured but no customer key was resolved".to_owned())
        })?;
        Ok(ObjectStore {
            clients,
            config: resolved.config.clone(),
            sse,
            multipart: MultipartOptions::default(),
            stall: stall::DEFAULT_STALL_TIMEOUT,
            kms_key_arn: tokio::sync::OnceCell::new(),
        })
    }

    /// Build a store with fresh clients (no cache); for one-shot use such as the CLI.
    pub fn build(resolved: &Resolved) -> Result<ObjectStore> {
        ObjectStore::new(Clients::build(resolved)?, resolved)
    }

    /// Change how multipart uploads are cut and how many parts may be in flight.
    pub fn with_multipart(mut self, options: MultipartOptions) -> Self {
        self.multipart = options;
        self
    }

    /// Change how long a body read or a part upload may go without progress.
    pub fn with_stall_timeout(mut self, limit: std::time::Duration) -> Self {
        self.stall = limit;
        self
    }

    pub fn stall_timeout(&self) -> std::time::Duration {
        self.stall
    }

    pub fn config(&self) -> &LocationConfig {
        &self.config
    }

    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }

    /// The full object key for a key relative to the location's prefix.
    pub fn full_key(&self, key: &str) -> String {
        format!(
            "{}{}",
            self.config.key_prefix(),
            key.trim_start_matches('/')
        )
    }

    fn checksum_algorithm(&self) -> Option<aws_sdk_s3::types::ChecksumAlgorithm> {
        use aws_sdk_s3::types::ChecksumAlgorithm as A;
        match self.config.checksum {
            Checksum::Disabled => None,
            Checksum::Crc32 => Some(A::Crc32),
            Checksum::Crc32c => Some(A::Crc32C),
            Checksum::Sha1 => Some(A::Sha1),
            Checksum::Sha256 => Some(A::Sha256),
            Checksum::Crc64Nvme => Some(A::Crc64Nvme),
        }
    }
}

/// The one path from a parsed location to a ready [`ObjectStore`]: resolve its Secrets through
/// `source`, then build its clients or reuse those `cache` holds for the same inputs. What
/// every user of a location calls: the controllers, `veloxide verify` and the tests.
pub async fn open(
    config: &LocationConfig,
    source: &impl SecretSource,
    cache: &StoreCache,
    location: &str,
) -> Opened {
    match resolve(config, source).await {
        Ok(resolved) => Opened {
            store: cache.store(location, &resolved),
            resolved: Some(resolved),
        },
        Err(e) => Opened {
            resolved: None,
            store: Err(e.into()),
        },
    }
}

/// What [`open`] came to: the resolved Secrets (`None` when they could not be), and the store
/// or why there is none.
pub struct Opened {
    pub resolved: Option<Resolved>,
    pub store: Result<ObjectStore>,
}

impl Opened {
    /// The store, or why there is none.
    pub fn store(self) -> Result<ObjectStore> {
        self.store
    }

    /// Check the store; a store that could not be opened is the report's first step.
    pub async fn check(self) -> CheckReport {
        match self.store {
            Ok(store) => store.check().await,
            Err(e) => CheckReport::secrets_failed(&e),
        }
    }
}
