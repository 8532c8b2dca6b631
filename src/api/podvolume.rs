//! Velero's kinds for file-system backup work: `PodVolumeBackup` (one pod volume to copy into a
//! repository, taken by the node agent of the pod's node) and `PodVolumeRestore` (one snapshot
//! to write into a restored pod's volume); the repositories are `api::backup_repository`.
//! Fields, phases and printer columns as Velero v1.18
//! (`pkg/apis/velero/v1/pod_volume_backup_types.go`, `pod_volume_restore_type.go`), so
//! Velero's objects and tools read the same.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Velero's `uploaderType` / `repositoryType` values: `kopia`, `restic`, or empty (the
/// server's default).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UploaderType {
    #[serde(rename = "kopia")]
    Kopia,
    #[serde(rename = "restic")]
    Restic,
    #[default]
    #[serde(rename = "")]
    Unset,
}

/// Velero's `DataMoveOperationProgress`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataMoveOperationProgress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_done: Option<i64>,
}

/// The phases of a pod volume backup or restore, Velero's.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PodVolumePhase {
    New,
    Accepted,
    Prepared,
    InProgress,
    Canceling,
    Canceled,
    Completed,
    Failed,
}

/// One pod volume to back up.
#[allow(clippy::duplicated_attributes)] // separate printcolumn(...) groups, see api::backup
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "PodVolumeBackup",
    doc = "One pod volume's file-system backup into the repository of its namespace, carried out by the node agent on the pod's node (Velero's kind).",
    namespaced,
    status = "PodVolumeBackupStatus",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "PodVolumeBackup status such as New/InProgress"
    ),
    printcolumn(
        name = "Started",
        type_ = "date",
        json_path = ".status.startTimestamp",
        description = "Time duration since this PodVolumeBackup was started"
    ),
    printcolumn(
        name = "Bytes Done",
        type_ = "integer",
        format = "int64",
        json_path = ".status.progress.bytesDone",
        description = "Completed bytes"
    ),
    printcolumn(
        name = "Total Bytes",
        type_ = "integer",
        format = "int64",
        json_path = ".status.progress.totalBytes",
        description = "Total bytes"
    ),
    printcolumn(
        name = "Incremental Bytes",
        type_ = "integer",
        format = "int64",
        json_path = ".status.incrementalBytes",
        description = "Incremental bytes",
        priority = "10"
    ),
    printcolumn(
        name = "Storage Location",
        type_ = "string",
        json_path = ".spec.backupStorageLocation",
        description = "Name of the Backup Storage Location where this backup should be stored"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time duration since this PodVolumeBackup was created"
    ),
    printcolumn(
        name = "Node",
        type_ = "string",
        json_path = ".spec.node",
        description = "Name of the node where the PodVolumeBackup is processed"
    ),
    printcolumn(
        name = "Uploader",
        type_ = "string",
        json_path = ".spec.uploaderType",
        description = "The type of the uploader to handle data transfer"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeBackupSpec {
    /// The node the pod runs on; only that node's agent takes the backup.
    pub node: String,
    /// The pod whose volume is backed up.
    pub pod: ObjectReference,
    /// The volume's name in the pod's spec.
    pub volume: String,
    /// The BackupStorageLocation holding the repository.
    pub backup_storage_location: String,
    /// The repository's identifier (Velero: `s3:<url>/<bucket>/<prefix>/restic/<namespace>`).
    pub repo_identifier: String,
    /// `kopia` or `restic` (empty: the server's default).
    #[serde(default)]
    pub uploader_type: UploaderType,
    /// Tags recorded with the snapshot (`backup`, `backup-uid`, `ns`, `pod`, `pvc`, `volume`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Settings for the uploader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub uploader_settings: Option<BTreeMap<String, String>>,
    /// Set to cancel a backup in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<bool>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeBackupStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodVolumePhase>,
    /// The volume's path as the agent read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The snapshot's id in the repository.
    #[serde(
        rename = "snapshotID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub start_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub completion_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<DataMoveOperationProgress>,
    /// Bytes new or changed since the last backup of the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub accepted_timestamp: Option<Time>,
}

/// One snapshot to write into a restored pod's volume.
#[allow(clippy::duplicated_attributes)] // separate printcolumn(...) groups, see api::backup
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "PodVolumeRestore",
    doc = "One snapshot written into a restored pod's volume by the node agent on the pod's node, while the pod's init container waits (Velero's kind).",
    namespaced,
    status = "PodVolumeRestoreStatus",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "PodVolumeRestore status such as New/InProgress"
    ),
    printcolumn(
        name = "Started",
        type_ = "date",
        json_path = ".status.startTimestamp",
        description = "Time duration since this PodVolumeRestore was started"
    ),
    printcolumn(
        name = "Bytes Done",
        type_ = "integer",
        format = "int64",
        json_path = ".status.progress.bytesDone",
        description = "Completed bytes"
    ),
    printcolumn(
        name = "Total Bytes",
        type_ = "integer",
        format = "int64",
        json_path = ".status.progress.totalBytes",
        description = "Total bytes"
    ),
    printcolumn(
        name = "Storage Location",
        type_ = "string",
        json_path = ".spec.backupStorageLocation",
        description = "Name of the Backup Storage Location where the backup data is stored"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time duration since this PodVolumeRestore was created"
    ),
    printcolumn(
        name = "Node",
        type_ = "string",
        json_path = ".status.node",
        description = "Name of the node where the PodVolumeRestore is processed"
    ),
    printcolumn(
        name = "Uploader Type",
        type_ = "string",
        json_path = ".spec.uploaderType",
        description = "The type of the uploader to handle data transfer"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeRestoreSpec {
    /// The restored pod whose volume is written.
    pub pod: ObjectReference,
    /// The volume's name in the pod's spec.
    pub volume: String,
    /// The BackupStorageLocation holding the repository.
    pub backup_storage_location: String,
    /// The repository's identifier.
    pub repo_identifier: String,
    /// `kopia` or `restic` (empty: the server's default).
    #[serde(default)]
    pub uploader_type: UploaderType,
    /// The snapshot to restore.
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    /// The namespace the volume was backed up from (its repository's), before any mapping.
    pub source_namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub uploader_settings: Option<BTreeMap<String, String>>,
    /// Set to cancel a restore in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<bool>,
    /// The snapshot's logical size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_size: Option<i64>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeRestoreStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodVolumePhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub start_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub completion_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<DataMoveOperationProgress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub accepted_timestamp: Option<Time>,
    /// The node whose agent processes the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects as Velero 1.18 writes them parse, and write back the same JSON.
    #[test]
    fn velero_objects_round_trip() {
        let pvb = serde_json::json!({
            "node": "node-1",
            "pod": {"kind": "Pod", "namespace": "shop", "name": "db-0", "uid": "u1"},
            "volume": "data",
            "backupStorageLocation": "default",
            "repoIdentifier": "s3:https://s3.example/bucket/velero/restic/shop",
            "uploaderType": "restic",
            "tags": {"backup": "shop-1", "ns": "shop"},
        });
        let spec: PodVolumeBackupSpec = serde_json::from_value(pvb.clone()).unwrap();
        assert_eq!(spec.uploader_type, UploaderType::Restic);
        assert_eq!(serde_json::to_value(&spec).unwrap(), pvb);

        let status = serde_json::json!({
            "phase": "Completed",
            "path": "/host_pods/u1/volumes/kubernetes.io~empty-dir/data",
            "snapshotID": "abc",
            "progress": {"totalBytes": 10, "bytesDone": 10},
            "incrementalBytes": 4,
        });
        let parsed: PodVolumeBackupStatus = serde_json::from_value(status.clone()).unwrap();
        assert_eq!(parsed.phase, Some(PodVolumePhase::Completed));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), status);

        let pvr = serde_json::json!({
            "pod": {"namespace": "shop", "name": "db-0"},
            "volume": "data",
            "backupStorageLocation": "default",
            "repoIdentifier": "s3:https://s3.example/bucket/velero/restic/shop",
            "uploaderType": "",
            "snapshotID": "abc",
            "sourceNamespace": "shop",
        });
        let spec: PodVolumeRestoreSpec = serde_json::from_value(pvr.clone()).unwrap();
        assert_eq!(spec.uploader_type, UploaderType::Unset);
        assert_eq!(serde_json::to_value(&spec).unwrap(), pvr);

        assert!(
            serde_json::from_value::<PodVolumeBackupSpec>(serde_json::json!({
                "node": "n", "pod": {}, "volume": "v", "backupStorageLocation": "d",
                "repoIdentifier": "r", "uploaderType": "rsync"
            }))
            .is_err()
        );
    }
}
