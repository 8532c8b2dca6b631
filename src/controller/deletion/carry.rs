//! Carrying out a request the rules let through: Backup `Deleting`, request `InProgress`, the
//! files, the Restores, the object, and the request `Processed`.

use std::time::{Duration, Instant};

use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::state::{Files, MAX_AGE, RESTORES_GONE_WITHIN};
use super::{requests, write_status};
use crate::api::delete::{BACKUP_NAME_LABEL, BACKUP_UID_LABEL};
use crate::api::label::valid_name;
use crate::api::{
    Backup, BackupPhase, BackupStorageLocation, DeleteBackupRequest, DeleteBackupRequestPhase,
    DeleteBackupRequestStatus, Restore,
};
use crate::backup::Removed;
use crate::controller::{Context, Error, is_conflict, publish, store_for};

pub(super) async fn carry_out(
    ctx: &Context,
    request: &DeleteBackupRequest,
    backup: Backup,
    location: Option<BackupStorageLocation>,
    files: Option<Files>,
) -> Result<Action, Error> {
    let name = backup.name_any();
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    if !mark_deleting(&backups, &backup).await? {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let Some(claimed) = claim_request(ctx, request, &backup).await? else {
        return Ok(Action::requeue(Duration::from_millis(500)));
    };
    let schedule = &[backup.schedule()];
    let m = &ctx.metrics.backups;
    m.deletion_attempt_total.with_label_values(schedule).inc();
    let (errors, deleted_objects) =
        delete_everything(ctx, &backups, &name, files.as_ref(), location.as_ref()).await;
    if errors.is_empty() {
        m.deletion_success_total.with_label_values(schedule).inc();
        let note = format!(
            "deleted backup {name}: {deleted_objects} objects{}",
            files.as_ref().map_or_else(
                || " (it wrote none)".to_owned(),
                |f| format!(" in location {}", f.location)
            )
        );
        tracing::info!(request = %claimed.name_any(), "{note}");
        let kind = EventType::Normal;
        publish(ctx, &claimed, kind, "BackupDeleted", "Delete", &note).await;
    } else {
        m.deletion_failure_total.with_label_values(schedule).inc();
        let note = errors.join("; ");
        tracing::warn!(request = %claimed.name_any(), backup = %name, "deletion failed: {note}");
        let kind = EventType::Warning;
        publish(ctx, &claimed, kind, "DeletionFailed", "Delete", &note).await;
    }
    let done = DeleteBackupRequestStatus {
        phase: Some(DeleteBackupRequestPhase::Processed),
        errors: (!errors.is_empty()).then(|| errors.clone()),
    };
    processed(ctx, &claimed, done).await?;
    if errors.is_empty() {
        remove_requests_for(ctx, &name, &backup.uid().unwrap_or_default()).await?;
    }
    Ok(Action::requeue(MAX_AGE))
}

/// The Backup goes `Deleting` first, fenced on the resourceVersion the decision was made on:
/// a backup the backup controller claimed meanwhile makes this fail (`false`), and the
/// reconcile decides again.
async fn mark_deleting(backups: &Api<Backup>, backup: &Backup) -> Result<bool, Error> {
    if backup.phase() == BackupPhase::Deleting {
        return Ok(true);
    }
    let mut deleting = backup.clone();
    deleting.status.get_or_insert_with(Default::default).phase = Some(BackupPhase::Deleting);
    deleting.metadata.managed_fields = None;
    match backups
        .replace_status(&backup.name_any(), &PostParams::default(), &deleting)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Claim the request (`InProgress`), with Velero's labels so later requests and the collector
/// find it; `None` when another writer changed it first.
async fn claim_request(
    ctx: &Context,
    request: &DeleteBackupRequest,
    backup: &Backup,
) -> Result<Option<DeleteBackupRequest>, Error> {
    let name = backup.name_any();
    let uid = backup.uid().unwrap_or_default();
    let labels = request.labels();
    let request = if labels.get(BACKUP_NAME_LABEL) != Some(&valid_name(&name))
        || labels.get(BACKUP_UID_LABEL) != Some(&uid)
    {
        let patch = json!({"metadata": {
            "resourceVersion": request.resource_version(),
            "labels": {BACKUP_NAME_LABEL: valid_name(&name), BACKUP_UID_LABEL: uid},
        }});
        requests(ctx)
            .patch(
                &request.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?
    } else {
        request.clone()
    };
    let in_progress = DeleteBackupRequestStatus {
        phase: Some(DeleteBackupRequestPhase::InProgress),
        errors: None,
    };
    match write_status(ctx, &request, in_progress).await {
        Ok(claimed) => Ok(Some(claimed)),
        Err(e) if is_conflict(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The backup's CSI snapshots and file-system backups, then its files, then the restores of
/// it, then the Backup object, each only once what came before went; what failed, and how
/// many objects went from the store.
async fn delete_everything(
    ctx: &Context,
    backups: &Api<Backup>,
    name: &str,
    files: Option<&Files>,
    location: Option<&BackupStorageLocation>,
) -> (Vec<String>, usize) {
    let mut errors = Vec::new();
    let mut deleted_objects = 0;
    if let (Some(files), Some(location)) = (files, location) {
        // Shared: the file-system backups' repositories read it from blocking threads.
        match store_for(ctx, location).await.map(std::sync::Arc::new) {
            Err(e) => errors.push(format!(
                "backup storage location {} cannot be used: {e}",
                files.location
            )),
            // Proven again here (the request was checked before the Backup went Deleting):
            // only a folder whose marker or stored metadata names this backup is deleted.
            Ok(store) => match async {
                delete_snapshots(ctx, backups, &store, name, files).await?;
                super::fs::forget(ctx, &store, name, files).await
            }
            .await
            {
                Err(e) => errors.push(e),
                Ok(()) => match crate::backup::delete_proven(&store, name, &files.uid).await {
                    Ok(Removed::Deleted { deleted, .. }) => deleted_objects = deleted,
                    Ok(Removed::Nothing) => {}
                    Ok(Removed::NotOurs(why)) => errors.push(format!(
                        "{} in location {} is not this backup's ({why}); nothing was deleted",
                        crate::backup::backup_dir(name),
                        files.location
                    )),
                    Err(e) => errors.push(format!(
                        "deleting {} in location {} failed: {e}",
                        crate::backup::backup_dir(name),
                        files.location
                    )),
                },
            },
        }
    }
    if errors.is_empty()
        && let Err(e) = delete_restores(ctx, name).await
    {
        errors.push(e);
    }
    if errors.is_empty() {
        match backups.delete(name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => errors.push(format!("deleting the Backup object failed: {e}")),
        }
    }
    (errors, deleted_objects)
}

/// The backup's CSI snapshots, before its files (the list of them is one): each deleted
/// through a content made for it, unless another backup in the same location recorded the same
/// storage snapshot (docs/volumes.md).
async fn delete_snapshots(
    ctx: &Context,
    backups: &Api<Backup>,
    store: &crate::storage::ObjectStore,
    name: &str,
    files: &Files,
) -> Result<(), String> {
    use crate::backup::volumes::delete;
    let ours = delete::recorded(store, name).await?;
    if ours.is_empty() {
        return Ok(());
    }
    let mut others = std::collections::BTreeSet::new();
    let listed = backups
        .list(&Default::default())
        .await
        .map_err(|e| format!("listing backups to see which share a snapshot failed: {e}"))?;
    for other in listed.items.iter().filter(|b| b.name_any() != name) {
        let status = other.status.as_ref();
        let same_location = status
            .and_then(|s| s.written_to.as_ref())
            .is_some_and(|w| w.location == files.location);
        if same_location
            && status
                .and_then(|s| s.csi_volume_snapshots_completed)
                .unwrap_or(0)
                > 0
        {
            others.extend(
                delete::recorded(store, &other.name_any())
                    .await?
                    .into_iter()
                    .map(|r| r.handle),
            );
        }
    }
    let (gone, kept) = delete::to_delete(&ours, &others);
    for r in kept {
        tracing::info!(backup = name, handle = %r.handle, "snapshot kept: another backup recorded it too");
    }
    for r in gone {
        delete::delete_snapshot(&ctx.client, &files.uid, r).await?;
    }
    Ok(())
}

/// Write `Processed`, fenced on the claimed request; when something else changed it meanwhile
/// (a label edited by hand), read it again and write over that, so it never stays InProgress.
async fn processed(
    ctx: &Context,
    claimed: &DeleteBackupRequest,
    status: DeleteBackupRequestStatus,
) -> Result<(), Error> {
    let mut current = claimed.clone();
    for _ in 0..3 {
        match write_status(ctx, &current, status.clone()).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) if is_conflict(&e) => {
                current = requests(ctx).get(&claimed.name_any()).await?;
                if current.phase() != DeleteBackupRequestPhase::InProgress {
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::warn!(request = %claimed.name_any(), "the request kept changing; it stays InProgress until it is removed after 24 h");
    Ok(())
}

/// Delete the Restores of `backup` and wait (bounded) until they are gone: each one's
/// finalizer deletes its files under `restores/<r>/`, through this backup's location, so they
/// must go while the Backup still exists.
async fn delete_restores(ctx: &Context, backup: &str) -> Result<(), String> {
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let of_backup = || async {
        api.list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter(|r| r.spec.backup_name == backup)
                    .collect::<Vec<_>>()
            })
            .map_err(|e| format!("listing the backup's restores failed: {e}"))
    };
    for restore in of_backup().await? {
        match api.delete(&restore.name_any(), &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                return Err(format!(
                    "deleting restore {} failed: {e}",
                    restore.name_any()
                ));
            }
        }
    }
    let deadline = Instant::now() + RESTORES_GONE_WITHIN;
    loop {
        let left = of_backup().await?;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = left.iter().map(|r| r.name_any()).collect();
            return Err(format!(
                "the backup's restores {names:?} were not gone within {}s (their files are \
                 deleted first); ask again later",
                RESTORES_GONE_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// On success every request for the backup goes, this one included (Velero's behaviour).
async fn remove_requests_for(ctx: &Context, backup: &str, uid: &str) -> Result<(), Error> {
    let selector = format!(
        "{BACKUP_NAME_LABEL}={},{BACKUP_UID_LABEL}={uid}",
        valid_name(backup)
    );
    let api = requests(ctx);
    for r in api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
    {
        match api.delete(&r.name_any(), &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
