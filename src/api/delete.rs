//! `DeleteBackupRequest`: the one way a backup's files leave the store (Velero's kind).
//!
//! Deleting a Backup object deletes no data; a request does, through the location the backup
//! was written to. `veloxide backup delete` and expiry create them; the controller in
//! `controller::deletion` carries them out.

use kube::CustomResource;
use kube::ResourceExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The backup to delete.
#[allow(clippy::duplicated_attributes)] // separate printcolumn(...) groups, see api::backup
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "DeleteBackupRequest",
    doc = "A request to delete a backup: its files under backups/<name>/ in the location it was written to, the files of its restores, then the Backup object.",
    namespaced,
    status = "DeleteBackupRequestStatus",
    printcolumn(
        name = "BackupName",
        type_ = "string",
        json_path = ".spec.backupName",
        description = "The name of the backup to be deleted"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "The status of the deletion request"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBackupRequestSpec {
    /// The Backup (in the request's namespace) whose files and object are deleted.
    pub backup_name: String,
}

/// Velero's phases: `New` until the controller looks at it, `InProgress` while files are
/// being deleted, `Processed` when done or refused (`errors` says which).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeleteBackupRequestPhase {
    New,
    InProgress,
    Processed,
}

impl DeleteBackupRequestPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteBackupRequestPhase::New => "New",
            DeleteBackupRequestPhase::InProgress => "InProgress",
            DeleteBackupRequestPhase::Processed => "Processed",
        }
    }
}

/// What came of the request.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBackupRequestStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DeleteBackupRequestPhase>,
    /// Why the request was refused or what failed; empty when the backup is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub errors: Option<Vec<String>>,
}

impl DeleteBackupRequest {
    /// The phase, `New` when none was written yet.
    pub fn phase(&self) -> DeleteBackupRequestPhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(DeleteBackupRequestPhase::New)
    }
}

impl DeleteBackupRequest {
    /// A request for `backup`, named `<backup>-<random>` by the API server and labelled with
    /// the backup's name and uid, as Velero's CLI and collector make them.
    pub fn for_backup(backup: &super::backup::Backup) -> DeleteBackupRequest {
        let name = backup.name_any();
        let mut request = DeleteBackupRequest::new(
            "",
            DeleteBackupRequestSpec {
                backup_name: name.clone(),
            },
        );
        request.metadata.name = None;
        request.metadata.generate_name = Some(format!("{name}-"));
        request.metadata.namespace = backup.namespace();
        request.metadata.labels = Some(
            [
                (
                    BACKUP_NAME_LABEL.to_owned(),
                    super::label::valid_name(&name),
                ),
                (
                    BACKUP_UID_LABEL.to_owned(),
                    backup.uid().unwrap_or_default(),
                ),
            ]
            .into(),
        );
        request
    }
}

/// The label naming the backup a request is for (Velero's `velero.io/backup-name`).
pub const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
/// The label carrying the backup's uid, so a request never deletes a later backup of the same
/// name (Velero's `velero.io/backup-uid`).
pub const BACKUP_UID_LABEL: &str = "velero.io/backup-uid";

#[cfg(test)]
mod tests {
    use super::*;

    /// What Velero's CLI creates decodes, and round-trips unchanged.
    #[test]
    fn velero_requests_round_trip() {
        let manifest = serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
            "metadata": {"generateName": "nightly-", "namespace": "velero",
                         "labels": {BACKUP_NAME_LABEL: "nightly", BACKUP_UID_LABEL: "u-1"}},
            "spec": {"backupName": "nightly"},
            "status": {"phase": "Processed", "errors": ["backup not found"]},
        });
        let request: DeleteBackupRequest = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(request.phase(), DeleteBackupRequestPhase::Processed);
        assert_eq!(serde_json::to_value(&request).unwrap(), manifest);
    }
}
