//! Velero's `uploaderConfig` of a backup (and a schedule's template) and of a restore: how its
//! file-system uploader (kopia) moves pod volume files. veloxide's restic uploader applies none,
//! so a run that sets one says in a warning that it changed nothing (`backup::not_done`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Velero's `UploaderConfigForBackup`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploaderConfigForBackup {
    /// How many files the uploader sends at once (Velero: kopia only; 0 or unset: its default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_files_upload: Option<i64>,
}

/// Velero's `UploaderConfigForRestore`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploaderConfigForRestore {
    /// Whether restored files are written sparsely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub write_sparse_files: Option<bool>,
    /// How many files the restore writes at once (0 or unset: the uploader's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_files_download: Option<i64>,
}

impl UploaderConfigForBackup {
    /// What was asked that only a file-system backup would use, as `field=value` pairs.
    pub fn asked(&self) -> Vec<String> {
        self.parallel_files_upload
            .filter(|n| *n > 0)
            .map(|n| format!("parallelFilesUpload={n}"))
            .into_iter()
            .collect()
    }
}

impl UploaderConfigForRestore {
    /// What was asked that only a file-system restore would use, as `field=value` pairs.
    pub fn asked(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(sparse) = self.write_sparse_files {
            out.push(format!("writeSparseFiles={sparse}"));
        }
        if let Some(n) = self.parallel_files_download.filter(|n| *n > 0) {
            out.push(format!("parallelFilesDownload={n}"));
        }
        out
    }
}
