use super::*;
use serde_json::json;

fn asks(spec: serde_json::Value) -> Asks {
    Asks::from_spec(&serde_json::from_value(spec).unwrap())
}

fn seen(claims: &[&str], fs: &[(&str, &str)], hooks: &[(&str, &str)]) -> Seen {
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    Seen {
        claims: claims.iter().map(|c| c.to_string()).collect(),
        fs_backup_pods: pairs(fs),
        hook_pods: pairs(hooks),
    }
}

/// (what, spec, seen, the start of each warning, in order)
#[test]
fn table() {
    let none = Seen::default();
    let one_claim = seen(&["app/data"], &[], &[]);
    let cases: Vec<(&str, serde_json::Value, Seen, Vec<&str>)> = vec![
        (
            "an empty spec, nothing taken: nothing",
            json!({}),
            none.clone(),
            vec![],
        ),
        (
            "defaults the user did not set that change nothing: nothing",
            json!({"snapshotVolumes": null, "defaultVolumesToFsBackup": false,
                   "snapshotMoveData": false, "orderedResources": {}}),
            none.clone(),
            vec![],
        ),
        (
            "a claim taken: snapshots are taken now (the volumes step reports each claim)",
            json!({}),
            one_claim.clone(),
            vec![],
        ),
        (
            "a claim taken, snapshotVolumes true",
            json!({"snapshotVolumes": true}),
            one_claim,
            vec![],
        ),
        (
            "snapshotVolumes true and no claim: nothing left out",
            json!({"snapshotVolumes": true}),
            none.clone(),
            vec![],
        ),
        (
            "defaultVolumesToFsBackup: done now (the volumes step reports each volume)",
            json!({"defaultVolumesToFsBackup": true}),
            none.clone(),
            vec![],
        ),
        (
            "snapshotMoveData",
            json!({"snapshotMoveData": true}),
            none.clone(),
            vec!["spec.snapshotMoveData is true, but"],
        ),
        (
            "the file-system backup annotation on a pod: done now",
            json!({}),
            seen(&[], &[("app/web", "data,logs")], &[]),
            vec![],
        ),
        (
            "hook annotations on a pod",
            json!({}),
            seen(&[], &[], &[("app/db", "pre.hook.backup.velero.io/command")]),
            vec![
                "backup hook annotations on 1 pods taken (app/db: pre.hook.backup.velero.io/command): this server runs without hooks (enable them with the chart's hooks.enabled); none was run",
            ],
        ),
        (
            "orderedResources (honoured: no warning)",
            json!({"orderedResources": {"pods": "app/a,app/b"}}),
            none.clone(),
            vec![],
        ),
        (
            "a resource policy: applied to volumes now",
            json!({"resourcePolicy": {"kind": "configmap", "name": "skip-big"}}),
            none.clone(),
            vec![],
        ),
        (
            "the deprecated defaultVolumesToRestic, true: read as defaultVolumesToFsBackup, done",
            json!({"defaultVolumesToRestic": true, "defaultVolumesToFsBackup": false}),
            none.clone(),
            vec![],
        ),
        (
            "defaultVolumesToRestic false leaves defaultVolumesToFsBackup as it is",
            json!({"defaultVolumesToRestic": false, "defaultVolumesToFsBackup": true}),
            none.clone(),
            vec![],
        ),
        (
            "uploaderConfig with a value",
            json!({"uploaderConfig": {"parallelFilesUpload": 4}}),
            none.clone(),
            vec![
                "spec.uploaderConfig sets parallelFilesUpload=4, which only file-system backup uses",
            ],
        ),
        (
            "uploaderConfig at its default: nothing",
            json!({"uploaderConfig": {"parallelFilesUpload": 0}}),
            none.clone(),
            vec![],
        ),
        (
            "volume snapshot locations",
            json!({"volumeSnapshotLocations": ["aws-east", "aws-west"]}),
            none.clone(),
            vec![
                "spec.volumeSnapshotLocations names aws-east, aws-west, but veloxide takes no native",
            ],
        ),
        (
            "a group snapshot label with a claim taken",
            json!({"volumeGroupSnapshotLabelKey": "app.io/group", "snapshotVolumes": false}),
            seen(&["app/data"], &[], &[]),
            vec![
                "spec.volumeGroupSnapshotLabelKey is app.io/group, but veloxide takes no VolumeGroupSnapshots",
            ],
        ),
        (
            "a group snapshot label and no claim: it changes nothing",
            json!({"volumeGroupSnapshotLabelKey": "app.io/group"}),
            none.clone(),
            vec![],
        ),
        (
            "several at once, in the table's order",
            json!({"snapshotMoveData": true, "uploaderConfig": {"parallelFilesUpload": 2}}),
            seen(&["a/1", "a/2", "a/3", "a/4", "a/5", "a/6", "a/7"], &[], &[]),
            vec!["spec.uploaderConfig", "spec.snapshotMoveData"],
        ),
    ];
    for (what, spec, seen, want) in cases {
        let got = not_done(&asks(spec), &seen);
        assert_eq!(got.len(), want.len(), "{what}: {got:#?}");
        for (got, want) in got.iter().zip(&want) {
            assert!(
                got.starts_with(want),
                "{what}: {got:?} does not start {want:?}"
            );
        }
    }
}

#[test]
fn seen_notes_claims_and_pod_annotations_only() {
    let object = |annotations: serde_json::Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "n", "namespace": "ns", "annotations": annotations}}))
        .unwrap()
    };
    let mut seen = Seen::default();
    seen.observe("", "persistentvolumeclaims", &object(json!({})));
    seen.observe(
        "",
        "pods",
        &object(json!({"backup.velero.io/backup-volumes": "data",
                       "post.hook.backup.velero.io/command": "[\"sync\"]"})),
    );
    seen.observe(
        "",
        "pods",
        &object(json!({"backup.velero.io/backup-volumes": " "})),
    );
    seen.observe(
        "",
        "configmaps",
        &object(json!({"backup.velero.io/backup-volumes": "x"})),
    );
    seen.observe(
        "example.com",
        "pods",
        &object(json!({"backup.velero.io/backup-volumes": "x"})),
    );
    assert_eq!(
        seen,
        Seen {
            claims: vec!["ns/n".into()],
            fs_backup_pods: vec![("ns/n".into(), "data".into())],
            hook_pods: vec![("ns/n".into(), "post.hook.backup.velero.io/command".into())],
        }
    );
}

#[test]
fn restores_warn_of_uploader_config_only_when_it_asks_something() {
    for (config, want) in [
        (json!({}), None),
        (json!({"parallelFilesDownload": 0}), None),
        (
            json!({"writeSparseFiles": true, "parallelFilesDownload": 8}),
            Some(
                "spec.uploaderConfig sets writeSparseFiles=true, parallelFilesDownload=8, which only file-system restores use",
            ),
        ),
    ] {
        let spec = json!({"backupName": "b", "uploaderConfig": config});
        let got = restore_not_done(&serde_json::from_value(spec.clone()).unwrap());
        match want {
            None => assert!(got.is_empty(), "{spec}: {got:?}"),
            Some(want) => assert!(
                got.len() == 1 && got[0].starts_with(want),
                "{spec}: {got:?}"
            ),
        }
    }
}

#[test]
fn restores_no_longer_warn_of_restore_pvs() {
    // Volumes come back from CSI snapshots now (restore::actions::csi).
    for spec in [
        json!({"backupName": "b"}),
        json!({"backupName": "b", "restorePVs": true}),
    ] {
        let got = restore_not_done(&serde_json::from_value(spec.clone()).unwrap());
        assert!(got.is_empty(), "{spec}: {got:?}");
    }
}
