//! The Backup controller: prepare (location label), validate, wait for the location or for the
//! backup ahead of it, claim exactly once, run, write the final status; then ask for the
//! backup's deletion (a DeleteBackupRequest) when it expires.
//!
//! Deleting a Backup object deletes no data: the bucket is the source of truth, and backup sync
//! brings the object back while its files exist. Only a DeleteBackupRequest deletes files
//! (`controller::deletion`).
//!
//! Exactly once: the claim (`New` → `InProgress`) is a PUT of the status carrying the
//! resourceVersion the decision was made on, so of two writers only one succeeds (the other
//! gets 409 and looks again). Controllers only run on the lease holder, and a new holder first
//! fails every backup left `InProgress` ([`super::backup_sweep`]), as Velero does at start-up.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Context;
use super::backup_status::{failed_validation, started, waiting};
use crate::api::backup::{STORAGE_LOCATION_LABEL, SYNCED_ANNOTATION};
use crate::api::label::valid_name;
use crate::api::{
    Backup, BackupPhase, BackupStatus, BackupStorageLocation, BackupWrittenTo, LocationPhase,
};
use crate::backup::{BackupError, Plan, Progress};
use crate::storage::ObjectStore;

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "backup";
/// The finalizer older veloxide versions put on every Backup, which deleted `backups/<name>/`
/// when the object was deleted (even when the files were another cluster's). It is removed
/// from any Backup that still carries it, without deleting anything.
pub const LEGACY_FINALIZER: &str = "veloxide.io/backup-objects";

/// How backups are run; defaults follow Velero's server flags.
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// `ttl` when a backup gives none (Velero `--default-backup-ttl`, 720h).
    pub default_ttl: Duration,
    /// Objects per list request (Velero `--client-page-size`, 500).
    pub page_size: u32,
    /// The longest an expired backup waits for the collector (Velero's GC runs hourly).
    pub gc_frequency: Duration,
    /// The location used when none is named and none is marked default.
    pub default_location: String,
    /// `Some(ns)`: Secrets are read only in `ns` (`--secrets-scope namespace`).
    pub secrets_namespace: Option<String>,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            default_ttl: Duration::from_secs(720 * 3600),
            page_size: 500,
            gc_frequency: Duration::from_secs(3600),
            default_location: "default".into(),
            secrets_namespace: None,
        }
    }
}

/// Why a backup reconcile failed (the backup's own failures are written to its status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("deleting the backup's objects failed: {0}")]
    Store(#[from] BackupError),
    #[error("{0}")]
    Location(String),
}

impl Error {
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 409 => "Conflict",
            Error::Kube(_) => "KubeApi",
            Error::Store(e) => e.label(),
            Error::Location(_) => "LocationUnusable",
        }
    }
}

/// What every reconcile of one leadership term shares.
pub(super) struct State {
    pub ctx: Arc<Context>,
    term: CancellationToken,
    /// Locations with a backup running here: one at a time per location.
    busy: Mutex<HashSet<String>>,
    objects: Store<Backup>,
}

/// Frees a location when the backup that took it ends, however it ends.
struct Busy<'a>(&'a State, String);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.lock().expect("busy lock").remove(&self.1);
    }
}

/// Run the controller until `term` is cancelled (lease lost or shutdown).
pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = Controller::new(api, watcher::Config::default());
    let state = Arc::new(State {
        ctx,
        term: term.clone(),
        busy: Mutex::default(),
        objects: controller.store(),
    });
    controller
        .graceful_shutdown_on(term.cancelled_owned())
        .run(reconcile, error_policy, state)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "backup reconcile did not complete");
            }
        })
        .await;
}

fn error_policy(_backup: Arc<Backup>, error: &Error, state: Arc<State>) -> Action {
    state
        .ctx
        .failed_reconcile(CONTROLLER, error.label(), error, Duration::from_secs(1))
}

async fn reconcile(backup: Arc<Backup>, state: Arc<State>) -> Result<Action, Error> {
    let metrics = &state.ctx.metrics;
    let _timer = metrics.reconcile_timer(CONTROLLER);
    metrics
        .backups
        .total
        .set(state.objects.state().len() as i64);
    if backup.finalizers().iter().any(|f| f == LEGACY_FINALIZER) {
        return super::backup_delete::release_legacy_finalizer(&backup, &state).await;
    }
    if backup.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    // A Backup the sync created from a location's files is a record of a backup made
    // elsewhere: never run, even in the moment before the sync writes its status.
    if backup.phase() == BackupPhase::New && is_synced(&backup) {
        return Ok(Action::await_change());
    }
    match backup.phase() {
        BackupPhase::New | BackupPhase::Queued | BackupPhase::ReadyToStart => {
            start(&backup, &state).await
        }
        phase if phase.is_terminal() => {
            if let Some(action) = super::backup_cleanup::retry(&backup, &state).await? {
                return Ok(action);
            }
            super::backup_delete::collect_if_expired(&backup, &state).await
        }
        // InProgress here is either running in this process (reconciles of one object never
        // overlap) or was left by another leader, which the start-up sweep already failed.
        _ => Ok(Action::await_change()),
    }
}

/// Whether the sync created this Backup from files found in a location.
fn is_synced(backup: &Backup) -> bool {
    backup.annotations().contains_key(SYNCED_ANNOTATION)
}

pub(super) fn api(state: &State) -> Api<Backup> {
    Api::namespaced(state.ctx.client.clone(), &state.ctx.settings.namespace)
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

async fn start(backup: &Backup, state: &State) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let name = backup.name_any();
    let api = api(state);
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let location_name = match backup
        .spec
        .storage_location
        .as_deref()
        .filter(|l| !l.is_empty())
    {
        Some(l) => l.to_owned(),
        None => default_location(&locations, &ctx.settings.backup.default_location).await?,
    };

    // Prepare: Velero's location label and the resolved location name, in one write guarded by
    // the resourceVersion; the watch brings the result back here. No finalizer: deleting the
    // object deletes no data.
    let label = valid_name(&location_name);
    let labelled = backup.labels().get(STORAGE_LOCATION_LABEL) == Some(&label);
    if !labelled || backup.spec.storage_location.as_deref() != Some(location_name.as_str()) {
        let patch = json!({
            "metadata": {
                "resourceVersion": backup.resource_version(),
                "labels": {STORAGE_LOCATION_LABEL: label},
            },
            "spec": {"storageLocation": location_name},
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        return Ok(Action::await_change());
    }

    // Validate, as Velero does before it runs anything.
    let mut errors = Vec::new();
    let plan = Plan::from_spec(&backup.spec)
        .map_err(|e| errors.extend(e))
        .ok();
    let ttl = match backup.spec.ttl.as_ref().map(|t| t.parse()) {
        None => ctx.settings.backup.default_ttl,
        Some(Ok(d)) if d.is_zero() => ctx.settings.backup.default_ttl,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            errors.push(format!("spec.ttl: {e}"));
            Duration::ZERO
        }
    };
    let location = locations.get_opt(&location_name).await?;
    let mut wait = None;
    match &location {
        None => errors.push(format!(
            "backup storage location {location_name:?} does not exist; create it or name an \
             existing one in spec.storageLocation"
        )),
        Some(l) if !l.spec.is_read_write() => errors.push(format!(
            "backup can't be created because backup storage location {location_name} is \
             currently in read-only mode"
        )),
        Some(l) => match l.status.as_ref().and_then(|s| s.phase) {
            Some(LocationPhase::Available) => {}
            Some(LocationPhase::Unavailable) => errors.push(format!(
                "backup can't be created because BackupStorageLocation {location_name} is in \
                 Unavailable status: {}",
                l.status
                    .as_ref()
                    .and_then(|s| s.message.as_deref())
                    .unwrap_or("")
            )),
            // Velero fails such backups; a location created together with its first backup
            // simply has not been checked yet, so wait for the check instead.
            None => {
                wait = Some((
                    "WaitingForLocation",
                    format!(
                        "backup storage location {location_name} has not been validated yet; \
                         the backup starts once it is Available"
                    ),
                ))
            }
        },
    }
    if !errors.is_empty() {
        let status = failed_validation(backup.status.as_ref(), errors, &now());
        patch_status(&api, &name, &status).await?;
        ctx.metrics
            .backups
            .validation_failure_total
            .with_label_values(&[backup.schedule()])
            .inc();
        let note = status
            .validation_errors
            .clone()
            .unwrap_or_default()
            .join("; ");
        event(ctx, backup, EventType::Warning, "FailedValidation", &note).await;
        return Ok(Action::await_change());
    }
    if let Some((reason, message)) = wait {
        return wait_with(backup, state, reason, &message, Duration::from_secs(2)).await;
    }

    // One backup at a time per location.
    if !state
        .busy
        .lock()
        .expect("busy lock")
        .insert(location_name.clone())
    {
        let message = format!(
            "another backup is running against location {location_name}; this one starts when it ends"
        );
        return wait_with(
            backup,
            state,
            "LocationBusy",
            &message,
            Duration::from_secs(1),
        )
        .await;
    }
    let _busy = Busy(state, location_name.clone());

    // Claim: PUT the status with the resourceVersion this decision was made on.
    let location = location.expect("validated above");
    let mut claimed = backup.clone();
    let mut status = started(backup.status.as_ref(), ttl, &now());
    // Where its files go, recorded before the first byte is written: deletion goes there.
    status.written_to = Some(BackupWrittenTo::of(
        &location_name,
        &location.spec.object_storage,
    ));
    claimed.status = Some(status);
    claimed.metadata.managed_fields = None;
    let claimed = match api
        .replace_status(&name, &PostParams::default(), &claimed)
        .await
    {
        Ok(c) => c,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            tracing::info!(backup = %name, "the backup changed before it could be claimed (another replica may have it); looking again");
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        Err(e) => return Err(e.into()),
    };
    super::backup_run::execute(state, claimed, &location, plan.expect("validated above")).await
}

/// Record why the backup waits (once), and look again after `retry`.
async fn wait_with(
    backup: &Backup,
    state: &State,
    reason: &str,
    message: &str,
    retry: Duration,
) -> Result<Action, Error> {
    if let Some(status) = waiting(backup.status.as_ref(), reason, message, &now()) {
        patch_status(&api(state), &backup.name_any(), &status).await?;
        event(&state.ctx, backup, EventType::Normal, reason, message).await;
    }
    Ok(Action::requeue(retry))
}

/// The location marked default, else the server's default name (Velero's rule).
async fn default_location(
    locations: &Api<BackupStorageLocation>,
    fallback: &str,
) -> Result<String, Error> {
    let list = locations.list(&Default::default()).await?;
    Ok(list
        .items
        .iter()
        .find(|l| l.spec.default == Some(true))
        .map_or_else(|| fallback.to_owned(), |l| l.name_any()))
}

/// A merge patch of the whole status on the status subresource.
pub(super) async fn patch_status(
    api: &Api<Backup>,
    name: &str,
    status: &BackupStatus,
) -> Result<Backup, kube::Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&status_patch(status)),
    )
    .await
}

/// The merge patch writing `status`. A record of files the status no longer has (a run that
/// turned out to own nothing) is removed explicitly: left out, a merge patch would keep it, and
/// a later deletion would delete another backup's files through it.
pub(super) fn status_patch(status: &BackupStatus) -> serde_json::Value {
    let mut patch = json!({ "status": status });
    if status.written_to.is_none() {
        patch["status"]["writtenTo"] = serde_json::Value::Null;
    }
    patch
}

/// Events are best effort.
pub(super) async fn event(
    ctx: &Context,
    backup: &Backup,
    kind: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1000).collect()),
        action: "Backup".into(),
        secondary: None,
    };
    super::location::publish(ctx, &event, &backup.object_ref(&())).await;
}

/// The store of a location, with its Secrets resolved (the one storage path).
pub(super) async fn store_for(
    ctx: &Context,
    location: &BackupStorageLocation,
) -> Result<ObjectStore, Error> {
    super::location_store(ctx, location)
        .await
        .map_err(Error::Location)
}

impl State {
    pub(super) fn cancelled(&self) -> &CancellationToken {
        &self.term
    }
}

/// Progress as the status shows it.
pub(super) fn progress_status(p: Progress) -> serde_json::Value {
    json!({"status": {"progress": {"totalItems": p.total, "itemsBackedUp": p.items, "bytesUploaded": p.bytes}}})
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::mock_client;
    use super::super::{Context, Settings};
    use super::*;
    use crate::metrics::Metrics;
    use axum::http::Response;
    use kube::client::Body;

    /// A run that finds its name taken ends FailedValidation, and the merge patch of that
    /// status removes the record of files made at the claim.
    #[test]
    fn a_status_without_files_removes_the_record() {
        let status = BackupStatus::default();
        assert_eq!(
            status_patch(&status)["status"]["writtenTo"],
            serde_json::Value::Null
        );
        assert!(status_patch(&status)["status"].get("writtenTo").is_some());
    }

    /// Two writers decide on the same resourceVersion; the second claim gets 409 from the API
    /// server. That replica must not run the backup: no store access, no event, no attempt.
    #[tokio::test]
    async fn a_conflicting_claim_runs_nothing() {
        let (client, mut handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let (objects, _writer) = kube::runtime::reflector::store::<Backup>();
        let state = Arc::new(State {
            ctx: ctx.clone(),
            term: CancellationToken::new(),
            busy: Mutex::default(),
            objects,
        });
        let backup: Backup = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "velero", "resourceVersion": "41",
                         "labels": {STORAGE_LOCATION_LABEL: "default"}},
            "spec": {"storageLocation": "default"},
        }))
        .unwrap();
        let location = json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": "velero"},
            "spec": {"provider": "aws", "objectStorage": {"bucket": "b"}},
            "status": {"phase": "Available"},
        });
        let verifier = tokio::spawn(async move {
            let reply = |code: u16, body: serde_json::Value| {
                Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap()
            };
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(request.method(), "GET");
            assert!(
                request
                    .uri()
                    .path()
                    .ends_with("/backupstoragelocations/default")
            );
            send.send_response(reply(200, location));
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(request.method(), "PUT");
            assert_eq!(
                request.uri().path(),
                "/apis/velero.io/v1/namespaces/velero/backups/b/status"
            );
            let body: serde_json::Value =
                serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap())
                    .unwrap();
            // The claim carries the resourceVersion it was decided on.
            assert_eq!(body["metadata"]["resourceVersion"], "41");
            assert_eq!(body["status"]["phase"], "InProgress");
            send.send_response(reply(409, json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
                "message": "Operation cannot be fulfilled on backups.velero.io \"b\": the object has been modified",
            })));
            let more =
                tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await;
            assert!(more.is_err(), "unexpected request after the conflict");
        });
        let action = reconcile(Arc::new(backup), state).await.unwrap();
        assert_eq!(action, Action::requeue(Duration::from_millis(500)));
        verifier.await.unwrap();
        let metrics = ctx.metrics.render();
        assert!(
            metrics.contains(r#"velero_backup_attempt_total{schedule=""} 0"#),
            "{metrics}"
        );
    }
}
