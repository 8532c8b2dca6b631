//! A Backup's end: deleting it deletes its objects under `backups/<name>/` (the finalizer
//! holds the object until they are gone), and an expired backup is deleted by the collector.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::backup::{Error, FINALIZER, State, api, event, store_for};
use crate::api::{Backup, BackupPhase, BackupStorageLocation};
use crate::backup::{self, BackupError};

/// The backup's objects leave the store before the Backup leaves the API.
pub(super) async fn finalize(backup: &Backup, state: &State) -> Result<Action, Error> {
    if !backup.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let ctx = &state.ctx;
    let schedule = &[backup.schedule()];
    let name = backup.name_any();
    // Only runs that got as far as InProgress wrote anything.
    let wrote = !matches!(
        backup.phase(),
        BackupPhase::New | BackupPhase::FailedValidation
    );
    if wrote {
        ctx.metrics
            .backups
            .deletion_attempt_total
            .with_label_values(schedule)
            .inc();
        let location_name = backup.spec.storage_location.clone().unwrap_or_default();
        let locations: Api<BackupStorageLocation> =
            Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
        match locations.get_opt(&location_name).await? {
            Some(location) if location.spec.is_read_write() => {
                let deleted = async {
                    let store = store_for(ctx, &location).await?;
                    store
                        .abort_uploads(&backup::backup_dir(&name))
                        .await
                        .map_err(BackupError::from)?;
                    Ok::<_, Error>(backup::delete_objects(&store, &name).await?)
                }
                .await;
                match deleted {
                    Ok(n) => {
                        tracing::info!(backup = %name, objects = n, "deleted the backup's objects")
                    }
                    Err(e) => {
                        ctx.metrics
                            .backups
                            .deletion_failure_total
                            .with_label_values(schedule)
                            .inc();
                        event(
                            ctx,
                            backup,
                            EventType::Warning,
                            "DeleteFailed",
                            &e.to_string(),
                        )
                        .await;
                        return Err(e);
                    }
                }
            }
            other => {
                let why = if other.is_some() {
                    "is read-only"
                } else {
                    "does not exist"
                };
                let note = format!(
                    "location {location_name:?} {why}: the backup's objects were left in the store"
                );
                event(ctx, backup, EventType::Warning, "ObjectsKept", &note).await;
            }
        }
        ctx.metrics
            .backups
            .deletion_success_total
            .with_label_values(schedule)
            .inc();
    }
    // Guarded by the resourceVersion, so a finalizer another controller added meanwhile is
    // never dropped (the write fails with 409 and the reconcile runs again).
    let keep: Vec<&String> = backup
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let patch =
        json!({"metadata": {"resourceVersion": backup.resource_version(), "finalizers": keep}});
    api(state)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(Action::await_change())
}

/// Delete the Backup once it expires (its finalizer then deletes the objects); otherwise
/// look again at expiry, or after `gc_frequency` at most.
pub(super) async fn collect_if_expired(backup: &Backup, state: &State) -> Result<Action, Error> {
    let Some(expiration) = backup.status.as_ref().and_then(|s| s.expiration.as_ref()) else {
        return Ok(Action::await_change());
    };
    let left = expiration.0.duration_since(jiff::Timestamp::now());
    if left.is_positive() {
        let left = Duration::try_from(left).unwrap_or(state.ctx.settings.backup.gc_frequency);
        return Ok(Action::requeue(
            left.min(state.ctx.settings.backup.gc_frequency),
        ));
    }
    // A schedule's retention keeps its newest Completed backup(s) past their TTL.
    if super::kept_by_retention(&state.ctx, backup).await? {
        return Ok(Action::requeue(state.ctx.settings.backup.gc_frequency));
    }
    let note = format!("the backup expired at {}; deleting it", expiration.0);
    event(&state.ctx, backup, EventType::Normal, "Expired", &note).await;
    api(state)
        .delete(&backup.name_any(), &Default::default())
        .await?;
    Ok(Action::await_change())
}
