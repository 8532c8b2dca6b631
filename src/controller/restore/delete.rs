//! A Restore's end: deleting it deletes its files under `restores/<name>/` in the location of
//! the backup it restored, through the one storage path (the location's trust and Secrets), as
//! Velero ≥ 1.14 does behind the same finalizer.
//!
//! A Restore must never be stuck undeletable. When its files cannot be located (the backup or
//! its location is gone, or the location cannot be used) they are left, with a Warning event.
//! When the store fails, the deletion is retried with backoff until [`GIVE_UP_AFTER`] past the
//! `deletionTimestamp`, then left the same way. (Velero retries forever.)
//!
//! Only its own: the files are deleted only while the folder's owner marker (written by the
//! run before its files, see `run.rs`) names this Restore's uid, and only through a location
//! still pointing where the backup was written. A same-named restore of another cluster sharing
//! the bucket keeps its files.

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::state::{ACTION, FINALIZER, State};
use crate::api::{Backup, Restore, RestorePhase};
use crate::controller::written::{Unreachable, files_of};
use crate::controller::{Context, Error, publish, release_finalizer};
use crate::restore::{delete_files, restore_dir};
use crate::storage::Owner;

/// How long after its deletion a Restore waits for an unreachable store.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one attempt at deleting the files came to.
#[derive(Debug, PartialEq)]
enum Attempt {
    Deleted {
        location: String,
        objects: usize,
    },
    /// The restore never got as far as writing files.
    NothingWritten,
    /// Where the files are cannot be known, or the location cannot be used.
    Unlocatable(String),
    /// The location is known and usable, but the store failed.
    StoreFailed(String),
}

/// What to do after an attempt.
#[derive(Debug, PartialEq)]
enum Next {
    /// Remove the finalizer, after a Warning event with this note when the files stay.
    Release(Option<String>),
    /// Try again after this long.
    Retry(Duration),
}

/// The decision, as a plain function of the attempt and of the time since the deletion. The
/// wait grows with that time (half of it, from 1s to [`MAX_BACKOFF`]), so no counter is kept.
fn next(attempt: &Attempt, name: &str, since_deletion: Duration) -> Next {
    let dir = restore_dir(name);
    match attempt {
        Attempt::Deleted { .. } | Attempt::NothingWritten => Next::Release(None),
        Attempt::Unlocatable(why) => Next::Release(Some(format!(
            "the restore's files could not be located and were left in the store ({dir}): {why}"
        ))),
        Attempt::StoreFailed(why) if since_deletion >= GIVE_UP_AFTER => {
            Next::Release(Some(format!(
                "the restore's files could not be deleted within {}s of its deletion and were \
                 left in the store ({dir}): {why}",
                GIVE_UP_AFTER.as_secs()
            )))
        }
        Attempt::StoreFailed(_) => {
            let wait = (since_deletion / 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
            Next::Retry(wait.min(GIVE_UP_AFTER - since_deletion))
        }
    }
}

/// The restore's files leave the store before the Restore leaves the API.
pub(super) async fn finalize(restore: &Restore, state: &State) -> Result<Action, Error> {
    if !restore.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let ctx = &state.ctx;
    let name = restore.name_any();
    let attempt = attempt(ctx, restore).await?;
    let since_deletion = restore
        .metadata
        .deletion_timestamp
        .as_ref()
        .and_then(|t| Duration::try_from(jiff::Timestamp::now().duration_since(t.0)).ok())
        .unwrap_or_default();
    match next(&attempt, &name, since_deletion) {
        Next::Retry(wait) => {
            let Attempt::StoreFailed(why) = &attempt else {
                unreachable!("only a store failure is retried")
            };
            let note = format!(
                "deleting the restore's files failed; retrying in {}s: {why}",
                wait.as_secs()
            );
            publish(
                ctx,
                restore,
                EventType::Warning,
                "DeleteFailed",
                ACTION,
                &note,
            )
            .await;
            return Ok(Action::requeue(wait));
        }
        Next::Release(Some(note)) => {
            tracing::warn!(restore = %name, "{note}");
            publish(ctx, restore, EventType::Warning, "FilesLeft", ACTION, &note).await;
        }
        Next::Release(None) => {
            if let Attempt::Deleted { location, objects } = &attempt {
                tracing::info!(restore = %name, %location, objects, "deleted the restore's files");
            }
        }
    }
    release_finalizer(&state.api(), restore, FINALIZER).await?;
    Ok(Action::await_change())
}

/// Find the files through the restore's backup and the location it was written to, prove them
/// this restore's (the owner marker names its uid), and delete them. The outer error is the API
/// failing (retried by the error policy); the store's failures are an [`Attempt`].
async fn attempt(ctx: &Context, restore: &Restore) -> Result<Attempt, Error> {
    // Only runs that got as far as InProgress wrote anything.
    if matches!(
        restore.phase(),
        RestorePhase::New | RestorePhase::FailedValidation
    ) {
        return Ok(Attempt::NothingWritten);
    }
    let backup_name = &restore.spec.backup_name;
    if backup_name.is_empty() {
        return Ok(Attempt::Unlocatable("the restore names no backup".into()));
    }
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let Some(backup) = backups.get_opt(backup_name).await? else {
        return Ok(Attempt::Unlocatable(format!(
            "its backup {backup_name:?} no longer exists, so neither does the record of its \
             location"
        )));
    };
    // Where the backup was written, and only while the location still points there.
    let files = match files_of(ctx, &backup).await {
        Ok(files) => files,
        Err(Unreachable::Api(_, e)) => return Err(e.into()),
        Err(e) => return Ok(Attempt::Unlocatable(e.to_string())),
    };
    let location_name = files.location.name_any();
    let name = restore.name_any();
    let uid = restore.uid().unwrap_or_default();
    let owner = match files.store.dir_owner(&restore_dir(&name)).await {
        Ok(owner) => owner,
        Err(e) => {
            return Ok(Attempt::StoreFailed(format!(
                "location {location_name:?}: {e}"
            )));
        }
    };
    match decide_owner(owner.as_ref(), &uid) {
        Owned::Ours => {}
        Owned::NotOurs(why) => return Ok(Attempt::Unlocatable(why)),
    }
    Ok(match delete_files(&files.store, &name).await {
        Ok(objects) => Attempt::Deleted {
            location: location_name,
            objects,
        },
        Err(e) => Attempt::StoreFailed(format!("location {location_name:?}: {e}")),
    })
}

/// Whether `restores/<name>/` may be deleted by the restore with `uid`.
#[derive(Debug, PartialEq)]
enum Owned {
    Ours,
    NotOurs(String),
}

/// The folder is this restore's only when its marker names this restore's uid. Without a
/// marker (an older release's restore, or one that never wrote) nothing proves it, and a
/// restore of the same name elsewhere may own it: it is left.
fn decide_owner(owner: Option<&Owner>, uid: &str) -> Owned {
    match owner {
        Some(o) if o.uid == uid => Owned::Ours,
        Some(o) => Owned::NotOurs(format!(
            "the folder is another restore's of the same name ({} {}/{}, uid {}), perhaps \
             another cluster's sharing the bucket",
            o.kind, o.namespace, o.name, o.uid
        )),
        None => Owned::NotOurs(
            "no owner marker names this restore there (written by an older release, or by \
             another cluster's restore of the same name)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn found_or_never_written_files_release_quietly() {
        let deleted = Attempt::Deleted {
            location: "default".into(),
            objects: 3,
        };
        assert_eq!(next(&deleted, "r1", SECOND), Next::Release(None));
        assert_eq!(
            next(&Attempt::NothingWritten, "r1", SECOND),
            Next::Release(None)
        );
    }

    #[test]
    fn unlocatable_files_are_left_at_once_with_a_warning() {
        let gone = Attempt::Unlocatable("its backup \"b\" no longer exists".into());
        let Next::Release(Some(note)) = next(&gone, "r1", Duration::ZERO) else {
            panic!("not released with a note")
        };
        assert!(note.contains("could not be located"), "{note}");
        assert!(note.contains("restores/r1/"), "{note}");
        assert!(note.contains("\"b\" no longer exists"), "{note}");
    }

    #[test]
    fn only_a_marker_naming_the_restore_proves_its_files() {
        let owner = |uid: &str| Owner {
            kind: "Restore".into(),
            namespace: "velero".into(),
            name: "r1".into(),
            uid: uid.into(),
        };
        assert_eq!(decide_owner(Some(&owner("u-1")), "u-1"), Owned::Ours);
        let Owned::NotOurs(why) = decide_owner(Some(&owner("u-2")), "u-1") else {
            panic!("another restore's folder proven ours")
        };
        assert!(why.contains("uid u-2"), "{why}");
        assert!(matches!(decide_owner(None, "u-1"), Owned::NotOurs(_)));
    }

    #[test]
    fn a_failing_store_is_retried_with_growing_waits_then_left() {
        let down = Attempt::StoreFailed("EndpointUnreachable".into());
        let waits: Vec<Next> = [0, 4, 20, 120, 290]
            .into_iter()
            .map(|s| next(&down, "r1", Duration::from_secs(s)))
            .collect();
        assert_eq!(
            waits,
            [1, 2, 10, 30, 10].map(|s| Next::Retry(Duration::from_secs(s)))
        );
        let Next::Release(Some(note)) = next(&down, "r1", GIVE_UP_AFTER) else {
            panic!("not given up at the deadline")
        };
        assert!(note.contains("within 300s"), "{note}");
        assert!(note.contains("EndpointUnreachable"), "{note}");
    }
}
