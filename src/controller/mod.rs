//! The controllers: what runs on the replica holding the lease.

pub mod backup;
mod backup_cleanup;
mod backup_delete;
mod backup_run;
mod backup_status;
pub mod backup_sweep;
pub mod conditions;
mod defaults;
pub mod download;
pub mod fence;
#[cfg(test)]
mod fixtures;
mod index;
pub mod location;
mod mirror;
pub mod restore;
mod restore_run;
mod restore_status;
pub mod restore_sweep;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::metrics::Metrics;
use crate::storage::StoreCache;

pub use defaults::default_winner;
pub use index::SecretIndex;
pub use mirror::mirror_locations;

/// The name every status write and event is attributed to.
pub const FIELD_MANAGER: &str = "veloxide";

/// Why a reconcile failed. Rule failures in a spec are not errors: they are written to status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the object has no {0}")]
    MissingField(&'static str),
}

impl Error {
    /// A stable label for the failure metric.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(e)) if e.code == 404 => "NotFound",
            Error::Kube(kube::Error::Api(e)) if e.code == 403 => "Forbidden",
            Error::Kube(_) => "KubeApi",
            Error::MissingField(_) => "InvalidObject",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the controllers are tuned; defaults follow Velero's.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The namespace the server watches and reads Secrets from.
    pub namespace: String,
    /// Revalidation period when a location does not set `validationFrequency` (Velero: 1m).
    pub default_validation_frequency: Duration,
    /// The first retry after a failed check; it doubles up to the validation frequency.
    pub failure_backoff: Duration,
    /// Location checks run at once at most (each is a few requests to a store).
    pub location_concurrency: u16,
    /// How backups run (TTL, page size, collector period, default location).
    pub backup: backup::BackupSettings,
    /// Where SSE-C downloads are served from.
    pub download: download::DownloadSettings,
    /// A store transfer with no byte for this long is abandoned (`--store-stall-timeout`).
    pub store_stall_timeout: Duration,
    /// Bytes a restore may spool to disk (`--restore-spool-limit`).
    pub restore_spool_bytes: u64,
    /// Where a location's file paths may point (`--credentials-dir`).
    pub files: crate::location::FilePaths,
}

impl Settings {
    pub fn new(namespace: impl Into<String>) -> Self {
        Settings {
            namespace: namespace.into(),
            default_validation_frequency: Duration::from_secs(60),
            failure_backoff: Duration::from_secs(5),
            location_concurrency: 16,
            backup: backup::BackupSettings::default(),
            download: download::DownloadSettings::default(),
            store_stall_timeout: crate::storage::stall::DEFAULT_STALL_TIMEOUT,
            restore_spool_bytes: crate::restore::spool::DEFAULT_SPOOL_BYTES,
            files: crate::location::FilePaths::default(),
        }
    }
}

/// Shared by every reconcile: clients, caches, metrics.
pub struct Context {
    pub client: Client,
    /// The client backups and restores read the cluster with: `client` unless
    /// [`Context::with_reader`] gave another (the server's has no built-in retry of 503s, see
    /// `backup::collect`).
    pub reader: Client,
    pub settings: Settings,
    pub metrics: Metrics,
    pub stores: StoreCache,
    pub secrets_index: SecretIndex,
    pub recorder: Recorder,
    pub(crate) validations: location::ValidationLog,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Metrics,
        instance: Option<String>,
    ) -> Arc<Self> {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance,
            },
        );
        Arc::new(Context {
            reader: client.clone(),
            client,
            stores: StoreCache::new().with_stall_timeout(settings.store_stall_timeout),
            settings,
            metrics,
            secrets_index: SecretIndex::default(),
            recorder,
            validations: location::ValidationLog::default(),
        })
    }

    /// What every controller's error policy does: count the error by `label`, log it, and try
    /// again soon (a write conflict sooner: the watch already brings the newer object).
    pub fn failed_reconcile(
        &self,
        controller: &str,
        label: &str,
        error: &dyn std::fmt::Display,
        conflict_retry: Duration,
    ) -> kube::runtime::controller::Action {
        self.metrics
            .reconcile_errors
            .with_label_values(&[controller, label])
            .inc();
        tracing::warn!(controller, error = %error, "reconcile failed");
        kube::runtime::controller::Action::requeue(if label == "Conflict" {
            conflict_retry
        } else {
            Duration::from_secs(5)
        })
    }

    /// The same context reading the cluster for backups and restores through `reader`.
    pub fn with_reader(
        client: Client,
        reader: Client,
        settings: Settings,
        metrics: Metrics,
        instance: Option<String>,
    ) -> Arc<Self> {
        let mut ctx = Arc::into_inner(Context::new(client, settings, metrics, instance))
            .expect("a new context has one owner");
        ctx.reader = reader;
        Arc::new(ctx)
    }
}
