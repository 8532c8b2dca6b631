//! What an expired backup's collector does before asking for its deletion, so a cluster never
//! deletes what another cluster's retention keeps, knowing it from the bucket alone.
//!
//! The making cluster's retention keeps its newest Completed backup(s) past their TTL
//! (`keepLastSuccessful`). It says so where every cluster sharing the bucket can read it: each
//! collector pass over such a backup moves `status.expiration` in its stored
//! `velero-backup.json` (and on the object) to [`EXTENSION`] collector passes from now, a lease
//! renewed while retention keeps it and left to run out when it stops. Another cluster's
//! collector, before asking to delete a backup the sync brought in, reads that file again and
//! follows the expiration it finds. docs/disaster-recovery.md, "Synced backups, retention and
//! TTL".

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::state::State;
use crate::api::backup::SYNCED_ANNOTATION;
use crate::api::{Backup, BackupStorageLocation};
use crate::backup::stored;
use crate::controller::{Context, Error, store_for};

/// A kept backup's stored expiration is kept this many collector passes ahead: moved once it
/// is less than `EXTENSION - 1` passes away, so another cluster, whose collector looks at its
/// copy's expiration, finds it moved at least a pass before then. It lapses only when
/// retention stops keeping the backup (or the making cluster is gone, and then nothing keeps
/// it).
pub const EXTENSION: u32 = 3;

/// The stored `velero-backup.json` as the collector of a synced backup finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// No such file (a clean 404): the backup is gone from the store.
    Missing,
    /// Read; its `status.expiration`.
    Expires(Option<Timestamp>),
    /// The store did not answer cleanly, or the file is unusable.
    Unreadable(String),
}

/// What to do with a backup near or past its `status.expiration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// This cluster's retention keeps it: move its expiration, here and in the store, to `to`.
    Extend { to: Timestamp },
    /// Not expired yet: wait for it.
    NotYet,
    /// The store says it expires later (the making cluster's retention keeps it): take `to`.
    Follow { to: Timestamp },
    /// Not known whether the making cluster keeps it: ask again later, delete nothing.
    Hold(String),
    /// Ask for its deletion, as Velero's collector does.
    Collect,
}

/// Whether the collector looks at retention at all yet: within `EXTENSION - 1` passes of the
/// expiration (before that nothing can change; the look costs two API calls).
pub fn near(now: Timestamp, expiration: Timestamp, gc_frequency: Duration) -> bool {
    let margin = gc_frequency.saturating_mul(EXTENSION - 1);
    match Duration::try_from(expiration.duration_since(now)) {
        Ok(left) => left <= margin,
        // Already past.
        Err(_) => true,
    }
}

/// The decision, from plain facts: whether this cluster's retention keeps the backup, whether
/// the sync brought it in, and (for a synced one past its expiration) what its stored file
/// says.
pub fn next(
    now: Timestamp,
    expiration: Timestamp,
    kept_here: bool,
    synced: bool,
    stored: Option<&Stored>,
    gc_frequency: Duration,
) -> Next {
    if kept_here {
        let ahead = gc_frequency.saturating_mul(EXTENSION);
        let to = jiff::SignedDuration::try_from(ahead)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
            .unwrap_or(Timestamp::MAX);
        return Next::Extend { to };
    }
    if expiration > now {
        return Next::NotYet;
    }
    if !synced {
        return Next::Collect;
    }
    match stored {
        Some(Stored::Expires(Some(to))) if *to > now => Next::Follow { to: *to },
        Some(Stored::Unreadable(why)) => Next::Hold(why.clone()),
        None => Next::Hold("its stored velero-backup.json was not read".into()),
        Some(Stored::Missing | Stored::Expires(_)) => Next::Collect,
    }
}

/// Before the collector waits for or asks for a backup's deletion: `Some(action)` when it must
/// not (kept here, kept by the cluster that made it, or not known), `None` to go on as before.
pub(super) async fn hold(
    backup: &Backup,
    expiration: Timestamp,
    state: &State,
) -> Result<Option<Action>, Error> {
    let ctx = &state.ctx;
    let gc = ctx.settings.backup.gc_frequency;
    let now = Timestamp::now();
    if !near(now, expiration, gc) {
        return Ok(None);
    }
    let kept_here = crate::controller::kept_by_retention(ctx, backup).await?;
    let synced = backup.annotations().contains_key(SYNCED_ANNOTATION);
    let stored = if synced && !kept_here && expiration <= now {
        Some(read_stored(ctx, backup).await)
    } else {
        None
    };
    let name = backup.name_any();
    match next(now, expiration, kept_here, synced, stored.as_ref(), gc) {
        Next::Collect | Next::NotYet => Ok(None),
        Next::Extend { to } => {
            match extend_in_store(ctx, backup, to).await {
                Ok(()) => {
                    set_expiration(state, &name, to).await?;
                    tracing::info!(backup = %name, expiration = %to, "kept by its schedule's retention: expiration moved ahead, here and in the store");
                }
                // This cluster still keeps it; another cluster may not know, so say so.
                Err(why) => {
                    tracing::warn!(backup = %name, "kept by its schedule's retention, but its stored expiration could not be moved: {why}")
                }
            }
            Ok(Some(Action::requeue(gc)))
        }
        Next::Follow { to } => {
            set_expiration(state, &name, to).await?;
            tracing::info!(backup = %name, expiration = %to, "the cluster that made this backup keeps it past its TTL; following its stored expiration");
            Ok(Some(Action::requeue(gc)))
        }
        Next::Hold(why) => {
            tracing::warn!(backup = %name, "expired, but not deleted: whether the cluster that made it keeps it is not known ({why}); looking again later");
            Ok(Some(Action::requeue(gc)))
        }
    }
}

async fn set_expiration(state: &State, name: &str, to: Timestamp) -> Result<(), Error> {
    let patch = json!({"status": {"expiration": to.round(jiff::Unit::Second).unwrap_or(to)}});
    state
        .api()
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn location_of(ctx: &Context, backup: &Backup) -> Result<BackupStorageLocation, String> {
    let name = backup
        .files_location()
        .ok_or("the backup names no location")?;
    Api::<BackupStorageLocation>::namespaced(ctx.client.clone(), &ctx.settings.namespace)
        .get_opt(name)
        .await
        .map_err(|e| format!("reading location {name}: {e}"))?
        .ok_or_else(|| format!("location {name} does not exist"))
}

/// Read a synced backup's stored file through the location the sync found it in.
async fn read_stored(ctx: &Context, backup: &Backup) -> Stored {
    let outcome = async {
        let location = location_of(ctx, backup).await?;
        let store = store_for(ctx, &location).await?;
        match stored::read(&store, &backup.name_any()).await {
            Ok(None) => Ok(Stored::Missing),
            Ok(Some(bytes)) => stored::facts(&bytes).map(|f| Stored::Expires(f.expiration)),
            Err(e) => Err(e.to_string()),
        }
    }
    .await;
    outcome.unwrap_or_else(Stored::Unreadable)
}

/// Move the stored expiration of this cluster's backup to `to`, only while the stored file is
/// this Backup's (its uid): a file of the same name another cluster wrote is never rewritten.
async fn extend_in_store(ctx: &Context, backup: &Backup, to: Timestamp) -> Result<(), String> {
    let name = backup.name_any();
    let location = location_of(ctx, backup).await?;
    let store = store_for(ctx, &location).await?;
    let bytes = stored::read(&store, &name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("its velero-backup.json is not in the store")?;
    let facts = stored::facts(&bytes)?;
    if facts.uid.is_none() || facts.uid.as_deref() != backup.uid().as_deref() {
        return Err(format!(
            "the stored velero-backup.json is not this Backup's (uid {:?}); left as it is",
            facts.uid
        ));
    }
    let body = stored::with_expiration(&bytes, to)?;
    store
        .put(
            &crate::backup::backup_key(&name, "velero-backup.json"),
            body,
        )
        .await
        .map_err(|e| format!("writing velero-backup.json: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// (what, kept here, synced, stored, decision)
    #[test]
    fn decision_table() {
        let now = at("2026-12-01T12:00:00Z");
        let hour = Duration::from_secs(3600);
        let past = at("2026-12-01T11:59:00Z");
        let later = at("2026-12-01T14:00:00Z");
        let earlier = at("2026-12-01T11:00:00Z");
        let cases = [
            (
                "kept by this cluster's retention: three passes ahead",
                past,
                true,
                false,
                None,
                Next::Extend {
                    to: at("2026-12-01T15:00:00Z"),
                },
            ),
            (
                "kept, not expired yet but near: moved ahead before anyone looks",
                later,
                true,
                false,
                None,
                Next::Extend {
                    to: at("2026-12-01T15:00:00Z"),
                },
            ),
            (
                "not expired, not kept: wait",
                later,
                false,
                true,
                None,
                Next::NotYet,
            ),
            (
                "made here, not kept: collected",
                past,
                false,
                false,
                None,
                Next::Collect,
            ),
            (
                "synced, the making cluster moved its expiration: followed",
                past,
                false,
                true,
                Some(Stored::Expires(Some(later))),
                Next::Follow { to: later },
            ),
            (
                "synced, the making cluster stopped keeping it (lease ran out): collected",
                past,
                false,
                true,
                Some(Stored::Expires(Some(earlier))),
                Next::Collect,
            ),
            (
                "synced, no expiration stored: collected",
                past,
                false,
                true,
                Some(Stored::Expires(None)),
                Next::Collect,
            ),
            (
                "synced, gone from the store: collected (nothing to keep)",
                past,
                false,
                true,
                Some(Stored::Missing),
                Next::Collect,
            ),
            (
                "synced, the store did not answer cleanly: held, nothing deleted",
                past,
                false,
                true,
                Some(Stored::Unreadable("503".into())),
                Next::Hold("503".into()),
            ),
        ];
        for (what, expiration, kept, synced, stored, want) in cases {
            assert_eq!(
                next(now, expiration, kept, synced, stored.as_ref(), hour),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn retention_is_looked_at_within_two_passes_of_the_expiration() {
        let now = at("2026-12-01T12:00:00Z");
        let hour = Duration::from_secs(3600);
        for (expiration, want) in [
            ("2026-12-01T11:00:00Z", true),
            ("2026-12-01T13:00:00Z", true),
            ("2026-12-01T14:00:00Z", true),
            ("2026-12-01T14:00:01Z", false),
            ("2027-12-01T00:00:00Z", false),
        ] {
            assert_eq!(near(now, at(expiration), hour), want, "{expiration}");
        }
    }
}
