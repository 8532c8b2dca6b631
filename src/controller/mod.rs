//! The controllers: what runs on the replica holding the lease.

pub mod backup;
mod backup_cleanup;
mod backup_delete;
mod backup_run;
mod backup_status;
pub mod backup_sweep;
pub mod conditions;
mod defaults;
pub mod deletion;
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
pub mod schedule;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt as _};

use crate::api::BackupStorageLocation;
use crate::location::LocationConfig;
use crate::metrics::Metrics;
use crate::storage::{KubeSecrets, ObjectStore, StoreCache, resolve};

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
    /// How often locations are synced when they set no `backupSyncPeriod` (Velero's
    /// `--backup-sync-period`, 1m; zero disables the sync).
    pub backup_sync_period: Duration,
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
            backup_sync_period: Duration::from_secs(60),
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

/// The store of a location, with its Secrets resolved (the one storage path). The error is a
/// message for a status or an event (it carries no secret material).
pub async fn location_store(
    ctx: &Context,
    location: &BackupStorageLocation,
) -> Result<ObjectStore, String> {
    let config = LocationConfig::from_spec_with(&location.spec, &ctx.settings.files)
        .map_err(|e| e.to_string())?
        .config;
    let source = KubeSecrets::new(ctx.client.clone(), &ctx.settings.namespace);
    let resolved = resolve(&config, &source).await.map_err(|e| e.to_string())?;
    ctx.stores
        .store(&location.name_any(), &resolved)
        .map_err(|e| e.to_string())
}

/// Record an event about `object`; best effort (a failure is logged, never returned).
pub async fn publish_event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    kind: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1000).collect()),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not record an event");
    }
}

/// Whether `backup` is one of the newest `keepLastSuccessful` Completed backups of a schedule
/// with `spec.retention`: such a backup is never expired, by retention or by its TTL.
pub async fn kept_by_retention(
    ctx: &Context,
    backup: &crate::api::Backup,
) -> Result<bool, kube::Error> {
    use crate::api::{Backup, BackupPhase, Schedule};
    let schedule = backup.schedule();
    if schedule.is_empty() || backup.phase() != BackupPhase::Completed {
        return Ok(false);
    }
    let schedules: kube::Api<Schedule> =
        kube::Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let Some(policy) = schedules
        .get_opt(schedule)
        .await?
        .and_then(|s| s.spec.retention)
    else {
        return Ok(false);
    };
    let backups: kube::Api<Backup> =
        kube::Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let list = backups
        .list(&kube::api::ListParams::default().labels(&format!(
            "{}={schedule}",
            crate::api::backup::SCHEDULE_LABEL
        )))
        .await?
        .items;
    let candidates = crate::schedule::retention::candidates(schedule, &list);
    let name = backup.metadata.name.as_deref().unwrap_or_default();
    Ok(crate::schedule::retention::protected(&policy, &candidates)
        .iter()
        .any(|n| n == name))
}
