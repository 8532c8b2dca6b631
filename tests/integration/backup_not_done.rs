//! Nothing silently ignored: a backup that asks for what veloxide does not do yet ends with a
//! warning in its status, its log and its results naming the field and what was left out;
//! one that asks for nothing of the kind has none; and `velero.io/exclude-from-backup=true`
//! keeps an object out.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// A pod that never runs (no node): enough for a backup to take it.
fn pod(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "app", "annotations": annotations},
        "spec": {"automountServiceAccountToken": false,
                 "containers": [{"name": "c", "image": "busybox"}]}})
}

fn results_of(world: &server_support::World, name: &str) -> Value {
    serde_json::from_slice(&gunzip(&download(
        world,
        &format!("default/backups/{name}/{name}-results.gz"),
    )))
    .unwrap()
}

fn log_of(world: &server_support::World, name: &str) -> String {
    String::from_utf8(gunzip(&download(
        world,
        &format!("default/backups/{name}/{name}-logs.gz"),
    )))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_backup_asks_and_is_not_done_is_said_and_excluded_objects_stay_out() {
    let world = server_support::World::start().await;
    let _server = serve_plain_location(&world, "default").await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kept", "namespace": "app"}, "data": {"a": "1"}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "left-out", "namespace": "app",
                         "labels": {"velero.io/exclude-from-backup": "true"}},
            "data": {"a": "1"}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "app"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    // The namespace's default ServiceAccount comes from the controller manager, a moment after
    // the namespace; the pod needs it.
    eventually("the default ServiceAccount exists", WAIT, || async {
        crate::restore_support::get(&world, "v1", "serviceaccounts", "app", "default")
            .await
            .is_some()
    })
    .await;
    create(
        &world,
        pod(
            "web",
            json!({"backup.velero.io/backup-volumes": "data",
                   "pre.hook.backup.velero.io/command": "[\"/bin/sync\"]"}),
        ),
    )
    .await;

    // Every field and annotation at once.
    let asked = backed_up(
        &world,
        "asked",
        json!({"includedNamespaces": ["app"], "defaultVolumesToFsBackup": true,
               "snapshotMoveData": true, "orderedResources": {"configmaps": "app/kept"},
               "uploaderConfig": {"parallelFilesUpload": 4},
               "volumeSnapshotLocations": ["aws-east"],
               "volumeGroupSnapshotLabelKey": "app.io/group"}),
        WAIT,
    )
    .await;
    // What the spec asks is said for the whole backup; a claim's volume, in its namespace.
    // (File-system backup is done now: defaultVolumesToFsBackup and the pod annotation are
    // not among them; tests/integration/backup_fsb.rs backs the volumes up.)
    let results = results_of(&world, "asked");
    let said: Vec<&str> = results["warnings"]["velero"]
        .as_array()
        .unwrap()
        .iter()
        .chain(results["warnings"]["namespaces"]["app"].as_array().unwrap())
        .map(|w| w.as_str().unwrap())
        .collect();
    for want in [
        // No node here: the claim never binds, so there is no volume to snapshot.
        "claim app/data is not bound (phase \"Pending\"): there is no volume to snapshot",
        "spec.snapshotMoveData is true",
        "backup hook annotations on 1 pods taken (app/web: pre.hook.backup.velero.io/command)",
        "spec.uploaderConfig sets parallelFilesUpload=4",
        "spec.volumeSnapshotLocations names aws-east",
        "spec.volumeGroupSnapshotLabelKey is app.io/group",
    ] {
        assert!(
            said.iter().any(|s| s.starts_with(want)),
            "no warning {want:?} in {said:#?}"
        );
    }
    assert!(
        asked.status.as_ref().unwrap().warnings.unwrap_or(0) >= 6,
        "{said:#?}"
    );
    let log = log_of(&world, "asked");
    assert!(
        log.contains("level=warning") && log.contains("spec.snapshotMoveData is true"),
        "{log}"
    );
    // The excluded ConfigMap is not in the archive, and the log says why.
    let entries = untar(&download(&world, "default/backups/asked/asked.tar.gz"));
    assert!(entries.contains_key("resources/configmaps/namespaces/app/kept.json"));
    assert!(
        !entries.keys().any(|k| k.contains("left-out")),
        "{:?}",
        entries.keys().collect::<Vec<_>>()
    );
    assert!(
        log.contains("velero.io/exclude-from-backup=true") && log.contains("left-out"),
        "{log}"
    );

    // Defaults the user did not set, or set to what changes nothing, warn of nothing; asking
    // for no snapshots means the claims' warning does not apply.
    let quiet = backed_up(
        &world,
        "quiet",
        json!({"includedNamespaces": ["app"], "includedResources": ["configmaps", "persistentvolumeclaims"],
               "snapshotVolumes": false, "defaultVolumesToFsBackup": false, "snapshotMoveData": false}),
        WAIT,
    )
    .await;
    let warnings = results_of(&world, "quiet")["warnings"].clone();
    assert_eq!(
        quiet.status.as_ref().unwrap().warnings.unwrap_or(0),
        0,
        "{warnings}"
    );
}
