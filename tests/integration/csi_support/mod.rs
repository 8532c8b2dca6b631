//! What the CSI snapshot tests (`csi_snapshots.rs`) share: backups waited for with their
//! results shown on failure, the StatefulSet and pods they use, the driver's snapshots on the
//! node, and the storage snapshot deleted by hand.
#![allow(dead_code)]

pub mod turns;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use e2e::images::BUSYBOX;
use serde_json::Value;
use veloxide::api::{Backup, BackupPhase};

use crate::backup_support::{create_backup, download, eventually, gunzip, list_keys};
use crate::node_support::{apply, kubectl, wait_ready};
use crate::server_support::World;

pub const WAIT: Duration = Duration::from_secs(240);
pub const TOKEN: &str = "bytes-written-before-the-backup-7f3a";

/// Create a backup and wait until it ends in `phase`; otherwise fail with its results file.
pub async fn ended(world: &World, name: &str, spec: Value, phase: BackupPhase) -> Backup {
    create_backup(world, name, spec).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let backup = crate::backup_support::backups(world)
            .get(name)
            .await
            .unwrap();
        if backup.phase().is_terminal() || Instant::now() > deadline {
            if backup.phase() != phase {
                let key = format!("default/backups/{name}/{name}-results.gz");
                let results = list_keys(world, &key)
                    .first()
                    .map(|k| String::from_utf8_lossy(&gunzip(&download(world, k))).into_owned())
                    .unwrap_or_default();
                panic!(
                    "{name}: {:?}, expected {phase:?}\nresults: {results}\nstatus: {:?}",
                    backup.phase(),
                    backup.status
                );
            }
            return backup;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn backed_up(world: &World, name: &str, spec: Value) -> Backup {
    ended(world, name, spec, BackupPhase::Completed).await
}

/// A namespace whose `default` ServiceAccount exists (pods need it).
pub async fn namespace(world: &World, ns: &str) {
    kubectl(&world.cluster, &["create", "namespace", ns]);
    eventually("the default ServiceAccount exists", WAIT, || async {
        crate::restore_support::get(world, "v1", "serviceaccounts", ns, "default")
            .await
            .is_some()
    })
    .await;
}

/// StatefulSet `db`: one busybox replica that writes TOKEN into its claim's volume once (a
/// restored volume already has it) and keeps running.
pub fn statefulset() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {BUSYBOX}
        command: ["sh", "-c", "[ -f /data/file ] || echo {TOKEN} > /data/file; sync; sleep 100000"]
        readinessProbe: {{exec: {{command: ["cat", "/data/file"]}}, periodSeconds: 1}}
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      storageClassName: veloxide-csi
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 16Mi}}}}
"#
    )
}

/// What the StatefulSet's pod in `ns` reads from its volume.
pub fn read_file(cluster: &Cluster, ns: &str) -> String {
    wait_ready(cluster, ns, "db-0");
    kubectl(
        cluster,
        &["-n", ns, "exec", "db-0", "--", "cat", "/data/file"],
    )
    .trim()
    .to_owned()
}

pub fn side_file(world: &World, backup: &str, suffix: &str) -> Value {
    let key = format!("default/backups/{backup}/{backup}-{suffix}");
    serde_json::from_slice(&gunzip(&download(world, &key))).unwrap()
}

/// The ids of the snapshots the driver holds on node-1 (its records, `<id>.json`).
pub fn driver_snapshots(cluster: &Cluster) -> Vec<String> {
    let dir = cluster.node_dir("node-1").join("csi/state/snapshots");
    ids(&dir)
}

pub fn ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    e.ok()?
                        .file_name()
                        .to_str()?
                        .strip_suffix(".json")
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The storage snapshot a backup recorded for its only claim.
pub fn handle_of(world: &World, backup: &str) -> String {
    let info = side_file(world, backup, "volumeinfo.json.gz");
    info[0]["csiSnapshotInfo"]["snapshotHandle"]
        .as_str()
        .unwrap_or_else(|| panic!("{backup}: no handle in {info}"))
        .to_owned()
}

pub fn volume_snapshots(cluster: &Cluster, ns: &str) -> String {
    kubectl(cluster, &["-n", ns, "get", "volumesnapshots", "-o", "name"])
}

/// Delete a storage snapshot as a cluster admin would (a content with the handle and
/// `deletionPolicy: Delete`, deleted), and wait until the driver no longer has it.
/// `labels` are those of the content the backup recorded (this cluster's snapshotters run per
/// node and act only on contents labelled with theirs).
pub async fn delete_storage_snapshot(cluster: &Cluster, handle: &str, labels: &Value) {
    let yaml = format!(
        r#"apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotContent
metadata: {{name: by-hand, labels: {labels}, finalizers: [snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection]}}
spec:
  deletionPolicy: Delete
  driver: csi.veloxide.dev
  source: {{snapshotHandle: {handle}}}
  volumeSnapshotRef: {{namespace: nowhere, name: nothing}}
"#
    );
    apply(cluster, "default", &yaml);
    // Deleted before the snapshotter protects it, the content would go and the snapshot stay.
    let deadline = Instant::now() + WAIT;
    while !kubectl(
        cluster,
        &[
            "get",
            "volumesnapshotcontent",
            "by-hand",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ],
    )
    .contains("volumesnapshotcontent-bound-protection")
    {
        assert!(
            Instant::now() < deadline,
            "the snapshotter never took by-hand"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    kubectl(cluster, &["delete", "volumesnapshotcontent", "by-hand"]);
    let deadline = Instant::now() + WAIT;
    while driver_snapshots(cluster).contains(&handle.to_owned()) {
        assert!(Instant::now() < deadline, "snapshot {handle} never deleted");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A pod mounting `claim` (provisioned on first use) that keeps running.
pub fn pod_with_claim(name: &str, claim: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {claim}, annotations: {{{annotations}}}}}
spec:
  storageClassName: veloxide-csi
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 8Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "echo x > /data/file; sleep 100000"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]
"#
    )
}
