//! What the volumes step did, and the side files Velero writes from it, in Velero's JSON
//! shapes: `<backup>-volumeinfo.json.gz` (`internal/volume/volumes_information.go`,
//! `BackupVolumeInfo`), `-itemoperations.json.gz` (`pkg/itemoperation`, `BackupOperation`), and
//! the lists of VolumeSnapshots, VolumeSnapshotContents and VolumeSnapshotClasses.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::snapshot::Ready;
use crate::api::{PodVolumeBackup, PodVolumePhase};

/// The action Velero names in an operation taken by its VolumeSnapshot backup action.
const SNAPSHOT_ACTION: &str = "velero.io/csi-volumesnapshot-backupper";

/// One claim the backup took, and what became of its volume.
#[derive(Clone, Debug)]
pub struct VolumeRecord {
    pub namespace: String,
    pub claim: String,
    pub volume: String,
    pub reclaim_policy: String,
    pub volume_labels: BTreeMap<String, String>,
    pub outcome: Outcome,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Skipped(String),
    Snapshot(Box<Snapshot>),
}

/// A snapshot that was attempted.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The VolumeSnapshot's name (generated), when it was created.
    pub name: Option<String>,
    pub driver: String,
    pub class: String,
    /// RFC 3339, when the snapshot was asked for and when it ended.
    pub started: String,
    pub ended: String,
    /// Velero's operation id: `<namespace>/<snapshot>/<started>`.
    pub operation_id: String,
    pub result: Result<Ready, String>,
}

impl VolumeRecord {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match &self.outcome {
            Outcome::Snapshot(s) => Some(s),
            Outcome::Skipped(_) => None,
        }
    }

    pub fn ready(&self) -> Option<&Ready> {
        self.snapshot().and_then(|s| s.result.as_ref().ok())
    }

    /// Velero's `BackupVolumeInfo` for this claim.
    pub fn volume_info(&self) -> Value {
        let pv_info = json!({"reclaimPolicy": self.reclaim_policy, "labels": self.volume_labels});
        match &self.outcome {
            Outcome::Skipped(reason) => json!({
                "pvcName": self.claim, "pvcNamespace": self.namespace, "pvName": self.volume,
                "snapshotDataMoved": false, "preserveLocalSnapshot": false,
                "skipped": true, "skippedReason": reason, "pvInfo": pv_info,
            }),
            Outcome::Snapshot(s) => {
                let ready = s.result.as_ref().ok();
                let content = ready.map_or(Value::Null, |r| r.content["metadata"]["name"].clone());
                json!({
                    "pvcName": self.claim, "pvcNamespace": self.namespace, "pvName": self.volume,
                    "backupMethod": "CSISnapshot",
                    "snapshotDataMoved": false, "preserveLocalSnapshot": true, "skipped": false,
                    "startTimestamp": s.started, "completionTimestamp": s.ended,
                    "result": if ready.is_some() { "succeeded" } else { "failed" },
                    "csiSnapshotInfo": {
                        "snapshotHandle": ready.map_or("", |r| r.handle.as_str()),
                        "size": ready.and_then(|r| r.size).unwrap_or(0),
                        "driver": s.driver,
                        "vscName": content.as_str().unwrap_or(""),
                        "operationID": s.operation_id,
                        // Velero's field has no JSON tag, so Go writes its Go name.
                        "ReadyToUse": ready.is_some(),
                    },
                    "pvInfo": pv_info,
                })
            }
        }
    }

    /// Velero's `BackupOperation` for a snapshot that was created.
    pub fn operation(&self, backup: &str, backup_uid: &str) -> Option<Value> {
        let s = self.snapshot()?;
        let name = s.name.as_deref()?;
        let identifier = |resource: &str, namespace: &str, name: &str| json!({"Group": super::snapshot::GROUP, "Resource": resource, "Namespace": namespace, "Name": name});
        let mut post = vec![identifier("volumesnapshots", &self.namespace, name)];
        if let Ok(ready) = &s.result {
            let content = ready.content["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            post.push(identifier("volumesnapshotcontents", "", content));
        }
        let mut status = json!({
            "phase": if s.result.is_ok() { "Completed" } else { "Failed" },
            "created": s.started, "started": s.started, "updated": s.ended,
        });
        if let Err(e) = &s.result {
            status["error"] = json!(e);
        }
        Some(json!({
            "spec": {
                "backupName": backup, "backupUID": backup_uid,
                "backupItemAction": SNAPSHOT_ACTION,
                "resourceIdentifier": identifier("volumesnapshots", &self.namespace, name),
                "operationID": s.operation_id,
                "postOperationItems": post,
            },
            "status": status,
        }))
    }
}

/// Counts for the Backup's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub attempted: i64,
    pub completed: i64,
    pub failed: i64,
}

pub fn counts(records: &[VolumeRecord]) -> Counts {
    let mut c = Counts::default();
    for s in records.iter().filter_map(VolumeRecord::snapshot) {
        c.attempted += 1;
        match s.result {
            Ok(_) => c.completed += 1,
            Err(_) => c.failed += 1,
        }
    }
    c
}

/// Every side file [`side_files`] may write, by the suffix after `<backup>-` (a failed run's
/// cleanup deletes those present).
pub const SUFFIXES: [&str; 5] = [
    "volumeinfo.json.gz",
    "itemoperations.json.gz",
    "csi-volumesnapshots.json.gz",
    "csi-volumesnapshotcontents.json.gz",
    "csi-volumesnapshotclasses.json.gz",
];

/// The claim and volume behind a pod volume taken file by file (Velero's volume info names
/// them when the pod volume is a claim's).
#[derive(Clone, Debug, Default)]
pub struct ClaimVolume {
    pub namespace: String,
    pub claim: String,
    pub volume: String,
    pub reclaim_policy: String,
    pub volume_labels: BTreeMap<String, String>,
}

/// Velero's `BackupVolumeInfo` for a pod volume taken file by file
/// (`generateVolumeInfoFromPVB`): the PodVolumeBackup as it ended, and its claim when it was
/// one's.
pub fn pod_volume_info(pvb: &PodVolumeBackup, claim: Option<&ClaimVolume>) -> Value {
    let status = pvb.status.clone().unwrap_or_default();
    let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref().map_or(Value::Null, |t| json!(t.0.to_string()))
    };
    let phase = status.phase.unwrap_or(PodVolumePhase::Failed);
    let mut info = json!({
        "backupMethod": "PodVolumeBackup",
        "snapshotDataMoved": false, "preserveLocalSnapshot": false, "skipped": false,
        "startTimestamp": time(&status.start_timestamp),
        "completionTimestamp": time(&status.completion_timestamp),
        "result": if phase == PodVolumePhase::Completed { "succeeded" } else { "failed" },
        "pvbInfo": {
            "snapshotHandle": status.snapshot_id.unwrap_or_default(),
            "size": status.progress.and_then(|p| p.total_bytes).unwrap_or(0),
            "incrementalSize": status.incremental_bytes.unwrap_or(0),
            "uploaderType": pvb.spec.uploader_type,
            "volumeName": pvb.spec.volume,
            "podName": pvb.spec.pod.name,
            "podNamespace": pvb.spec.pod.namespace,
            "nodeName": pvb.spec.node,
            // Velero's field has no JSON tag, so Go writes its own name.
            "Phase": phase,
        },
    });
    if let Some(c) = claim {
        info["pvcName"] = json!(c.claim);
        info["pvcNamespace"] = json!(c.namespace);
        info["pvName"] = json!(c.volume);
        info["pvInfo"] = json!({"reclaimPolicy": c.reclaim_policy, "labels": c.volume_labels});
    }
    info
}

/// The side files, by the suffix after `<backup>-`, with their JSON. The volume info and the
/// operations are written for every backup, as empty lists when it took no claim, as Velero
/// 1.18 writes them (`persistBackup`): a backup without `-volumeinfo.json.gz` is one from before
/// Velero 1.13 to Velero's readers, whose `backup describe` then says "CSI Snapshots: <none
/// included or not detectable>" and whose restore takes the legacy path for volumes. The CSI
/// lists only when a snapshot was attempted (Velero 1.18 no longer writes the snapshot and
/// content lists; its readers still read them, and veloxide's deletion does).
pub fn side_files(
    backup: &str,
    backup_uid: &str,
    records: &[VolumeRecord],
    pod_volumes: Vec<Value>,
    classes: &[Value],
) -> Vec<(&'static str, Value)> {
    let ready: Vec<&Ready> = records.iter().filter_map(VolumeRecord::ready).collect();
    let operations: Vec<Value> = records
        .iter()
        .filter_map(|r| r.operation(backup, backup_uid))
        .collect();
    let snapshots_attempted = !operations.is_empty();
    let mut files = vec![
        (
            "volumeinfo.json.gz",
            Value::Array(
                records
                    .iter()
                    .map(VolumeRecord::volume_info)
                    .chain(pod_volumes)
                    .collect(),
            ),
        ),
        ("itemoperations.json.gz", Value::Array(operations)),
    ];
    if snapshots_attempted {
        files.push((
            "csi-volumesnapshots.json.gz",
            Value::Array(ready.iter().map(|r| r.snapshot.clone()).collect()),
        ));
        files.push((
            "csi-volumesnapshotcontents.json.gz",
            Value::Array(ready.iter().map(|r| r.content.clone()).collect()),
        ));
        files.push((
            "csi-volumesnapshotclasses.json.gz",
            Value::Array(classes.to_vec()),
        ));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(result: Option<Result<(), &str>>) -> VolumeRecord {
        let outcome = match result {
            None => Outcome::Skipped("spec.snapshotVolumes is false".into()),
            Some(r) => Outcome::Snapshot(Box::new(Snapshot {
                name: Some("velero-data-abcde".into()),
                driver: "csi.veloxide.dev".into(),
                class: "veloxide-csi".into(),
                started: "2026-12-06T10:00:00Z".into(),
                ended: "2026-12-06T10:00:02Z".into(),
                operation_id: "app/velero-data-abcde/2026-12-06T10:00:00Z".into(),
                result: r.map(|_| Ready {
                    snapshot: json!({"metadata": {"name": "velero-data-abcde", "namespace": "app"}}),
                    content: json!({"metadata": {"name": "snapcontent-1"}}),
                    handle: "snap-1".into(),
                    size: Some(1 << 20),
                })
                .map_err(str::to_owned),
            })),
        };
        VolumeRecord {
            namespace: "app".into(),
            claim: "data".into(),
            volume: "pvc-1".into(),
            reclaim_policy: "Delete".into(),
            volume_labels: BTreeMap::new(),
            outcome,
        }
    }

    #[test]
    fn volume_info_in_velero_s_shape() {
        let ok = record(Some(Ok(()))).volume_info();
        assert_eq!(ok["backupMethod"], "CSISnapshot");
        assert_eq!(ok["csiSnapshotInfo"]["snapshotHandle"], "snap-1");
        assert_eq!(ok["csiSnapshotInfo"]["vscName"], "snapcontent-1");
        assert_eq!(ok["csiSnapshotInfo"]["size"], 1 << 20);
        assert_eq!(ok["csiSnapshotInfo"]["ReadyToUse"], true);
        assert_eq!(ok["result"], "succeeded");
        assert_eq!(ok["pvInfo"]["reclaimPolicy"], "Delete");
        let failed = record(Some(Err("not ready"))).volume_info();
        assert_eq!(failed["result"], "failed");
        let skipped = record(None).volume_info();
        assert_eq!(skipped["skipped"], true);
        assert_eq!(skipped["skippedReason"], "spec.snapshotVolumes is false");
        assert!(skipped.get("backupMethod").is_none());
    }

    #[test]
    fn operations_and_the_files_written() {
        let records = vec![
            record(Some(Ok(()))),
            record(Some(Err("not ready"))),
            record(None),
        ];
        assert_eq!(
            counts(&records),
            Counts {
                attempted: 2,
                completed: 1,
                failed: 1
            }
        );
        let op = records[0].operation("b", "u").unwrap();
        assert_eq!(
            op["spec"]["resourceIdentifier"],
            json!({"Group": "snapshot.storage.k8s.io",
            "Resource": "volumesnapshots", "Namespace": "app", "Name": "velero-data-abcde"})
        );
        assert_eq!(op["spec"]["postOperationItems"][1]["Name"], "snapcontent-1");
        assert_eq!(op["status"]["phase"], "Completed");
        assert_eq!(
            records[1].operation("b", "u").unwrap()["status"]["error"],
            "not ready"
        );
        let files = side_files(
            "b",
            "u",
            &records,
            vec![],
            &[json!({"metadata": {"name": "veloxide-csi"}})],
        );
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, SUFFIXES);
        assert_eq!(
            files[2].1.as_array().unwrap().len(),
            1,
            "only the ready snapshot"
        );
        // No snapshot, or no claim at all: the volume info and the operations, as Velero
        // writes them (empty lists), and no CSI list.
        let only_skipped = side_files("b", "u", &[record(None)], vec![], &[]);
        let names: Vec<&str> = only_skipped.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["volumeinfo.json.gz", "itemoperations.json.gz"]);
        assert_eq!(only_skipped[1].1, json!([]));
        assert_eq!(
            side_files("b", "u", &[], vec![], &[]),
            [
                ("volumeinfo.json.gz", json!([])),
                ("itemoperations.json.gz", json!([]))
            ]
        );
    }

    #[test]
    fn a_pod_volume_in_velero_s_volume_info() {
        let pvb: PodVolumeBackup = serde_json::from_value(json!({
            "metadata": {"name": "b-x1", "namespace": "velero"},
            "spec": {"node": "n1", "pod": {"kind": "Pod", "name": "db-0", "namespace": "app"},
                     "volume": "data", "backupStorageLocation": "default",
                     "repoIdentifier": "", "uploaderType": "restic", "tags": {}},
            "status": {"phase": "Completed", "snapshotID": "abc123",
                       "startTimestamp": "2026-12-06T10:00:00Z",
                       "completionTimestamp": "2026-12-06T10:00:09Z",
                       "progress": {"totalBytes": 4096, "bytesDone": 4096}},
        }))
        .unwrap();
        let claim = ClaimVolume {
            namespace: "app".into(),
            claim: "data-db-0".into(),
            volume: "pvc-9".into(),
            reclaim_policy: "Delete".into(),
            volume_labels: BTreeMap::new(),
        };
        let info = pod_volume_info(&pvb, Some(&claim));
        assert_eq!(info["backupMethod"], "PodVolumeBackup");
        assert_eq!(info["result"], "succeeded");
        assert_eq!(info["pvcName"], "data-db-0");
        assert_eq!(info["pvName"], "pvc-9");
        assert_eq!(info["pvbInfo"]["snapshotHandle"], "abc123");
        assert_eq!(info["pvbInfo"]["size"], 4096);
        assert_eq!(info["pvbInfo"]["podName"], "db-0");
        assert_eq!(info["pvbInfo"]["volumeName"], "data");
        assert_eq!(info["pvbInfo"]["uploaderType"], "restic");
        assert_eq!(info["startTimestamp"], "2026-12-06T10:00:00Z");
        // An emptyDir: no claim fields; a failed one says so.
        let mut failed = pvb.clone();
        failed.status.as_mut().unwrap().phase = Some(PodVolumePhase::Failed);
        let info = pod_volume_info(&failed, None);
        assert_eq!(info["result"], "failed");
        assert!(info.get("pvcName").is_none());
        let files = side_files("b", "u", &[], vec![info.clone()], &[]);
        assert_eq!(files[0].1, json!([info]));
    }
}
