//! The DeleteBackupRequest controller: the only path by which a backup's files leave the store
//! (Velero's `backup_deletion_controller`).
//!
//! | request phase          | what happens                                                    |
//! |------------------------|-----------------------------------------------------------------|
//! | deleted                | nothing                                                         |
//! | InProgress at a term's start | run again from New ([`resume`]): the leader before died mid-way |
//! | Processed, InProgress  | removed 24 h after creation ([`state::MAX_AGE`])                |
//! | New                    | [`decide`], then [`prove`]: refuse (Processed with an error), or [`carry`] it out |
//!
//! Proving: the backup's folder must be its own before anything happens: its owner marker (or,
//! for a backup of an older release or of Velero, its stored `velero-backup.json`) names the
//! backup's uid (a synced backup's: the uid stored with it). Another cluster's backup of the same
//! name is refused, and neither the Backup nor the store is touched.
//!
//! Carrying out: the Backup becomes `Deleting` (fenced on its resourceVersion, so a backup
//! claimed meanwhile is not touched), the request is claimed `InProgress` (fenced likewise), the
//! files under `backups/<name>/` are deleted through the location they were written to (unfinished
//! uploads aborted), the backup's Restores are deleted (their own finalizer deletes their files
//! under `restores/<r>/`), then the Backup object; the request ends Processed, and on success every
//! request for that backup is removed.

mod carry;
pub mod decide;
mod fs;
mod name;
mod prove;
pub mod resume;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::{Context, Error, publish, run_until};
use crate::api::delete::BACKUP_NAME_LABEL;
use crate::api::label::valid_name;
use crate::api::{
    Backup, BackupStorageLocation, DeleteBackupRequest, DeleteBackupRequestPhase,
    DeleteBackupRequestStatus,
};
use state::{CONTROLLER, Decision, MAX_AGE};

/// Run the controller until `term` is cancelled (lease lost or shutdown).
pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let controller = super::list::controller(requests(&ctx), watcher::Config::default());
    run_until(controller, term, reconcile, error_policy, ctx, CONTROLLER).await;
}

fn error_policy(_r: Arc<DeleteBackupRequest>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, error, Duration::from_secs(1))
}

async fn reconcile(request: Arc<DeleteBackupRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    if request.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    match request.phase() {
        DeleteBackupRequestPhase::Processed | DeleteBackupRequestPhase::InProgress => {
            expire(&request, &ctx).await
        }
        DeleteBackupRequestPhase::New => start(&request, &ctx).await,
    }
}

fn requests(ctx: &Context) -> Api<DeleteBackupRequest> {
    Api::namespaced(ctx.client.clone(), &ctx.settings.namespace)
}

/// Remove a request 24 h after its creation; until then look again at that time.
async fn expire(request: &DeleteBackupRequest, ctx: &Context) -> Result<Action, Error> {
    let created = request
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(jiff::Timestamp::now, |t| t.0);
    let age =
        Duration::try_from(jiff::Timestamp::now().duration_since(created)).unwrap_or_default();
    if age >= MAX_AGE {
        match requests(ctx)
            .delete(&request.name_any(), &Default::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(MAX_AGE - age))
}

/// Decide on a new request, and refuse it or carry it out.
async fn start(request: &DeleteBackupRequest, ctx: &Context) -> Result<Action, Error> {
    let backup_name = request.spec.backup_name.clone();
    if let Some(why) = name::problem(&backup_name) {
        return refuse(ctx, request, &backup_name, why).await;
    }
    if !backup_name.is_empty() {
        // One request per backup at a time (Velero removes the older ones).
        let others = requests(ctx)
            .list(
                &ListParams::default()
                    .labels(&format!("{BACKUP_NAME_LABEL}={}", valid_name(&backup_name))),
            )
            .await?;
        for other in others
            .items
            .iter()
            .filter(|o| o.name_any() != request.name_any())
        {
            if other.phase() == DeleteBackupRequestPhase::InProgress {
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
            match requests(ctx)
                .delete(&other.name_any(), &Default::default())
                .await
            {
                Ok(_) => {
                    tracing::info!(request = %other.name_any(), "removed an older request for the same backup")
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let backup = if backup_name.is_empty() {
        None
    } else {
        Api::<Backup>::namespaced(ctx.client.clone(), &ctx.settings.namespace)
            .get_opt(&backup_name)
            .await?
    };
    let location = match backup.as_ref().and_then(decide::files_location) {
        Some(name) => {
            Api::<BackupStorageLocation>::namespaced(ctx.client.clone(), &ctx.settings.namespace)
                .get_opt(name)
                .await?
        }
        None => None,
    };
    let mut decision = decide::decide(&backup_name, backup.as_ref(), location.as_ref());
    if let (Decision::Proceed { files: Some(files) }, Some(location)) = (&decision, &location)
        && let Err(why) = prove::ours(ctx, location, &backup_name, &files.uid).await
    {
        decision = Decision::Refuse(why);
    }
    match decision {
        Decision::Refuse(why) => refuse(ctx, request, &backup_name, why).await,
        Decision::Proceed { files } => {
            let backup = backup.expect("decide proceeds only with a backup");
            carry::carry_out(ctx, request, backup, location, files).await
        }
    }
}

/// Processed with the reason, and a Warning event; nothing is deleted.
async fn refuse(
    ctx: &Context,
    request: &DeleteBackupRequest,
    backup_name: &str,
    why: String,
) -> Result<Action, Error> {
    tracing::info!(request = %request.name_any(), backup = %backup_name, "refused: {why}");
    let status = DeleteBackupRequestStatus {
        phase: Some(DeleteBackupRequestPhase::Processed),
        errors: Some(vec![why.clone()]),
    };
    write_status(ctx, request, status).await?;
    publish(
        ctx,
        request,
        EventType::Warning,
        "DeletionRefused",
        "Delete",
        &why,
    )
    .await;
    Ok(Action::requeue(MAX_AGE))
}

/// PUT the request's status carrying the resourceVersion it was read at: of two writers only
/// one succeeds (the other gets 409, and the reconcile looks again).
async fn write_status(
    ctx: &Context,
    request: &DeleteBackupRequest,
    status: DeleteBackupRequestStatus,
) -> Result<DeleteBackupRequest, kube::Error> {
    let mut next = request.clone();
    next.status = Some(status);
    next.metadata.managed_fields = None;
    requests(ctx)
        .replace_status(&request.name_any(), &PostParams::default(), &next)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::fixtures::{Expect, mock_client, serve};
    use crate::controller::{Context, Settings};
    use crate::metrics::Metrics;
    use serde_json::json;

    /// A request for a backup still running is Processed with Velero's refusal, fenced on the
    /// request's resourceVersion, with a Warning event; the backup and the store are not
    /// touched (no write to the backup, no store client built, nothing deleted).
    #[tokio::test]
    async fn a_request_for_a_running_backup_is_refused_and_touches_nothing() {
        let (client, handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let request: DeleteBackupRequest = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
            "metadata": {"name": "r1", "namespace": "velero", "resourceVersion": "7", "uid": "r-1"},
            "spec": {"backupName": "b"},
        }))
        .unwrap();
        let verifier = tokio::spawn(serve(
            handle,
            vec![
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/deletebackuprequests",
                    body: |_| {},
                    reply: Some(json!({"apiVersion": "velero.io/v1",
                        "kind": "DeleteBackupRequestList", "metadata": {}, "items": []})),
                },
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/backups/b",
                    body: |_| {},
                    reply: Some(json!({"apiVersion": "velero.io/v1", "kind": "Backup",
                        "metadata": {"name": "b", "namespace": "velero", "uid": "b-1"},
                        "spec": {"storageLocation": "default"},
                        "status": {"phase": "InProgress", "writtenTo": {"location": "default", "bucket": "x"}}})),
                },
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/backupstoragelocations/default",
                    body: |_| {},
                    reply: Some(
                        json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                        "metadata": {"name": "default", "namespace": "velero"},
                        "spec": {"provider": "aws", "objectStorage": {"bucket": "x"}},
                        "status": {"phase": "Available"}}),
                    ),
                },
                Expect {
                    method: "PUT",
                    path: "/apis/velero.io/v1/namespaces/velero/deletebackuprequests/r1/status",
                    body: |b| {
                        assert_eq!(b["metadata"]["resourceVersion"], "7");
                        assert_eq!(b["status"]["phase"], "Processed");
                        let error = b["status"]["errors"][0].as_str().unwrap();
                        assert!(error.starts_with("backup is still in progress"), "{error}");
                    },
                    reply: None,
                },
                Expect {
                    method: "POST",
                    path: "/apis/events.k8s.io/v1/namespaces/velero/events",
                    body: |b| {
                        assert_eq!(b["type"], "Warning");
                        assert_eq!(b["reason"], "DeletionRefused");
                        assert_eq!(b["regarding"]["name"], "r1");
                    },
                    reply: None,
                },
            ],
        ));
        let action = reconcile(Arc::new(request), ctx.clone()).await.unwrap();
        assert_eq!(action, Action::requeue(MAX_AGE));
        verifier.await.unwrap();
        assert_eq!(ctx.stores.clients_cached(), 0);
    }
}
