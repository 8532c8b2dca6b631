//! The sync's decisions as plain functions: when a location is due, which phases are synced,
//! what a Backup made from a stored `velero-backup.json` looks like, and which objects are
//! orphans.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt as _;

use super::state::{MAX_WAIT, MIN_WAIT, Skip};
use crate::api::backup::{STORAGE_LOCATION_LABEL, SYNCED_ANNOTATION};
use crate::api::label::valid_name;
use crate::api::{Backup, BackupPhase, BackupStorageLocation, BackupWrittenTo, GoDuration};

/// A location's sync period: its own `backupSyncPeriod`, else the server's; `None` when the
/// sync is off for it (a zero period). A period that does not parse (a negative one) means
/// the server's, as in Velero.
pub fn period(own: Option<&GoDuration>, server: Duration) -> Option<Duration> {
    let period = match own.map(GoDuration::parse) {
        Some(Ok(p)) => p,
        Some(Err(_)) | None => server,
    };
    (!period.is_zero()).then_some(period)
}

/// How long until the location is due: zero when it is (never synced, or `period` has passed
/// since `last_synced`).
pub fn until_due(last_synced: Option<Timestamp>, period: Duration, now: Timestamp) -> Duration {
    let Some(last) = last_synced else {
        return Duration::ZERO;
    };
    let since = Duration::try_from(now.duration_since(last)).unwrap_or(Duration::ZERO);
    period.saturating_sub(since)
}

/// How long the loop sleeps: until the soonest location is due, within bounds.
pub fn next_wait(untils: impl IntoIterator<Item = Duration>, server: Duration) -> Duration {
    let idle = if server.is_zero() { MAX_WAIT } else { server };
    untils
        .into_iter()
        .min()
        .unwrap_or(idle)
        .clamp(MIN_WAIT, MAX_WAIT)
}

/// The default location first (Velero's order), then the others by name.
pub fn order(mut locations: Vec<BackupStorageLocation>) -> Vec<BackupStorageLocation> {
    locations.sort_by_key(|l| (l.spec.default != Some(true), l.metadata.name.clone()));
    locations
}

/// The phase a stored backup is synced with, or `None` when it is not synced: finished
/// backups as they are; Velero's unfinished plugin phases only once expired, as
/// PartiallyFailed (Velero's rule); anything else (New, InProgress, ...) never, since it would
/// be run again.
pub fn sync_phase(
    phase: Option<BackupPhase>,
    expiration: Option<Timestamp>,
    now: Timestamp,
) -> Option<BackupPhase> {
    use BackupPhase as P;
    match phase? {
        p @ (P::Completed | P::PartiallyFailed | P::Failed) => Some(p),
        P::WaitingForPluginOperations
        | P::WaitingForPluginOperationsPartiallyFailed
        | P::Finalizing
        | P::FinalizingPartiallyFailed
            if expiration.is_some_and(|e| e <= now) =>
        {
            Some(P::PartiallyFailed)
        }
        _ => None,
    }
}

/// The few fields looked at before the whole decode; every other field is skipped as the
/// parser passes it, without being built.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(default, borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow, rename = "apiVersion")]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    status: Option<StatusHead>,
}

#[derive(serde::Deserialize)]
struct StatusHead {
    #[serde(default)]
    phase: Option<String>,
}

/// Decode a stored `velero-backup.json`: the v1 Backup as Velero or veloxide wrote it; fields
/// this version does not know are ignored, and a phase it does not know is not synced.
///
/// Decoded straight into the typed Backup (never into a generic JSON tree first): what it
/// holds in memory is then a small multiple of the bytes it keeps, and nothing for the fields
/// it skips, whatever a file planted in a shared bucket contains.
pub fn decode(bytes: &[u8]) -> Result<Backup, Skip> {
    let undecodable = |e: String| Skip::Bad("Undecodable", e);
    let head: Head<'_> =
        serde_json::from_slice(bytes).map_err(|e| undecodable(format!("not JSON: {e}")))?;
    if head.kind.as_deref() != Some("Backup") || head.api_version.as_deref() != Some("velero.io/v1")
    {
        let shown = |v: Option<std::borrow::Cow<'_, str>>| {
            v.map_or("null".to_owned(), |v| {
                format!("{:?}", v.chars().take(64).collect::<String>())
            })
        };
        return Err(Skip::Bad(
            "NotABackup",
            format!(
                "apiVersion {} kind {}: not a velero.io/v1 Backup",
                shown(head.api_version),
                shown(head.kind)
            ),
        ));
    }
    if let Some(phase) = head.status.and_then(|s| s.phase) {
        let value = serde_json::Value::String(phase);
        if serde_json::from_value::<BackupPhase>(value.clone()).is_err() {
            return Err(Skip::Phase(value.to_string()));
        }
    }
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let backup: Backup = serde_path_to_error::deserialize(&mut reader)
        .map_err(|e| undecodable(format!("field {}: {}", e.path(), e.inner())))?;
    reader
        .end()
        .map_err(|e| undecodable(format!("after the Backup: {e}")))?;
    Ok(backup)
}

/// The Backup object to create for a stored backup in `folder` of `location`, with the status
/// to write once it exists (the status subresource ignores status on create). Owner references
/// other than Schedules are dropped here; Schedules are checked by the caller.
pub fn prepare(
    mut stored: Backup,
    folder: &str,
    location: &BackupStorageLocation,
    namespace: &str,
    now: Timestamp,
) -> Result<Backup, Skip> {
    let named = stored.metadata.name.as_deref().unwrap_or("");
    if named != folder {
        return Err(Skip::Bad(
            "NameMismatch",
            format!("velero-backup.json names backup {named:?} but lies under backups/{folder}/"),
        ));
    }
    let mut status = stored.status.take().unwrap_or_default();
    let expiration = status.expiration.as_ref().map(|t| t.0);
    let Some(phase) = sync_phase(status.phase, expiration, now) else {
        return Err(Skip::Phase(
            status.phase.map_or("none", BackupPhase::as_str).to_owned(),
        ));
    };
    status.phase = Some(phase);
    let location_name = location.metadata.name.clone().unwrap_or_default();
    // Whose files: the uid stored with them, which their owner marker (or the stored
    // metadata) names; a deletion here deletes them only while it does.
    status.written_to = Some(
        BackupWrittenTo::of(&location_name, &location.spec).owned_by(stored.metadata.uid.clone()),
    );
    let meta = &mut stored.metadata;
    meta.namespace = Some(namespace.to_owned());
    meta.resource_version = None;
    meta.uid = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.generation = None;
    meta.generate_name = None;
    meta.managed_fields = None;
    // No controller here owns another cluster's finalizers (among them veloxide's older,
    // data-deleting one): kept, they would only make the object undeletable.
    meta.finalizers = None;
    // An owner of another kind from another cluster would not exist here, and the garbage
    // collector would delete the Backup at once (and the sync bring it back, forever).
    if let Some(refs) = meta.owner_references.as_mut() {
        refs.retain(|r| r.kind == "Schedule" && r.api_version.starts_with("velero.io/"));
    }
    meta.labels.get_or_insert_with(Default::default).insert(
        STORAGE_LOCATION_LABEL.to_owned(),
        valid_name(&location_name),
    );
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(SYNCED_ANNOTATION.to_owned(), location_name.clone());
    stored.spec.storage_location = Some(location_name);
    stored.spec.hooks = None;
    stored.status = Some(status);
    Ok(stored)
}

/// Whether `backup`, synced from location `location` by an older release, lacks the uid of
/// whose files these are (older releases recorded none, or no `writtenTo` at all).
pub fn lacks_owner(backup: &Backup, location: &str) -> bool {
    let synced_here = backup
        .annotations()
        .get(SYNCED_ANNOTATION)
        .is_some_and(|l| l == location);
    let written = backup.status.as_ref().and_then(|s| s.written_to.as_ref());
    synced_here
        && backup.phase() != BackupPhase::New
        && written.is_none_or(|w| w.uid.is_none() && w.location == location)
}

/// The `writtenTo` a synced backup gets once its stored uid is known: the record it has (an
/// older release's, with the store it was synced from), else the location's, naming `uid`.
pub fn with_owner(
    backup: &Backup,
    location: &BackupStorageLocation,
    uid: String,
) -> BackupWrittenTo {
    let name = location.metadata.name.clone().unwrap_or_default();
    backup
        .status
        .as_ref()
        .and_then(|s| s.written_to.clone())
        .unwrap_or_else(|| BackupWrittenTo::of(&name, &location.spec))
        .owned_by(Some(uid))
}

/// What a pass keeps of each Backup here while it runs: three facts, not the object (a pass
/// over a cluster of 100,000 Backups held them all, twice the cache's memory, while it ran).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Here {
    /// A previous pass created it and did not write its status (New, synced): finish it.
    pub unfinished: bool,
    /// Synced from this location by an older release, with no owner recorded
    /// ([`lacks_owner`]).
    pub lacks_owner: bool,
    /// Labelled with this location, Completed or PartiallyFailed, not being deleted: an
    /// orphan once its folder is gone from the store (Velero's rule).
    pub orphan_if_gone: bool,
}

/// The facts a pass over `location` keeps of `backup`.
pub fn here(backup: &Backup, location: &str) -> Here {
    let label = valid_name(location);
    Here {
        unfinished: backup.phase() == BackupPhase::New
            && backup.annotations().contains_key(SYNCED_ANNOTATION),
        lacks_owner: lacks_owner(backup, location),
        orphan_if_gone: backup
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(STORAGE_LOCATION_LABEL))
            == Some(&label)
            && matches!(
                backup.phase(),
                BackupPhase::Completed | BackupPhase::PartiallyFailed
            )
            && backup.metadata.deletion_timestamp.is_none(),
    }
}

/// The Backups whose objects go: orphans whose folder is gone from the store.
pub fn orphans<'a>(here: &'a BTreeMap<String, Here>, in_store: &BTreeSet<String>) -> Vec<&'a str> {
    here.iter()
        .filter(|(name, facts)| facts.orphan_if_gone && !in_store.contains(*name))
        .map(|(name, _)| name.as_str())
        .collect()
}

#[cfg(test)]
mod tests;
