//! The sync's plan, table by table: what is created, skipped and removed.

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
            prefix: "team".into(),
            provider: Some("aws".into()),
            // Whose files: the uid stored with them (a deletion here checks the store for it).
            uid: Some("0b8c-uid".into()),
            ..Default::default()
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
    let backups = [
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
        let facts: BTreeMap<String, Here> = backups
            .iter()
            .map(|b| (b.metadata.name.clone().unwrap(), here(b, loc)))
            .collect();
        orphans(&facts, &store)
            .iter()
            .map(|n| n.to_string())
            .collect()
    };
    assert_eq!(names("a"), ["gone", "gone-partial"]);
    assert_eq!(names(&long), ["long-gone"]);
}

#[test]
fn backups_an_older_release_synced_get_their_owner_recorded_and_no_others() {
    let backup = |annotations: serde_json::Value, status: serde_json::Value| -> Backup {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "velero", "annotations": annotations},
            "spec": {}, "status": status,
        }))
        .unwrap()
    };
    let synced = json!({SYNCED_ANNOTATION: "default"});
    let record = |uid: Option<&str>, location: &str| json!({"location": location, "bucket": "b", "prefix": "p", "uid": uid});
    for (case, b, lacks) in [
        (
            "synced, no record",
            backup(synced.clone(), json!({"phase": "Completed"})),
            true,
        ),
        (
            "synced, a record without uid",
            backup(
                synced.clone(),
                json!({"phase": "Completed", "writtenTo": record(None, "default")}),
            ),
            true,
        ),
        (
            "synced, uid known",
            backup(
                synced.clone(),
                json!({"phase": "Completed", "writtenTo": record(Some("u1"), "default")}),
            ),
            false,
        ),
        (
            "synced, status not written yet (the create path finishes it)",
            backup(synced.clone(), json!({})),
            false,
        ),
        (
            "synced from another location",
            backup(
                json!({SYNCED_ANNOTATION: "other"}),
                json!({"phase": "Completed"}),
            ),
            false,
        ),
        (
            "made here",
            backup(json!({}), json!({"phase": "Completed"})),
            false,
        ),
        (
            "a record of another location",
            backup(
                synced.clone(),
                json!({"phase": "Completed", "writtenTo": record(None, "other")}),
            ),
            false,
        ),
    ] {
        assert_eq!(lacks_owner(&b, "default"), lacks, "{case}");
    }
}
