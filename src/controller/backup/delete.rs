//! A Backup's end. Deleting the object deletes no data (the bucket is the source of truth);
//! the older finalizer that did is removed without touching the store. Expiry asks for the
//! backup's deletion with a DeleteBackupRequest, as Velero's collector does, at the expiry time.

use std::time::Duration;

use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::state::{ACTION, LEGACY_FINALIZER, State};
use crate::api::delete::{BACKUP_NAME_LABEL, BACKUP_UID_LABEL};
use crate::api::label::valid_name;
use crate::api::{
    Backup, BackupStorageLocation, DeleteBackupRequest, DeleteBackupRequestPhase, LocationPhase,
};
use crate::controller::{Error, publish, release_finalizer};

/// Velero's label on a backup the collector could not ask to delete, with the reason.
pub const GC_FAILURE_LABEL: &str = "velero.io/gc-failure";

/// Drop the older veloxide's data-deleting finalizer. Nothing in the store is touched: the
/// files may be another cluster's, and deleting a Backup object is not a request to delete
/// data. Guarded by the resourceVersion, so a finalizer another controller added meanwhile is
/// never dropped (the write fails with 409 and the reconcile runs again).
pub(super) async fn release_legacy_finalizer(
    backup: &Backup,
    state: &State,
) -> Result<Action, Error> {
    release_finalizer(&state.api(), backup, LEGACY_FINALIZER).await?;
    tracing::info!(backup = %backup.name_any(), "removed the older data-deleting finalizer; nothing was deleted from the store");
    Ok(Action::await_change())
}

/// Why the collector cannot ask for an expired backup's deletion (Velero's label values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcFailure {
    NotFound,
    CannotGet,
    ReadOnly,
    Unavailable,
}

impl GcFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            GcFailure::NotFound => "BSLNotFound",
            GcFailure::CannotGet => "BSLCannotGet",
            GcFailure::ReadOnly => "BSLReadOnly",
            GcFailure::Unavailable => "BSLUnavailable",
        }
    }
}

/// Whether an expired backup's location allows its deletion: a plain function of what the
/// API returned for it.
pub fn gc_check(location: &Result<Option<BackupStorageLocation>, ()>) -> Result<(), GcFailure> {
    match location {
        Err(()) => Err(GcFailure::CannotGet),
        Ok(None) => Err(GcFailure::NotFound),
        Ok(Some(l)) if !l.spec.is_read_write() => Err(GcFailure::ReadOnly),
        Ok(Some(l))
            if l.status.as_ref().and_then(|s| s.phase) != Some(LocationPhase::Available) =>
        {
            Err(GcFailure::Unavailable)
        }
        Ok(Some(_)) => Ok(()),
    }
}

/// At expiry, create a DeleteBackupRequest for the backup unless one is pending; otherwise look
/// again at expiry, or after `gc_frequency` at most. A request that fails leaves the backup,
/// and the next look (after `gc_frequency`) asks again.
pub(super) async fn collect_if_expired(backup: &Backup, state: &State) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let gc_frequency = ctx.settings.backup.gc_frequency;
    let Some(expiration) = backup.status.as_ref().and_then(|s| s.expiration.as_ref()) else {
        return Ok(Action::await_change());
    };
    // A schedule's retention keeps its newest Completed backup(s) past their TTL, this
    // cluster's or (read from the store) the one that made a synced backup.
    if let Some(action) = super::expiry::hold(backup, expiration.0, state).await? {
        return Ok(action);
    }
    let left = expiration.0.duration_since(jiff::Timestamp::now());
    if left.is_positive() {
        let left = Duration::try_from(left).unwrap_or(gc_frequency);
        return Ok(Action::requeue(left.min(gc_frequency)));
    }
    let name = backup.name_any();
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let location = match backup.files_location() {
        Some(l) => locations.get_opt(l).await.map_err(|_| ()),
        None => Ok(None),
    };
    let label = backup.labels().get(GC_FAILURE_LABEL).cloned();
    if let Err(failure) = gc_check(&location) {
        if label.as_deref() != Some(failure.as_str()) {
            let patch = json!({"metadata": {"labels": {GC_FAILURE_LABEL: failure.as_str()}}});
            state
                .api()
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            let note = format!(
                "the backup expired at {} but cannot be deleted: {} (location {:?})",
                expiration.0,
                failure.as_str(),
                backup.files_location().unwrap_or("")
            );
            publish(
                ctx,
                backup,
                EventType::Warning,
                "ExpiryBlocked",
                ACTION,
                &note,
            )
            .await;
        }
        return Ok(Action::requeue(gc_frequency));
    }
    if label.is_some() {
        let patch = json!({"metadata": {"labels": {GC_FAILURE_LABEL: null}}});
        state
            .api()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    let requests: Api<DeleteBackupRequest> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let selector = format!(
        "{BACKUP_NAME_LABEL}={},{BACKUP_UID_LABEL}={}",
        valid_name(&name),
        backup.uid().unwrap_or_default()
    );
    let pending = requests
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .iter()
        .any(|r| r.phase() != DeleteBackupRequestPhase::Processed);
    if !pending {
        let created = requests
            .create(
                &PostParams::default(),
                &DeleteBackupRequest::for_backup(backup),
            )
            .await?;
        let note = format!(
            "the backup expired at {}; asked for its deletion ({})",
            expiration.0,
            created.name_any()
        );
        publish(ctx, backup, EventType::Normal, "Expired", ACTION, &note).await;
    }
    Ok(Action::requeue(gc_frequency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(read_only: bool, phase: Option<&str>) -> BackupStorageLocation {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": "velero"},
            "spec": {"provider": "aws", "objectStorage": {"bucket": "b"},
                     "accessMode": if read_only { "ReadOnly" } else { "ReadWrite" }},
            "status": phase.map(|p| json!({"phase": p})),
        }))
        .unwrap()
    }

    #[test]
    fn expiry_is_blocked_with_velero_s_labels() {
        assert_eq!(gc_check(&Err(())), Err(GcFailure::CannotGet));
        assert_eq!(gc_check(&Ok(None)), Err(GcFailure::NotFound));
        let ro = location(true, Some("Available"));
        assert_eq!(gc_check(&Ok(Some(ro))), Err(GcFailure::ReadOnly));
        let down = location(false, Some("Unavailable"));
        assert_eq!(gc_check(&Ok(Some(down))), Err(GcFailure::Unavailable));
        let unchecked = location(false, None);
        assert_eq!(gc_check(&Ok(Some(unchecked))), Err(GcFailure::Unavailable));
        let fine = location(false, Some("Available"));
        assert_eq!(gc_check(&Ok(Some(fine))), Ok(()));
        assert_eq!(GcFailure::NotFound.as_str(), "BSLNotFound");
    }
}
