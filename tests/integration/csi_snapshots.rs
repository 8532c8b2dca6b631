//! CSI snapshots on the real node (docs/volumes.md): the project's CSI driver under the real
//! external-provisioner, snapshot-controller and csi-snapshotter, and `veloxide server` running
//! with the chart's RBAC. A StatefulSet's volume is backed up as a VolumeSnapshot and comes back
//! with its bytes: into a second namespace while the first runs, then into its own namespace
//! once deleted. A resource policy skipping the storage class takes no snapshot; a claim whose
//! storage snapshot is gone fails naming it; a snapshot that never becomes ready ends the backup
//! PartiallyFailed at `csiSnapshotTimeout`, naming the claim; deleting a backup deletes exactly
//! its own storage snapshots.

use serde_json::{Value, json};
use veloxide::api::{BackupPhase, RestorePhase};

use crate::backup_support::{create, download, eventually, gunzip, list_keys, untar};
use crate::csi_support::*;
use crate::node_support::{apply, kubectl, wait_ready};
use crate::restore_support::{cli, create_restore, restore_results, wait_restore};
use crate::server_support::{NS, World, sample};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_comes_back_with_its_data_mapped_or_not_and_policies_and_gone_snapshots_are_honoured()
 {
    let world = World::start_with_node().await;
    let server = crate::backup_support::serve_plain_location(&world, "default").await;
    let cluster = &world.cluster;
    namespace(&world, "db").await;
    apply(cluster, "db", &statefulset());
    assert_eq!(read_file(cluster, "db"), TOKEN);

    // The backup: one snapshot, ready, its objects archived, Velero's side files written, and
    // the in-namespace VolumeSnapshot gone again.
    let backup = backed_up(&world, "db-1", json!({"includedNamespaces": ["db"]})).await;
    let status = backup.status.clone().unwrap();
    assert_eq!(status.csi_volume_snapshots_attempted, Some(1), "{status:?}");
    assert_eq!(status.csi_volume_snapshots_completed, Some(1), "{status:?}");
    assert_eq!(
        status.backup_item_operations_completed,
        Some(1),
        "{status:?}"
    );
    let entries = untar(&download(&world, "default/backups/db-1/db-1.tar.gz"));
    let names: Vec<&String> = entries.keys().collect();
    let claim: Value = serde_json::from_slice(
        &entries["resources/persistentvolumeclaims/namespaces/db/data-db-0.json"],
    )
    .unwrap();
    let snapshot = claim["metadata"]["annotations"]["velero.io/volume-snapshot-name"]
        .as_str()
        .unwrap_or_else(|| panic!("the archived claim names no snapshot: {claim}"))
        .to_owned();
    assert!(snapshot.starts_with("velero-data-db-0-"), "{snapshot}");
    for want in [
        format!("resources/volumesnapshots.snapshot.storage.k8s.io/namespaces/db/{snapshot}.json"),
        "resources/volumesnapshotclasses.snapshot.storage.k8s.io/cluster/veloxide-csi.json".into(),
    ] {
        assert!(entries.contains_key(&want), "{want} not in {names:?}");
    }
    assert!(
        names
            .iter()
            .any(|k| k
                .starts_with("resources/volumesnapshotcontents.snapshot.storage.k8s.io/cluster/")),
        "{names:?}"
    );
    let keys = list_keys(&world, "default/backups/db-1/");
    for suffix in [
        "volumeinfo.json.gz",
        "itemoperations.json.gz",
        "csi-volumesnapshots.json.gz",
        "csi-volumesnapshotcontents.json.gz",
        "csi-volumesnapshotclasses.json.gz",
    ] {
        let key = format!("default/backups/db-1/db-1-{suffix}");
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    let handle = handle_of(&world, "db-1");
    assert!(driver_snapshots(cluster).contains(&handle), "{handle}");
    let info = side_file(&world, "db-1", "volumeinfo.json.gz");
    assert_eq!(info[0]["csiSnapshotInfo"]["driver"], "csi.veloxide.dev");
    assert_eq!(info[0]["pvcName"], "data-db-0");
    let operations = side_file(&world, "db-1", "itemoperations.json.gz");
    assert_eq!(
        operations[0]["status"]["phase"], "Completed",
        "{operations}"
    );
    eventually("the VolumeSnapshot leaves the namespace", WAIT, || async {
        volume_snapshots(cluster, "db").trim().is_empty()
    })
    .await;
    let metrics = server.metrics().await;
    for metric in [
        "velero_csi_snapshot_attempt_total",
        "velero_csi_snapshot_success_total",
    ] {
        assert_eq!(
            sample(
                &metrics,
                metric,
                &[("backupName", "db-1"), ("schedule", "")]
            ),
            Some(1.0),
            "{metric}"
        );
    }
    assert!(
        sample(&metrics, "veloxide_csi_snapshot_ready_seconds_count", &[]).unwrap_or(0.0) >= 1.0
    );

    // Into a second namespace while the first still runs.
    create_restore(
        &world,
        "to-copy",
        json!({"backupName": "db-1", "namespaceMapping": {"db": "db-copy"}}),
    )
    .await;
    wait_restore(&world, "to-copy", RestorePhase::Completed).await;
    assert_eq!(read_file(cluster, "db-copy"), TOKEN);
    let source = kubectl(
        cluster,
        &[
            "-n",
            "db-copy",
            "get",
            "pvc",
            "data-db-0",
            "-o",
            "jsonpath={.spec.dataSource.kind}",
        ],
    );
    assert_eq!(source, "VolumeSnapshot");
    assert_eq!(
        read_file(cluster, "db"),
        TOKEN,
        "the first namespace runs on"
    );

    // A policy skipping the storage class: no snapshot, the volume info says why.
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "skip-csi", "namespace": NS},
               "data": {"policy.yaml": "version: v1\nvolumePolicies:\n- conditions:\n    storageClass: [veloxide-csi]\n  action:\n    type: skip\n"}}),
    )
    .await;
    let skipped = backed_up(&world, "skipped", json!({"includedNamespaces": ["db"], "resourcePolicy": {"kind": "configmap", "name": "skip-csi"}}))
    .await;
    assert_eq!(
        skipped
            .status
            .as_ref()
            .unwrap()
            .csi_volume_snapshots_attempted,
        None
    );
    let info = side_file(&world, "skipped", "volumeinfo.json.gz");
    assert_eq!(info[0]["skipped"], true, "{info}");
    let entries = untar(&download(&world, "default/backups/skipped/skipped.tar.gz"));
    assert!(
        !entries
            .keys()
            .any(|k| k.contains("volumesnapshots.snapshot")),
        "{:?}",
        entries.keys().collect::<Vec<_>>()
    );

    // The namespace deleted, then restored from the first backup in place.
    kubectl(cluster, &["delete", "namespace", "db", "--timeout=120s"]);
    create_restore(&world, "back", json!({"backupName": "db-1"})).await;
    wait_restore(&world, "back", RestorePhase::Completed).await;
    assert_eq!(read_file(cluster, "db"), TOKEN);

    // A storage snapshot deleted behind the backup's back: its claim fails, naming it.
    let gone = backed_up(&world, "db-2", json!({"includedNamespaces": ["db-copy"]})).await;
    assert_eq!(gone.status.unwrap().csi_volume_snapshots_completed, Some(1));
    let handle = handle_of(&world, "db-2");
    let recorded = side_file(&world, "db-2", "csi-volumesnapshotcontents.json.gz");
    delete_storage_snapshot(cluster, &handle, &recorded[0]["metadata"]["labels"]).await;
    create_restore(
        &world,
        "from-gone",
        json!({"backupName": "db-2", "namespaceMapping": {"db-copy": "db-gone"}}),
    )
    .await;
    wait_restore(&world, "from-gone", RestorePhase::PartiallyFailed).await;
    let results = restore_results(&world, "default", "from-gone");
    let errors = results["errors"].to_string();
    assert!(
        errors.contains(&handle) && errors.contains("data-db-0"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_never_ready_fails_at_the_timeout_and_deletion_deletes_exactly_the_backups_snapshots()
 {
    let world = World::start_with_node().await;
    let _server = crate::backup_support::serve_plain_location(&world, "default").await;
    let cluster = &world.cluster;
    // The driver's knob (e2e/csi/README.md): a class whose snapshots never become ready.
    apply(
        cluster,
        "default",
        r#"apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: never-ready}
driver: csi.veloxide.dev
deletionPolicy: Delete
parameters: {csi.veloxide.dev/never-ready: "true"}
"#,
    );
    namespace(&world, "stuck").await;
    apply(
        cluster,
        "stuck",
        &pod_with_claim(
            "writer",
            "slow",
            "velero.io/csi-volumesnapshot-class: never-ready",
        ),
    );
    wait_ready(cluster, "stuck", "writer");
    let stuck = ended(
        &world,
        "stuck",
        json!({"includedNamespaces": ["stuck"], "csiSnapshotTimeout": "5s"}),
        BackupPhase::PartiallyFailed,
    )
    .await;
    let status = stuck.status.unwrap();
    assert_eq!(status.csi_volume_snapshots_attempted, Some(1));
    assert_eq!(status.csi_volume_snapshots_completed, Some(0));
    assert_eq!(status.backup_item_operations_failed, Some(1));
    let results: Value = serde_json::from_slice(&gunzip(&download(
        &world,
        "default/backups/stuck/stuck-results.gz",
    )))
    .unwrap();
    let errors = results["errors"]["namespaces"]["stuck"].to_string();
    assert!(
        errors.contains("claim stuck/slow")
            && errors.contains("did not become readyToUse within the csiSnapshotTimeout of 5s"),
        "{results}"
    );
    eventually("the unready VolumeSnapshot is removed", WAIT, || async {
        volume_snapshots(cluster, "stuck").trim().is_empty()
    })
    .await;

    // Two backups of one claim: deleting the first deletes its storage snapshot only.
    namespace(&world, "app").await;
    apply(cluster, "app", &pod_with_claim("writer", "data", ""));
    wait_ready(cluster, "app", "writer");
    for name in ["one", "two"] {
        backed_up(&world, name, json!({"includedNamespaces": ["app"]})).await;
    }
    let (one, two) = (handle_of(&world, "one"), handle_of(&world, "two"));
    assert_ne!(one, two);
    // `backup describe --details` lists the volume with its snapshot.
    let out = cli(&world, &["backup", "describe", "two", "--details"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "CSI Snapshots:".to_owned(),
        "app/data:".to_owned(),
        "CSI Driver:            csi.veloxide.dev".to_owned(),
        format!("Storage Snapshot ID:   {two}"),
        "Ready:                 true".to_owned(),
    ] {
        assert!(text.contains(&want), "{want:?} in\n{text}");
    }
    let before = driver_snapshots(cluster);
    assert!(before.contains(&one) && before.contains(&two), "{before:?}");
    let out = cli(&world, &["backup", "delete", "one", "--confirm"]).await;
    assert!(out.status.success(), "{out:?}");
    eventually("backup one is deleted", WAIT, || async {
        crate::backup_support::backups(&world)
            .get_opt("one")
            .await
            .unwrap()
            .is_none()
    })
    .await;
    eventually("its storage snapshot is deleted", WAIT, || async {
        !driver_snapshots(cluster).contains(&one)
    })
    .await;
    let after = driver_snapshots(cluster);
    assert!(after.contains(&two), "{after:?}");
    let gone: Vec<&String> = before.iter().filter(|s| !after.contains(s)).collect();
    assert_eq!(gone, [&one], "exactly backup one's snapshot went");
    assert!(
        list_keys(&world, "default/backups/one/").is_empty(),
        "its files went too"
    );
}
