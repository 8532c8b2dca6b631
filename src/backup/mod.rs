//! Backups: read the cluster's resources, write them as one tar.gz in Velero's layout straight
//! into the location's multipart upload, then the side files, then `velero-backup.json`.
//!
//! ```text
//! Source (discovery, paged lists) ─▶ Plan (filters) ─▶ ArchiveWriter (tar.gz, plain Write)
//!      ─▶ bounded channel ─▶ ObjectStore::upload (multipart, location's SSE, HEAD check)
//! ```
//! The controller (`controller::backup`) decides when a backup runs and writes its status;
//! this module only does the work.

pub mod archive;
pub mod collect;
pub mod filter;
pub mod metrics;
mod run;
pub mod sidefiles;

use crate::storage::{Recorded, StorageError};

pub use collect::Source;
pub use filter::{Plan, ResourceDesc};
pub use run::{Outcome, Progress, Request, delete_objects, run, write_metadata};

/// Where a backup's objects live, relative to the location's prefix (Velero's layout).
pub fn backup_dir(name: &str) -> String {
    format!("backups/{name}/")
}

/// The key of one of a backup's files: `backups/<name>/<file>`.
pub fn backup_key(name: &str, file: &str) -> String {
    format!("backups/{name}/{file}")
}

/// Why a backup failed as a whole (per-item problems are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Velero's check: a backup of that name is already in the store.
    #[error("backup already exists in object storage")]
    AlreadyExists,
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
            BackupError::Store(e) => e.reason().as_str(),
            BackupError::Archive(_) => "ArchiveFailed",
            BackupError::UploadStopped => "UploadStopped",
            BackupError::Location(_) => "LocationUnusable",
        }
    }
}

/// The encryption mode a store recorded, as the backup's status names it.
pub fn recorded_mode(recorded: &Recorded) -> &'static str {
    if recorded.customer_algorithm.is_some() {
        return "SSE-C";
    }
    match recorded.algorithm.as_deref() {
        Some("AES256") => "SSE-S3",
        Some("aws:kms") | Some("aws:kms:dsse") => "SSE-KMS",
        Some(_) => "Other",
        None => "None",
    }
}
