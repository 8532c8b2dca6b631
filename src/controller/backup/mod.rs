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

mod cleanup;
mod delete;
mod run;
pub mod state;
mod status;
pub mod sweep;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Context, Error, now, patch_status, publish};
use crate::api::backup::{STORAGE_LOCATION_LABEL, SYNCED_ANNOTATION};
use crate::api::label::valid_name;
use crate::api::{Backup, BackupPhase, BackupStorageLocation, BackupWrittenTo, LocationPhase};
use crate::backup::Plan;
pub use state::LEGACY_FINALIZER;
use state::{ACTION, CONTROLLER, State, status_patch};
use status::{failed_validation, started, waiting};

/// Run the controller until `term` is cancelled (lease lost or shutdown).
pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = Controller::new(api, watcher::Config::default());
    let state = Arc::new(State::new(ctx, term.clone(), controller.store()));
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
        .failed_reconcile(CONTROLLER, error, Duration::from_secs(1))
}

async fn reconcile(backup: Arc<Backup>, state: Arc<State>) -> Result<Action, Error> {
    let metrics = &state.ctx.metrics;
    let _timer = metrics.reconcile_timer(CONTROLLER);
    metrics
        .backups
        .total
        .set(state.objects.state().len() as i64);
    if backup.finalizers().iter().any(|f| f == LEGACY_FINALIZER) {
        return delete::release_legacy_finalizer(&backup, &state).await;
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
            if let Some(action) = cleanup::retry(&backup, &state).await? {
                return Ok(action);
            }
            delete::collect_if_expired(&backup, &state).await
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

async fn start(backup: &Backup, state: &State) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let name = backup.name_any();
    let api = state.api();
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
        patch_status(&api, &name, &status_patch(&status)["status"]).await?;
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
        publish(
            ctx,
            backup,
            EventType::Warning,
            "FailedValidation",
            ACTION,
            &note,
        )
        .await;
        return Ok(Action::await_change());
    }
    if let Some((reason, message)) = wait {
        return wait_with(backup, state, reason, &message, Duration::from_secs(2)).await;
    }

    // One backup at a time per location.
    let Some(_busy) = state.take(&location_name) else {
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
    };

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
    run::execute(state, claimed, &location, plan.expect("validated above")).await
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
        patch_status(
            &state.api(),
            &backup.name_any(),
            &status_patch(&status)["status"],
        )
        .await?;
        publish(
            &state.ctx,
            backup,
            EventType::Normal,
            reason,
            ACTION,
            message,
        )
        .await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::fixtures::mock_client;
    use crate::controller::{Context, Settings};
    use crate::metrics::Metrics;
    use axum::http::Response;
    use kube::client::Body;

    /// Two writers decide on the same resourceVersion; the second claim gets 409 from the API
    /// server. That replica must not run the backup: no store access, no event, no attempt.
    #[tokio::test]
    async fn a_conflicting_claim_runs_nothing() {
        let (client, mut handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let (objects, _writer) = kube::runtime::reflector::store::<Backup>();
        let state = Arc::new(State::new(ctx.clone(), CancellationToken::new(), objects));
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
