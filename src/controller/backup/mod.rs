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
pub mod expiry;
pub mod head;
mod prepare;
mod run;
mod settle;
pub mod state;
mod status;
pub mod sweep;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::claim::claim;
use super::{Context, Error, now, patch_status, publish, run_until};
use crate::api::backup::SYNCED_ANNOTATION;
use crate::api::{Backup, BackupPhase, BackupWrittenTo};
use head::BackupHead;
pub use state::LEGACY_FINALIZER;
use state::{ACTION, CONTROLLER, State, status_patch};
use status::{failed_validation, started, waiting};
use validate::Checked;

/// Run the controller until `term` is cancelled (lease lost or shutdown).
pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    // The cache holds heads, not whole Backups: a synced bucket of 100,000 backups is
    // 100,000 objects watched here (`head`).
    let api: Api<BackupHead> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = super::list::trimmed_controller(api, watcher::Config::default(), head::trim);
    let state = Arc::new(State::new(ctx, term.clone(), controller.store()));
    run_until(controller, term, reconcile, error_policy, state, CONTROLLER).await;
}

fn error_policy(_backup: Arc<BackupHead>, error: &Error, state: Arc<State>) -> Action {
    state
        .ctx
        .failed_reconcile(CONTROLLER, error, Duration::from_secs(1))
}

/// Decide from the cached head when it says "wait"; otherwise read the whole Backup and
/// reconcile that.
async fn reconcile(head: Arc<BackupHead>, state: Arc<State>) -> Result<Action, Error> {
    let metrics = &state.ctx.metrics;
    let _timer = metrics.reconcile_timer(CONTROLLER);
    metrics.backups.total.set(state.objects.len() as i64);
    let settings = &state.ctx.settings;
    let gc = settings.enabled.gc.then_some(settings.backup.gc_frequency);
    if let Some(action) = settle::settled(&head, gc, jiff::Timestamp::now()) {
        return Ok(action);
    }
    match state.api().get_opt(&head.name_any()).await? {
        Some(backup) => reconcile_backup(Arc::new(backup), state).await,
        // Deleted meanwhile: the watch says so next.
        None => Ok(Action::await_change()),
    }
}

async fn reconcile_backup(backup: Arc<Backup>, state: Arc<State>) -> Result<Action, Error> {
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
    let on = &state.ctx.settings.enabled;
    match backup.phase() {
        // `--disable-controllers backup` (or `--restore-only`): new backups wait, as in Velero.
        BackupPhase::New | BackupPhase::Queued | BackupPhase::ReadyToStart if !on.backup => {
            Ok(Action::await_change())
        }
        BackupPhase::New | BackupPhase::Queued | BackupPhase::ReadyToStart => {
            start(&backup, &state).await
        }
        phase if phase.is_terminal() => {
            if let Some(action) = cleanup::retry(&backup, &state).await? {
                return Ok(action);
            }
            // `--disable-controllers gc`: expired backups stay.
            if !on.gc {
                return Ok(Action::await_change());
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

/// A new backup: prepare, validate, take its location, claim, run.
async fn start(backup: &Backup, state: &State) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let location_name = prepare::location_name(ctx, backup).await?;
    if prepare::label(&state.api(), backup, &location_name).await? {
        // The watch brings the labelled object back here.
        return Ok(Action::await_change());
    }
    let ready = match validate::validate(ctx, backup, &location_name).await? {
        Checked::Invalid(errors) => return failed_validation_of(backup, state, errors).await,
        Checked::Wait(reason, message) => {
            return wait_with(backup, state, reason, &message, Duration::from_secs(2)).await;
        }
        Checked::Ready(ready) => ready,
    };
    // One backup at a time per location.
    let Some(_busy) = state.take(&location_name) else {
        let message = format!(
            "another backup is running against location {location_name}; this one starts when it ends"
        );
        let retry = Duration::from_secs(1);
        return wait_with(backup, state, "LocationBusy", &message, retry).await;
    };
    let mut claimed = backup.clone();
    let mut status = started(backup.status.as_ref(), ready.ttl, &now());
    // Where its files go, recorded before the first byte is written: deletion goes there.
    // Whose: the owner marker the run writes names this uid, and every cleanup checks it.
    status.written_to =
        Some(BackupWrittenTo::of(&location_name, &ready.location.spec).owned_by(backup.uid()));
    claimed.status = Some(status);
    let Some(claimed) = claim(&state.api(), &claimed).await? else {
        return Ok(Action::requeue(Duration::from_millis(500)));
    };
    run::execute(state, claimed, *ready).await
}

/// Record the spec's problems: the backup ends `FailedValidation`.
async fn failed_validation_of(
    backup: &Backup,
    state: &State,
    errors: Vec<String>,
) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let status = failed_validation(backup.status.as_ref(), errors, &now());
    let patch = status_patch(&status);
    patch_status(&state.api(), &backup.name_any(), &patch["status"]).await?;
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
    let kind = EventType::Warning;
    publish(ctx, backup, kind, "FailedValidation", ACTION, &note).await;
    Ok(Action::await_change())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::STORAGE_LOCATION_LABEL;
    use crate::controller::fixtures::mock_client;
    use crate::controller::{Context, Settings};
    use crate::metrics::Metrics;
    use axum::http::Response;
    use kube::client::Body;
    use serde_json::json;

    /// Two writers decide on the same resourceVersion; the second claim gets 409 from the API
    /// server. That replica must not run the backup: no store access, no event, no attempt.
    #[tokio::test]
    async fn a_conflicting_claim_runs_nothing() {
        let (client, mut handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let (objects, _writer) = kube::runtime::reflector::store::<BackupHead>();
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
        let action = reconcile_backup(Arc::new(backup), state).await.unwrap();
        assert_eq!(action, Action::requeue(Duration::from_millis(500)));
        verifier.await.unwrap();
        let metrics = ctx.metrics.render();
        assert!(
            metrics.contains(r#"velero_backup_attempt_total{schedule=""} 0"#),
            "{metrics}"
        );
    }

    /// A Backup still carrying the older data-deleting finalizer loses it (only it, guarded by
    /// the version read) and nothing else happens: no store access, no status, no event.
    #[tokio::test]
    async fn the_legacy_finalizer_is_released_without_touching_the_store() {
        use crate::controller::fixtures::{Expect, serve};
        let (client, handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let (objects, _writer) = kube::runtime::reflector::store::<BackupHead>();
        let state = Arc::new(State::new(ctx, CancellationToken::new(), objects));
        let object = json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "velero", "resourceVersion": "41",
                         "finalizers": [LEGACY_FINALIZER, "other/keep"]},
            "spec": {"storageLocation": "default"},
            "status": {"phase": "Completed"},
        });
        let verifier = tokio::spawn(serve(
            handle,
            vec![Expect {
                method: "PATCH",
                path: "/apis/velero.io/v1/namespaces/velero/backups/b",
                body: |b| {
                    assert_eq!(b["metadata"]["resourceVersion"], "41");
                    assert_eq!(b["metadata"]["finalizers"], json!(["other/keep"]));
                },
                reply: Some(object.clone()),
            }],
        ));
        let backup: Backup = serde_json::from_value(object).unwrap();
        let action = reconcile_backup(Arc::new(backup), state).await.unwrap();
        assert_eq!(action, Action::await_change());
        verifier.await.unwrap();
    }
}
