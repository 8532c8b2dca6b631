//! Why a backup failed as a whole.

use crate::storage::StorageError;

/// Why a backup failed as a whole (per-item problems are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Velero's check: a backup of that name is already in the store.
    #[error("backup already exists in object storage")]
    AlreadyExists,
    /// The store did not answer cleanly whether the name is free (a 5xx, a timeout, a
    /// refusal): nothing was written, and nothing is deleted.
    #[error(
        "could not tell whether the name is free in the location, so nothing was written or deleted: {0}"
    )]
    Unchecked(StorageError),
    #[error("discovering the cluster's resources failed: {0}")]
    Discovery(kube::Error),
    #[error("{0}")]
    Store(#[from] StorageError),
    #[error("writing the archive failed: {0}")]
    Archive(#[from] std::io::Error),
    /// The location's settings or Secrets could not be used.
    #[error("the backup storage location cannot be used: {0}")]
    Location(String),
    /// The upload ended before the archive did; the upload's own error says why.
    #[error("the upload stopped before the archive was complete")]
    UploadStopped,
}

impl BackupError {
    /// A stable label for status conditions, events and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            BackupError::AlreadyExists => "AlreadyExists",
            BackupError::Discovery(_) => "DiscoveryFailed",
            BackupError::Unchecked(e) => e.reason().as_str(),
            BackupError::Store(e) => e.reason().as_str(),
            BackupError::Archive(_) => "ArchiveFailed",
            BackupError::UploadStopped => "UploadStopped",
            BackupError::Location(_) => "LocationUnusable",
        }
    }
}
