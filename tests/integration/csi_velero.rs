//! Velero beside us for CSI snapshots (issue 23): a StatefulSet's volume, snapshotted by one,
//! comes back with its bytes restored by the other, both ways, through one moto bucket.
//!
//! - veloxide → Velero: veloxide backs up namespace `by-veloxide` (its claim as a CSI snapshot),
//!   the namespace is deleted, Velero 1.18 (`--features=EnableCSI`) syncs the backup and
//!   restores it; the new pod reads the bytes, from a content Velero made with the handle
//!   veloxide recorded. A backup without claims has Velero's empty `-volumeinfo` and
//!   `-itemoperations` lists: Velero describes it as one without volumes ("<none included>",
//!   not "<none included or not detectable>", what it says of a backup without the files).
//! - Velero → veloxide: Velero backs up namespace `by-velero` with `--snapshot-volumes`
//!   (through its async phases, WaitingForPluginOperations and Finalizing), the namespace is
//!   deleted, veloxide syncs and restores it; the new pod reads the bytes, from a content made
//!   with the handle Velero recorded in its `-volumeinfo.json.gz`.
//!
//! Velero and veloxide take turns on ONE cluster with one node (`csi_support/turns.rs`: install
//! one, back up, uninstall it, install the other, restore), rather than each on its own
//! cluster: the project's CSI driver keeps a snapshot as a directory in its node's state
//! directory, so a snapshot handle means something only on that node. Two clusters sharing one
//! state directory were not chosen: each cluster's driver would create, list and delete
//! snapshots in a directory the other's driver also writes, with no lock between them; each
//! node's volumes (bind mounts under its kubelet's root) are its own, and the nodes'
//! topology labels would differ, so a restored claim would be provisioned on a node that does
//! not hold its snapshot. Turn-taking runs the real products against the real sidecars with no
//! change to the driver.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use veloxide::api::RestorePhase;

use crate::backup_support::{backups, eventually, list_keys};
use crate::csi_support::turns::{VeleroTurn, velero_comes, veloxide_comes, veloxide_leaves};
use crate::csi_support::*;
use crate::node_support::{apply, kubectl};
use crate::restore_support::{create_restore, wait_restore};
use crate::server_support::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_and_veloxide_restore_each_others_csi_snapshots_with_their_data() {
    let world = World::start_with_node().await;
    let cluster = &world.cluster;

    // veloxide's turn: it backs up `by-veloxide` with its volume, and `plain` without claims.
    let server = veloxide_comes(&world).await;
    namespace(&world, "by-veloxide").await;
    apply(cluster, "by-veloxide", &statefulset());
    assert_eq!(read_file(cluster, "by-veloxide"), TOKEN);
    backed_up(
        &world,
        "from-veloxide",
        json!({"includedNamespaces": ["by-veloxide"]}),
    )
    .await;
    let veloxide_handle = handle_of(&world, "from-veloxide");
    namespace(&world, "plain").await;
    kubectl(
        cluster,
        &[
            "-n",
            "plain",
            "create",
            "configmap",
            "settings",
            "--from-literal=a=b",
        ],
    );
    backed_up(
        &world,
        "no-claims",
        json!({"includedNamespaces": ["plain"]}),
    )
    .await;
    let keys = list_keys(&world, "default/backups/no-claims/");
    veloxide_leaves(&world, server);
    kubectl(
        cluster,
        &[
            "delete",
            "namespace",
            "by-veloxide",
            "plain",
            "--timeout=120s",
        ],
    );

    // Velero's turn: it restores both, then backs up `by-velero`.
    let velero = velero_comes(&world).await;
    for backup in ["from-veloxide", "no-claims"] {
        synced_into_velero(&velero, backup).await;
    }
    velero
        .velero_ok(&[
            "restore",
            "create",
            "of-veloxide",
            "--from-backup",
            "from-veloxide",
            "--wait",
        ])
        .await;
    let restore = velero.get("restores", "of-veloxide").await.unwrap();
    assert_eq!(
        restore["status"]["phase"], "Completed",
        "{}",
        restore["status"]
    );
    assert_eq!(read_file(cluster, "by-veloxide"), TOKEN);
    let handles = restored_handles(&world);
    assert!(
        handles.contains(&veloxide_handle),
        "Velero's restored content uses veloxide's handle {veloxide_handle}: {handles:?}"
    );
    let details = velero
        .velero_ok(&["backup", "describe", "from-veloxide", "--details"])
        .await;
    assert!(
        details.contains(&veloxide_handle),
        "Velero describes veloxide's snapshot:\n{details}"
    );

    // A backup without claims: its volume info and operations are empty lists, as Velero
    // writes them (without them, Velero takes it for a backup from before 1.13).
    for suffix in ["volumeinfo.json.gz", "itemoperations.json.gz"] {
        let key = format!("default/backups/no-claims/no-claims-{suffix}");
        assert!(keys.contains(&key), "{key} not in {keys:?}");
        assert_eq!(side_file(&world, "no-claims", suffix), json!([]));
    }
    velero
        .velero_ok(&[
            "restore",
            "create",
            "of-plain",
            "--from-backup",
            "no-claims",
            "--wait",
        ])
        .await;
    let restore = velero.get("restores", "of-plain").await.unwrap();
    assert_eq!(
        restore["status"]["phase"], "Completed",
        "{}",
        restore["status"]
    );
    let described = velero
        .velero_ok(&["restore", "describe", "of-plain", "--details"])
        .await;
    // The only warning there may be is one Velero gives its own backups too: the namespace's
    // CA ConfigMap, made again by kube-controller-manager, differs from the backed-up one
    // (depending on which was first).
    let warnings = restore["status"]["warnings"].as_u64().unwrap_or(0);
    assert!(
        warnings == 0
            || (warnings == 1 && described.contains("ConfigMap:kube-root-ca.crt already exists")),
        "{}\n{described}",
        restore["status"]
    );
    let log = velero.log();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("level=error") || l.contains("level=warning"))
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("volumeinfo") || l.contains("itemoperation")
        })
        .collect();
    assert!(complaints.is_empty(), "{complaints:#?}");
    let details = velero
        .velero_ok(&["backup", "describe", "no-claims", "--details"])
        .await;
    assert!(
        details.contains("CSI Snapshots: <none included>"),
        "Velero reads a backup without volume files as one without volumes:\n{details}"
    );
    kubectl(cluster, &["-n", "plain", "get", "configmap", "settings"]);

    namespace(&world, "by-velero").await;
    apply(cluster, "by-velero", &statefulset());
    assert_eq!(read_file(cluster, "by-velero"), TOKEN);
    velero
        .velero_ok(&[
            "backup",
            "create",
            "from-velero",
            "--include-namespaces",
            "by-velero",
            "--snapshot-volumes",
        ])
        .await;
    let (backup, phases) = velero_backup_ended(&velero, "from-velero").await;
    assert_eq!(
        backup["status"]["phase"], "Completed",
        "{}",
        backup["status"]
    );
    assert_eq!(
        backup["status"]["csiVolumeSnapshotsCompleted"], 1,
        "{}",
        backup["status"]
    );
    // Velero's async path: the snapshot was an item operation, ended before the backup did
    // (the phases, polled, are printed: InProgress, WaitingForPluginOperations while the
    // operation runs, Finalizing, Completed).
    assert_eq!(
        backup["status"]["backupItemOperationsCompleted"], 1,
        "{}",
        backup["status"]
    );
    let operations = side_file(&world, "from-velero", "itemoperations.json.gz");
    assert_eq!(
        operations[0]["status"]["phase"], "Completed",
        "{operations}"
    );
    eprintln!("Velero's backup went through the phases {phases:?}");
    let info = side_file(&world, "from-velero", "volumeinfo.json.gz");
    let velero_handle = info[0]["csiSnapshotInfo"]["snapshotHandle"]
        .as_str()
        .unwrap_or_else(|| panic!("no handle in Velero's volume info: {info}"))
        .to_owned();
    assert!(driver_snapshots(cluster).contains(&velero_handle));
    let velero_log = velero.leaves(&world);
    kubectl(
        cluster,
        &["delete", "namespace", "by-velero", "--timeout=120s"],
    );

    // veloxide's turn again: it restores Velero's backup.
    let _server = veloxide_comes(&world).await;
    eventually("Velero's backup is synced into veloxide", WAIT, || async {
        backups(&world)
            .get_opt("from-velero")
            .await
            .unwrap()
            .is_some()
    })
    .await;
    create_restore(&world, "of-velero", json!({"backupName": "from-velero"})).await;
    wait_restore(&world, "of-velero", RestorePhase::Completed).await;
    assert_eq!(read_file(cluster, "by-velero"), TOKEN);
    let handles = restored_handles(&world);
    assert!(
        handles.contains(&velero_handle),
        "veloxide's restored content uses Velero's handle {velero_handle}: {handles:?}\n\
         --- velero log (tail) ---\n{}",
        crate::velero_support::tail(&velero_log, 40)
    );
}

/// Wait until Velero's backup sync has made Backup `name`.
async fn synced_into_velero(velero: &VeleroTurn, name: &str) {
    eventually(&format!("Velero syncs {name}"), WAIT, || async {
        velero.get("backups", name).await.is_some()
    })
    .await;
}

/// Wait until Velero's backup ends; it and the phases seen on the way.
async fn velero_backup_ended(velero: &VeleroTurn, name: &str) -> (Value, Vec<String>) {
    let deadline = Instant::now() + WAIT;
    let mut phases: Vec<String> = Vec::new();
    loop {
        let backup = velero.get("backups", name).await.unwrap_or_default();
        let phase = backup["status"]["phase"].as_str().unwrap_or("").to_owned();
        if phases.last() != Some(&phase) {
            phases.push(phase.clone());
        }
        if ["Completed", "PartiallyFailed", "Failed", "FailedValidation"].contains(&phase.as_str())
        {
            return (backup, phases);
        }
        assert!(
            Instant::now() < deadline,
            "{name} still {phase:?} after {WAIT:?}: {}",
            backup["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The snapshot handles of the statically made contents in the cluster (those a restore makes:
/// `spec.source.snapshotHandle`).
fn restored_handles(world: &World) -> Vec<String> {
    kubectl(
        &world.cluster,
        &[
            "get",
            "volumesnapshotcontents",
            "-o",
            "jsonpath={range .items[*]}{.spec.source.snapshotHandle}{\"\\n\"}{end}",
        ],
    )
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_owned)
    .collect()
}
