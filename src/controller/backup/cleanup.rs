//! Nothing of a failed backup may stay in the store: no object, no multipart upload (whose
//! parts are invisible to listings but billed). When the store is unreachable at the moment of
//! failure, the abort cannot reach it either, so the backup carries a `StoreCleaned=False`
//! condition and the controller retries until the store answers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::state::{State, status_patch};
use super::status::set_condition;
use crate::api::{Backup, BackupPhase, BackupStatus, BackupStorageLocation};
use crate::backup::{self, BackupError};
use crate::controller::{Context, Error, backoff, now, patch_status, store_for};
use crate::storage::ObjectStore;

/// The condition recording whether a failed backup's leftovers are gone.
pub const CLEANED: &str = "StoreCleaned";

/// Abort the backup's multipart uploads and delete its objects.
pub async fn clean(store: &ObjectStore, name: &str) -> Result<(usize, usize), BackupError> {
    let aborted = store.abort_uploads(&backup::backup_dir(name)).await?;
    let deleted = backup::delete_objects(store, name).await?;
    Ok((aborted, deleted))
}

/// [`clean`] in the location the backup's files went to; why not, as a message for status.
pub async fn clean_where_written(ctx: &Context, backup: &Backup) -> Result<(usize, usize), String> {
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let location_name = backup.files_location().unwrap_or_default();
    let location = locations
        .get_opt(location_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("location {location_name:?} does not exist"))?;
    let store = store_for(ctx, &location).await?;
    clean(&store, &backup.name_any())
        .await
        .map_err(|e| e.to_string())
}

/// Record a cleanup's outcome on the status.
pub fn mark(status: &mut BackupStatus, outcome: &Result<(usize, usize), String>, now: &Time) {
    match outcome {
        Ok((aborted, deleted)) => set_condition(
            status,
            CLEANED,
            true,
            "Cleaned",
            &format!("aborted {aborted} multipart uploads and deleted {deleted} objects"),
            now,
        ),
        Err(e) => set_condition(
            status,
            CLEANED,
            false,
            "CleanupPending",
            &format!("the backup's leftovers could not be removed yet; retrying: {e}"),
            now,
        ),
    }
}

/// Whether a failed backup still has leftovers to remove.
pub fn pending(backup: &Backup) -> bool {
    backup.phase() == BackupPhase::Failed
        && backup.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == CLEANED && c.status == "False")
        })
}

/// Retry the cleanup of a failed backup; `None` when there is nothing to retry.
pub(super) async fn retry(backup: &Backup, state: &State) -> Result<Option<Action>, Error> {
    if !pending(backup) {
        return Ok(None);
    }
    // Retries end at the TTL: expiry asks for the backup's deletion then.
    let expiration = backup
        .status
        .as_ref()
        .and_then(|s| s.expiration.as_ref())
        .map(|t| t.0);
    if !backoff::before_ttl(expiration, jiff::Timestamp::now()) {
        return Ok(None);
    }
    let name = backup.name_any();
    let outcome = clean_where_written(&state.ctx, backup).await;
    let mut status = backup.status.clone().unwrap_or_default();
    let now = now();
    mark(&mut status, &outcome, &now);
    if outcome.is_ok() {
        patch_status(&state.api(), &name, &status_patch(&status)["status"]).await?;
        tracing::info!(backup = %name, "removed a failed backup's leftovers");
        return Ok(Some(Action::await_change()));
    }
    // Back off: wait as long as it has been failing (the condition's transition time is when
    // it started failing; it moves only when the status flips).
    let first = backup
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CLEANED))
        .map_or(now.0, |c| c.last_transition_time.0);
    let wait = backoff::wait_after(first, now.0);
    tracing::debug!(backup = %name, ?wait, "cleanup still failing; retrying");
    Ok(Some(Action::requeue(wait)))
}
