//! Nothing of a failed backup may stay in the store: no object, no multipart upload (whose
//! parts are invisible to listings but billed). When the store is unreachable at the moment of
//! failure, the abort cannot reach it either, so the backup carries a `StoreCleaned=False`
//! condition and the controller retries until the store answers.
//!
//! Only what is its own: a cleanup deletes the files a run writes, and only while the folder's
//! owner marker (or stored metadata) names the backup's uid (`backup::owner`), through the
//! store the files were written to (`controller::written`).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::state::{State, status_patch};
use super::status::set_condition;
use crate::api::{Backup, BackupPhase, BackupStatus};
use crate::backup::{self, Cleaner, Removed};
use crate::controller::written::{Unreachable, files_of};
use crate::controller::{Context, Error, backoff, now, patch_status};
use crate::storage::ObjectStore;

/// The condition recording whether a failed backup's leftovers are gone.
pub const CLEANED: &str = "StoreCleaned";
/// How soon a cleanup refused because the location points elsewhere looks again (someone has
/// to point it back; nothing changes meanwhile).
const MOVED_RETRY: Duration = Duration::from_secs(60);

/// Why a cleanup did not happen yet.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The location now points at another store: nothing is deleted there.
    #[error("{0}")]
    Moved(String),
    /// The store (or the API) failed; retried.
    #[error("{0}")]
    Pending(String),
}

/// Remove what this run wrote: its files and their uploads, only while the folder's marker
/// (or stored metadata) names `uid` ([`backup::remove_own`]).
pub async fn clean(
    store: &ObjectStore,
    name: &str,
    uid: &str,
    cleaner: Cleaner,
) -> Result<Removed, Failure> {
    backup::remove_own(store, name, uid, cleaner)
        .await
        .map_err(|e| Failure::Pending(e.to_string()))
}

/// [`clean`] in the store the backup's files went to. A backup with no record of where it
/// wrote (older releases, a run that never got to write) owns nothing, and nothing is done.
pub async fn clean_where_written(ctx: &Context, backup: &Backup) -> Result<Removed, Failure> {
    if backup
        .status
        .as_ref()
        .and_then(|s| s.written_to.as_ref())
        .is_none()
    {
        return Ok(Removed::Nothing);
    }
    let files = match files_of(ctx, backup).await {
        Ok(files) => files,
        Err(Unreachable::Moved(why)) => return Err(Failure::Moved(why)),
        Err(e) => return Err(Failure::Pending(e.to_string())),
    };
    clean(&files.store, &backup.name_any(), &files.uid, Cleaner::Other).await
}

/// Record a cleanup's outcome on the status.
pub fn mark(status: &mut BackupStatus, outcome: &Result<Removed, Failure>, now: &Time) {
    let (done, reason, message) = match outcome {
        Ok(Removed::Deleted { aborted, deleted }) => (
            true,
            "Cleaned",
            format!("aborted {aborted} multipart uploads and deleted {deleted} objects"),
        ),
        Ok(Removed::NotOurs(why)) => (
            true,
            "NotOwned",
            format!(
                "nothing was deleted: the backup's folder in the store is not this backup's ({why})"
            ),
        ),
        Ok(Removed::Nothing) => (
            true,
            "NothingWritten",
            "nothing was deleted: no file in the store is this backup's".to_owned(),
        ),
        Err(Failure::Moved(why)) => (
            false,
            "LocationMoved",
            format!(
                "the backup's leftovers are not removed through a location that points elsewhere: {why}"
            ),
        ),
        Err(Failure::Pending(e)) => (
            false,
            "CleanupPending",
            format!("the backup's leftovers could not be removed yet; retrying: {e}"),
        ),
    };
    set_condition(status, CLEANED, done, reason, &message, now);
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
    let reason_changed = {
        let before = backup
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == CLEANED));
        let after = status.conditions.iter().find(|c| c.type_ == CLEANED);
        before.map(|c| (&c.reason, &c.message)) != after.map(|c| (&c.reason, &c.message))
    };
    match outcome {
        Ok(_) => {
            patch_status(&state.api(), &name, &status_patch(&status)["status"]).await?;
            tracing::info!(backup = %name, "finished a failed backup's cleanup");
            Ok(Some(Action::await_change()))
        }
        Err(Failure::Moved(_)) => {
            if reason_changed {
                patch_status(&state.api(), &name, &status_patch(&status)["status"]).await?;
            }
            tracing::info!(backup = %name, "cleanup refused: the location points elsewhere");
            Ok(Some(Action::requeue(MOVED_RETRY)))
        }
        Err(Failure::Pending(_)) => {
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
    }
}
