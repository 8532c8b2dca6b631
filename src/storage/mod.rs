//! Object storage: the one trusted, encrypted path from veloxide to an S3-compatible store.
//!
//! ```text
//! LocationConfig + SecretSource ──resolve──▶ Resolved ──StoreCache::store──▶ ObjectStore
//!                                                         (clients cached by Fingerprint)
//! ObjectStore: put / upload (multipart) / get / head / list / delete / presigned_get / check
//!              claim_dir / dir_owner (a folder's owner marker, see `owner`)
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
mod owner;
mod ranged;
mod reason;
mod secrets;
mod sse;
pub mod stall;
mod stats;
mod store;
mod tls;
mod uploads;

pub use cache::StoreCache;
pub use check::{CheckReport, Outcome, Step, StepName};
pub use client::{Clients, Fingerprint};
pub use dir::Order;
pub use error::{Result, StorageError};
pub use kube::KubeSecrets;
pub use multipart::Uploaded;
pub use ops::{Listing, ObjectBody, ObjectInfo};
pub use owner::{Claim, OWNER_FILE, Owner, owner_key};
pub use reason::Reason;
pub use secrets::{
    ClientIdentity, CustomerKey, Redacted, Resolved, SecretError, SecretMaterial, SecretSource,
    StaticSecrets, client_identity, inspect_ca, resolve, resolve_ca,
};
pub use sse::{Recorded, Sse};
pub use stats::StorageStats;
pub use store::{MIN_PART_SIZE, MultipartOptions, ObjectStore};

use crate::location::LocationConfig;

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
