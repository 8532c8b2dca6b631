//! The sync's decisions as plain functions: when a location is due, which phases are synced,
//! what a Backup made from a stored `velero-backup.json` looks like, and which objects are
//! orphans.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;

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

/// Decode a stored `velero-backup.json`: the v1 Backup as Velero or veloxide wrote it; fields
/// this version does not know are ignored, and a phase it does not know is not synced.
pub fn decode(bytes: &[u8]) -> Result<Backup, Skip> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Skip::Bad("Undecodable", format!("not JSON: {e}")))?;
    if value["kind"] != "Backup" || value["apiVersion"] != "velero.io/v1" {
        return Err(Skip::Bad(
            "NotABackup",
            format!(
                "apiVersion {} kind {}: not a velero.io/v1 Backup",
                value["apiVersion"], value["kind"]
            ),
        ));
    }
    if let Some(phase) = value.pointer("/status/phase").cloned() {
        if serde_json::from_value::<BackupPhase>(phase.clone()).is_err() {
            return Err(Skip::Phase(phase.to_string()));
        }
    }
    // A null status is Velero's "not set".
    if value.get("status").is_some_and(|s| s.is_null()) {
        value.as_object_mut().map(|o| o.remove("status"));
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| Skip::Bad("Undecodable", format!("field {}: {}", e.path(), e.inner())))
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
    status.written_to = Some(BackupWrittenTo::of(
        &location_name,
        &location.spec.object_storage,
    ));
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

/// Backups labelled with this location, Completed or PartiallyFailed, whose folder is gone
/// from the store: their objects go (Velero's rule; the files are gone already).
pub fn orphans<'a>(
    backups: &'a [Backup],
    location: &str,
    in_store: &BTreeSet<String>,
) -> Vec<&'a Backup> {
    let label = valid_name(location);
    backups
        .iter()
        .filter(|b| {
            b.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(STORAGE_LOCATION_LABEL))
                == Some(&label)
        })
        .filter(|b| {
            matches!(
                b.phase(),
                BackupPhase::Completed | BackupPhase::PartiallyFailed
            )
        })
        .filter(|b| b.metadata.deletion_timestamp.is_none())
        .filter(|b| !in_store.contains(b.metadata.name.as_deref().unwrap_or("")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn finished_phases_sync_as_they_are_and_others_never() {
        use BackupPhase as P;
        let now = ts(1000);
        for p in [P::Completed, P::PartiallyFailed, P::Failed] {
            assert_eq!(sync_phase(Some(p), None, now), Some(p), "{p:?}");
        }
        for p in [
            P::New,
            P::FailedValidation,
            P::Queued,
            P::ReadyToStart,
            P::InProgress,
            P::Deleting,
        ] {
            assert_eq!(sync_phase(Some(p), Some(ts(1)), now), None, "{p:?}");
        }
        assert_eq!(sync_phase(None, None, now), None);
        // Velero's unfinished plugin phases: only once expired, as PartiallyFailed.
        for p in [
            P::WaitingForPluginOperations,
            P::WaitingForPluginOperationsPartiallyFailed,
            P::Finalizing,
            P::FinalizingPartiallyFailed,
        ] {
            assert_eq!(sync_phase(Some(p), Some(ts(2000)), now), None, "{p:?}");
            assert_eq!(sync_phase(Some(p), None, now), None, "{p:?}");
            assert_eq!(
                sync_phase(Some(p), Some(ts(1000)), now),
                Some(P::PartiallyFailed),
                "{p:?}"
            );
        }
    }

    #[test]
    fn periods_follow_velero() {
        let minute = Duration::from_secs(60);
        assert_eq!(period(None, minute), Some(minute));
        assert_eq!(
            period(Some(&GoDuration("30s".into())), minute),
            Some(Duration::from_secs(30))
        );
        assert_eq!(period(Some(&GoDuration("0s".into())), minute), None);
        assert_eq!(
            period(Some(&GoDuration("-5m".into())), minute),
            Some(minute)
        );
        assert_eq!(period(None, Duration::ZERO), None);
        assert_eq!(
            period(Some(&GoDuration("2s".into())), Duration::ZERO),
            Some(Duration::from_secs(2))
        );
        assert_eq!(until_due(None, minute, ts(100)), Duration::ZERO);
        assert_eq!(
            until_due(Some(ts(100)), minute, ts(130)),
            Duration::from_secs(30)
        );
        assert_eq!(until_due(Some(ts(100)), minute, ts(170)), Duration::ZERO);
        assert_eq!(next_wait([], minute), minute);
        assert_eq!(next_wait([Duration::ZERO], minute), MIN_WAIT);
        assert_eq!(next_wait([Duration::from_secs(600)], minute), MAX_WAIT);
    }

    fn location(name: &str, default: bool) -> BackupStorageLocation {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": name, "namespace": "velero"},
            "spec": {"provider": "aws", "default": default,
                     "objectStorage": {"bucket": "shared", "prefix": "/team/"}},
        }))
        .unwrap()
    }

    #[test]
    fn the_default_location_goes_first() {
        let sorted = order(vec![
            location("a", false),
            location("z", true),
            location("b", false),
        ]);
        let names: Vec<_> = sorted
            .iter()
            .map(|l| l.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["z", "a", "b"]);
    }

    /// A `velero-backup.json` as Velero v1.17 writes it (`encode.To(backup, "json")`), with
    /// fields veloxide does not know.
    fn velero_file(name: &str, phase: &str) -> Vec<u8> {
        serde_json::to_vec_pretty(&json!({
            "kind": "Backup", "apiVersion": "velero.io/v1",
            "metadata": {
                "name": name, "namespace": "velero", "uid": "0b8c-uid", "resourceVersion": "4711",
                "generation": 3, "creationTimestamp": "2026-11-30T10:00:00Z",
                "labels": {"velero.io/schedule-name": "nightly", "velero.io/storage-location": "old"},
                "annotations": {"velero.io/resource-timeout": "10m0s", "velero.io/source-cluster-k8s-gitversion": "v1.31.0"},
                "finalizers": ["veloxide.io/backup-objects"],
                "ownerReferences": [
                    {"apiVersion": "velero.io/v1", "kind": "Schedule", "name": "nightly", "uid": "s-1", "controller": true},
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x", "uid": "d-1"}
                ],
                "managedFields": [{"manager": "velero-server", "operation": "Update"}]
            },
            "spec": {
                "metadata": {}, "includedNamespaces": ["shop"], "excludedNamespaces": null,
                "includedResources": null, "labelSelector": null, "snapshotVolumes": null,
                "storageLocation": "old", "ttl": "720h0m0s", "defaultVolumesToFsBackup": false,
                "hooks": {"resources": [{"name": "freeze", "pre": [{"exec": {"command": ["fsfreeze"]}}]}]},
                "csiSnapshotTimeout": "10m0s", "itemOperationTimeout": "4h0m0s",
                "snapshotMoveData": false, "uploaderConfig": {"parallelFilesUpload": 4},
                "resourcePolicy": {"kind": "configmap", "name": "policy"},
                "volumeGroupSnapshotLabelKey": "velero.io/volume-group"
            },
            "status": {
                "version": 1, "formatVersion": "1.1.0", "expiration": "2026-12-30T10:00:00Z",
                "phase": phase, "startTimestamp": "2026-11-30T10:00:01Z",
                "completionTimestamp": "2026-11-30T10:00:09Z", "warnings": 2,
                "progress": {"totalItems": 42, "itemsBackedUp": 42},
                "hookStatus": {"hooksAttempted": 1}, "backupItemOperationsAttempted": 0,
                "csiVolumeSnapshotsAttempted": 0, "volumeSnapshotsAttempted": 0
            }
        }))
        .unwrap()
    }

    #[test]
    fn velero_s_own_file_decodes_and_becomes_a_local_backup() {
        let stored = decode(&velero_file("nightly-1", "Completed")).unwrap();
        let here = location("shared", false);
        let b = prepare(stored, "nightly-1", &here, "velero", ts(0)).unwrap();
        let m = &b.metadata;
        assert_eq!(m.namespace.as_deref(), Some("velero"));
        assert_eq!(m.resource_version, None);
        assert_eq!(m.uid, None);
        assert_eq!(m.finalizers, None);
        assert_eq!(m.managed_fields, None);
        let refs = m.owner_references.as_ref().unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].kind, "Schedule");
        let labels = m.labels.as_ref().unwrap();
        assert_eq!(labels["velero.io/storage-location"], "shared");
        assert_eq!(labels["velero.io/schedule-name"], "nightly");
        assert_eq!(m.annotations.as_ref().unwrap()[SYNCED_ANNOTATION], "shared");
        assert_eq!(b.spec.storage_location.as_deref(), Some("shared"));
        assert_eq!(b.spec.hooks, None);
        assert_eq!(b.spec.included_namespaces, Some(vec!["shop".to_owned()]));
        assert_eq!(b.spec.ttl, Some(GoDuration("720h0m0s".into())));
        let status = b.status.as_ref().unwrap();
        assert_eq!(status.phase, Some(BackupPhase::Completed));
        assert_eq!(status.warnings, Some(2));
        assert_eq!(
            status.written_to,
            Some(BackupWrittenTo {
                location: "shared".into(),
                bucket: "shared".into(),
                prefix: "team".into()
            })
        );
    }

    #[test]
    fn unusable_files_are_told_apart_from_unsynced_phases() {
        let here = location("shared", false);
        assert!(matches!(
            decode(b"{not json"),
            Err(Skip::Bad("Undecodable", _))
        ));
        assert!(matches!(
            decode(br#"{"kind": "Restore", "apiVersion": "velero.io/v1"}"#),
            Err(Skip::Bad("NotABackup", _))
        ));
        let Err(Skip::Bad("Undecodable", why)) = decode(
            br#"{"kind": "Backup", "apiVersion": "velero.io/v1", "metadata": {"name": "b"}, "spec": {"ttl": 5}}"#,
        ) else {
            panic!("a wrongly typed field is not reported")
        };
        assert!(why.contains("spec.ttl"), "{why}");
        // A phase from a later Velero is not synced, not an error.
        assert!(matches!(
            decode(&velero_file("b", "Reticulating")),
            Err(Skip::Phase(_))
        ));
        let running = decode(&velero_file("b", "InProgress")).unwrap();
        assert!(matches!(
            prepare(running, "b", &here, "velero", ts(0)),
            Err(Skip::Phase(p)) if p == "InProgress"
        ));
        let elsewhere = decode(&velero_file("b", "Completed")).unwrap();
        assert!(matches!(
            prepare(elsewhere, "c", &here, "velero", ts(0)),
            Err(Skip::Bad("NameMismatch", _))
        ));
    }

    #[test]
    fn orphans_are_finished_labelled_backups_missing_from_the_store() {
        let b = |name: &str, label: &str, phase: &str| -> Backup {
            serde_json::from_value(json!({
                "apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": "velero",
                             "labels": {"velero.io/storage-location": label}},
                "spec": {}, "status": {"phase": phase},
            }))
            .unwrap()
        };
        let long = "l".repeat(70);
        let backups = vec![
            b("gone", "a", "Completed"),
            b("gone-partial", "a", "PartiallyFailed"),
            b("kept", "a", "Completed"),
            b("failed", "a", "Failed"),
            b("running", "a", "InProgress"),
            b("other", "b", "Completed"),
            b("long-gone", &valid_name(&long), "Completed"),
        ];
        let store: BTreeSet<String> = ["kept".to_owned()].into();
        let names = |loc: &str| -> Vec<String> {
            orphans(&backups, loc, &store)
                .iter()
                .map(|b| b.metadata.name.clone().unwrap())
                .collect()
        };
        assert_eq!(names("a"), ["gone", "gone-partial"]);
        assert_eq!(names(&long), ["long-gone"]);
    }
}
