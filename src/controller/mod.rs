//! The controllers: what runs on the replica holding the lease.
//!
//! One folder per kind (`location/`, `backup/`, `restore/`, `download/`, `schedule/`, `sync/`,
//! `deletion/`), each importing only from here and the leaf modules beside this file, never
//! from another kind's folder. Shared here: the [`Context`], the one [`Error`], the location →
//! store step ([`store_for`]), status patches and events for any kind.

pub mod backoff;
pub mod backup;
mod claim;
pub mod deletion;
pub mod download;
pub mod enabled;
pub mod fence;
#[cfg(test)]
mod fixtures;
mod index;
pub mod list;
pub mod location;
mod mirror;
pub mod podvolume;
pub mod restore;
pub mod schedule;
pub mod serverstatus;
mod settings;
pub mod sync;
mod validations;
pub mod written;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::api::BackupStorageLocation;
use crate::backup::BackupError;
use crate::location::LocationConfig;
use crate::metrics::Metrics;
use crate::storage::{KubeSecrets, ObjectStore, StoreCache};

pub use crate::api::FIELD_MANAGER;
pub use index::SecretIndex;
pub use mirror::mirror_locations;
pub use settings::{BackupSettings, DownloadSettings, Settings};
pub use validations::ValidationLog;

/// Why a reconcile failed, for every controller. Rule failures in a spec are not errors: they
/// are written to status. [`Error::label`] is both the failure metric's label and the event
/// reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the object has no {0}")]
    MissingField(&'static str),
    #[error("deleting the backup's objects failed: {0}")]
    Store(#[from] BackupError),
    #[error("{0}")]
    Location(String),
}

impl Error {
    /// A stable label for the failure metric and the event reason.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(e) if is_conflict(e) => "Conflict",
            Error::Kube(kube::Error::Api(e)) if e.code == 404 => "NotFound",
            Error::Kube(kube::Error::Api(e)) if e.code == 403 => "Forbidden",
            Error::Kube(_) => "KubeApi",
            Error::MissingField(_) => "InvalidObject",
            Error::Store(e) => e.label(),
            Error::Location(_) => "LocationUnusable",
        }
    }
}

/// Whether the API server refused a write because the object changed since it was read (409).
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e) if e.code == 409)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    pub(crate) validations: ValidationLog,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Metrics,
        instance: Option<String>,
    ) -> Arc<Self> {
        Arc::new(Context::build(
            client.clone(),
            client,
            settings,
            metrics,
            instance,
        ))
    }

    /// What every controller's error policy does: count the error by its label, log it, and
    /// try again soon (a write conflict after `conflict_retry`: the watch already brings the
    /// newer object).
    pub fn failed_reconcile(
        &self,
        controller: &str,
        error: &Error,
        conflict_retry: Duration,
    ) -> Action {
        let label = error.label();
        self.metrics
            .reconcile_errors
            .with_label_values(&[controller, label])
            .inc();
        tracing::warn!(controller, error = %error, "reconcile failed");
        Action::requeue(if label == "Conflict" {
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
        Arc::new(Context::build(client, reader, settings, metrics, instance))
    }

    fn build(
        client: Client,
        reader: Client,
        settings: Settings,
        metrics: Metrics,
        instance: Option<String>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance,
            },
        );
        Context {
            reader,
            client,
            stores: StoreCache::new().with_stall_timeout(settings.store_stall_timeout),
            settings,
            metrics,
            secrets_index: SecretIndex::default(),
            recorder,
            validations: ValidationLog::default(),
        }
    }
}

/// The store of a location, ready to use: its spec parsed, its Secrets resolved and its client
/// built or taken from the cache ([`crate::storage::open`], the one storage path). The error is a
/// message for a status or an event (it carries no secret material).
pub async fn store_for(
    ctx: &Context,
    location: &BackupStorageLocation,
) -> Result<ObjectStore, String> {
    let config = LocationConfig::from_spec_with(&location.spec, &ctx.settings.files)
        .map_err(|e| e.to_string())?
        .config;
    let source = KubeSecrets::new(ctx.client.clone(), &ctx.settings.namespace);
    crate::storage::open(&config, &source, &ctx.stores, &location.name_any())
        .await
        .store()
        .map_err(|e| e.to_string())
}

/// Run `controller` until `term` ends (lease lost or shutdown): every kind's loop. A reconcile
/// that did not complete (the object left the cache, say) is only logged; failures are counted
/// by `error_policy`.
pub async fn run_until<K, S, Fut>(
    controller: Controller<K>,
    term: CancellationToken,
    reconcile: impl FnMut(Arc<K>, Arc<S>) -> Fut + Send,
    error_policy: impl Fn(Arc<K>, &Error, Arc<S>) -> Action + Send,
    state: Arc<S>,
    label: &'static str,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    S: Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    controller
        .graceful_shutdown_on(term.cancelled_owned())
        .run(reconcile, error_policy, state)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(controller = label, error = %e, "reconcile did not complete");
            }
        })
        .await;
    // Which controllers ended matters when a shutdown runs into its timeout.
    tracing::debug!(controller = label, "controller stopped");
}

/// `Time` now: what every status timestamp is written with.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// A merge patch of `status` on the status subresource of `name` (the spec is never touched).
pub async fn patch_status<K>(
    api: &Api<K>,
    name: &str,
    status: &impl Serialize,
) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// Remove `finalizer` from `object`, guarded by the resourceVersion read, so a finalizer
/// another controller added meanwhile is never dropped (the write fails with 409 and the
/// reconcile runs again).
pub async fn release_finalizer<K>(
    api: &Api<K>,
    object: &K,
    finalizer: &str,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let keep: Vec<&String> = object
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = serde_json::json!({"metadata": {
        "resourceVersion": object.resource_version(),
        "finalizers": keep,
    }});
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Record an event about `object`; best effort (a failure is logged, never returned).
pub async fn publish<K: Resource<DynamicType = ()>>(
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
    publish_to(ctx, &event, &object.object_ref(&())).await;
}

/// Record `event` about `reference` as it is; best effort, as [`publish`].
pub async fn publish_to(ctx: &Context, event: &Event, reference: &ObjectReference) {
    if let Err(e) = ctx.recorder.publish(event, reference).await {
        tracing::warn!(error = %e, reason = %event.reason, "could not record an event");
    }
}

/// Whether `backup` is one of the newest `keepLastSuccessful` Completed backups of a schedule
/// with `spec.retention` that made it in this cluster: such a backup is never expired, by
/// retention or by its TTL. Another cluster's backup (synced here under the same schedule
/// name) is never kept by this cluster's policy.
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
    let Some(schedule) = schedules.get_opt(schedule).await? else {
        return Ok(false);
    };
    let Some(policy) = schedule.spec.retention.clone() else {
        return Ok(false);
    };
    if !crate::schedule::made_by(&schedule, backup) {
        return Ok(false);
    }
    let backups: kube::Api<Backup> =
        kube::Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let params =
        kube::api::ListParams::default().labels(&crate::schedule::own::selector(&schedule));
    let list = list::all(&backups, &params).await?;
    let candidates = crate::schedule::retention::candidates(&schedule, &list);
    let name = backup.metadata.name.as_deref().unwrap_or_default();
    Ok(crate::schedule::retention::protected(&policy, &candidates)
        .iter()
        .any(|n| n == name))
}
