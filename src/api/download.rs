//! `DownloadRequest`: a short-lived link to one of a backup's or restore's files.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file wanted: its kind and the backup or restore it belongs to.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "DownloadRequest",
    doc = "A request for a link to one of a backup's or restore's files, valid for 10 minutes.",
    namespaced,
    status = "DownloadRequestStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct DownloadRequestSpec {
    pub target: DownloadTarget,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadTarget {
    pub kind: DownloadTargetKind,
    /// The backup's or the restore's name.
    pub name: String,
}

/// Velero's target kinds (every one is accepted; `docs/downloads.md` says which files
/// veloxide writes).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DownloadTargetKind {
    BackupLog,
    BackupContents,
    BackupVolumeSnapshots,
    BackupItemOperations,
    BackupResourceList,
    BackupResults,
    RestoreLog,
    RestoreResults,
    RestoreResourceList,
    RestoreItemOperations,
    CSIBackupVolumeSnapshots,
    CSIBackupVolumeSnapshotContents,
    BackupVolumeInfos,
    RestoreVolumeInfo,
}

impl DownloadTargetKind {
    /// Whether the target names a restore (else a backup).
    pub fn is_restore(self) -> bool {
        matches!(
            self,
            DownloadTargetKind::RestoreLog
                | DownloadTargetKind::RestoreResults
                | DownloadTargetKind::RestoreResourceList
                | DownloadTargetKind::RestoreItemOperations
                | DownloadTargetKind::RestoreVolumeInfo
        )
    }

    /// The object's key relative to the location's prefix (Velero's layout). `backup` is the
    /// backup's name; for restore kinds `name` is the restore's.
    pub fn key(self, backup: &str, name: &str) -> String {
        use DownloadTargetKind as K;
        let b = |file: String| format!("backups/{backup}/{file}");
        let r = |file: String| format!("restores/{name}/{file}");
        match self {
            K::BackupLog => b(format!("{backup}-logs.gz")),
            K::BackupContents => b(format!("{backup}.tar.gz")),
            K::BackupVolumeSnapshots => b(format!("{backup}-volumesnapshots.json.gz")),
            K::BackupItemOperations => b(format!("{backup}-itemoperations.json.gz")),
            K::BackupResourceList => b(format!("{backup}-resource-list.json.gz")),
            K::BackupResults => b(format!("{backup}-results.gz")),
            K::CSIBackupVolumeSnapshots => b(format!("{backup}-csi-volumesnapshots.json.gz")),
            K::CSIBackupVolumeSnapshotContents => {
                b(format!("{backup}-csi-volumesnapshotcontents.json.gz"))
            }
            K::BackupVolumeInfos => b(format!("{backup}-volumeinfo.json.gz")),
            K::RestoreLog => r(format!("restore-{name}-logs.gz")),
            K::RestoreResults => r(format!("restore-{name}-results.gz")),
            K::RestoreResourceList => r(format!("restore-{name}-resource-list.json.gz")),
            K::RestoreItemOperations => r(format!("restore-{name}-itemoperations.json.gz")),
            K::RestoreVolumeInfo => r(format!("{name}-volumeinfo.json.gz")),
        }
    }

    /// Velero's CLI gunzips every file except the archive.
    pub fn is_gzipped_text(self) -> bool {
        self != DownloadTargetKind::BackupContents
    }
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DownloadRequestPhase {
    New,
    Processed,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadRequestStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DownloadRequestPhase>,
    /// A presigned GET of the object, or (for SSE-C objects) a link served by veloxide itself;
    /// see `docs/downloads.md`.
    #[serde(
        rename = "downloadURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_url: Option<String>,
    /// When the link stops working and the request is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub expiration: Option<Time>,
    /// veloxide extension: why no link could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_velero_s_layout() {
        use DownloadTargetKind as K;
        assert_eq!(K::BackupLog.key("b", "b"), "backups/b/b-logs.gz");
        assert_eq!(K::BackupContents.key("b", "b"), "backups/b/b.tar.gz");
        assert_eq!(
            K::BackupResourceList.key("b", "b"),
            "backups/b/b-resource-list.json.gz"
        );
        assert_eq!(K::BackupResults.key("b", "b"), "backups/b/b-results.gz");
        assert_eq!(K::RestoreLog.key("b", "r"), "restores/r/restore-r-logs.gz");
        assert_eq!(
            K::RestoreResults.key("b", "r"),
            "restores/r/restore-r-results.gz"
        );
        assert_eq!(
            K::RestoreVolumeInfo.key("b", "r"),
            "restores/r/r-volumeinfo.json.gz"
        );
        let request: DownloadRequest = serde_json::from_value(serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "DownloadRequest",
            "metadata": {"name": "b-1", "namespace": "velero"},
            "spec": {"target": {"kind": "BackupLog", "name": "b"}},
            "status": {"phase": "Processed", "downloadURL": "https://x/y"},
        }))
        .unwrap();
        assert_eq!(
            request.status.unwrap().download_url.as_deref(),
            Some("https://x/y")
        );
    }
}
