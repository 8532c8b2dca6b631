//! `BackupRepository`: one file-system backup repository per location, volume namespace and
//! uploader type, as Velero v1.18 (`pkg/apis/velero/v1/backup_repository_types.go`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;
use super::podvolume::UploaderType;

/// A repository: the volumes of one namespace, in one location, in one format.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "BackupRepository",
    doc = "A file-system backup repository: the volumes of one namespace in one BackupStorageLocation, in one format (Velero's kind).",
    namespaced,
    status = "BackupRepositoryStatus",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Repository Type",
        type_ = "string",
        json_path = ".spec.repositoryType"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BackupRepositorySpec {
    /// The namespace whose pod volumes the repository holds.
    pub volume_namespace: String,
    /// The BackupStorageLocation holding the repository.
    pub backup_storage_location: String,
    /// `kopia` or `restic` (empty: the server's default).
    #[serde(default)]
    pub repository_type: UploaderType,
    /// The restic-style identifier (Velero sets it for restic repositories only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restic_identifier: Option<String>,
    /// How often maintenance (prune) runs, a Go duration (`168h`).
    pub maintenance_frequency: GoDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub repository_config: Option<BTreeMap<String, String>>,
}

/// Velero's phases of a repository.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BackupRepositoryPhase {
    New,
    Ready,
    NotReady,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MaintenanceResult {
    Succeeded,
    Failed,
}

/// One maintenance run.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRepositoryMaintenanceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<MaintenanceResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub start_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub complete_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRepositoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BackupRepositoryPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub last_maintenance_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_maintenance: Option<Vec<BackupRepositoryMaintenanceStatus>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_object_round_trips() {
        let repo = serde_json::json!({
            "volumeNamespace": "shop",
            "backupStorageLocation": "default",
            "repositoryType": "kopia",
            "maintenanceFrequency": "168h0m0s",
        });
        let spec: BackupRepositorySpec = serde_json::from_value(repo.clone()).unwrap();
        assert_eq!(spec.repository_type, UploaderType::Kopia);
        assert_eq!(serde_json::to_value(&spec).unwrap(), repo);
    }
}
