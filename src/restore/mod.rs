//! Restores: read a backup's archive through its location (trust and SSE-C key included),
//! spool it to disk as it streams, and create its objects in dependency order.
//!
//! ```text
//! ObjectStore::get (streaming) ─▶ spool (tar.gz → one file per item) ─▶ filter (Plan)
//!     ─▶ order (rank) ─▶ prepare (strip, map) ─▶ apply (create / skip / update)
//!     ─▶ restores/<name>/ logs, results, resource list (the location's encryption)
//! ```
//! The controller (`controller::restore`) decides when a restore runs and writes its status.

pub mod apply;
pub mod metrics;
pub mod prepare;
mod run;
pub mod spool;

pub use apply::ExistingPolicy;
pub use run::{Outcome, Progress, Request, run};
pub use spool::Limits;

use crate::storage::{ObjectStore, Reason, StorageError};

/// Where a restore's files live, relative to the location's prefix. The trailing slash is what
/// keeps `r1` from reaching `r10`'s files.
pub fn restore_dir(name: &str) -> String {
    format!("restores/{name}/")
}

/// The key of one of a restore's files: `restores/<name>/<file>`.
pub fn restore_key(name: &str, file: &str) -> String {
    format!("{}{file}", restore_dir(name))
}

/// Delete restore `name`'s files: its unfinished uploads (a restore stopped mid-upload leaves
/// one) and every key under `restores/<name>/`, nothing else. Returns how many objects were
/// deleted.
pub async fn delete_files(store: &ObjectStore, name: &str) -> Result<usize, StorageError> {
    store.delete_dir(&restore_dir(name), None).await
}

/// Why a restore failed as a whole (per-item problems are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The archive could not be read from the store.
    #[error("reading the backup archive {key} failed: {source}{hint}")]
    Read {
        key: String,
        source: StorageError,
        hint: &'static str,
    },
    #[error("the backup archive is not a readable tar.gz: {0}")]
    Archive(std::io::Error),
    /// The archive is over one of the restore's bounds (named in the message).
    #[error("the backup archive is over a bound: {0}")]
    OverBound(String),
    /// The store stopped sending the archive.
    #[error("reading the backup archive failed: {0}")]
    Stalled(String),
    #[error("writing the restore's files failed: {0}")]
    Upload(StorageError),
    /// The location's settings or Secrets could not be used.
    #[error("the backup storage location cannot be used: {0}")]
    Location(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The Restore was deleted while it ran; the run was dropped where it stood.
    #[error(
        "the Restore was deleted while it ran: it was stopped, and the objects it had already \
         created stay"
    )]
    Deleted,
}

impl RestoreError {
    /// A stable label for status conditions, events and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RestoreError::Read { source, .. } => source.reason().as_str(),
            RestoreError::Archive(_) => "ArchiveUnreadable",
            RestoreError::OverBound(_) => "ArchiveOverBound",
            RestoreError::Stalled(_) => "StoreStalled",
            RestoreError::Upload(e) => e.reason().as_str(),
            RestoreError::Location(_) => "LocationUnusable",
            RestoreError::Io(_) => "LocalIO",
            RestoreError::Deleted => "Deleted",
        }
    }
}

/// What to add to a read failure of an SSE-C object: a store refusing the read almost always
/// means the key is not the one the backup was written with.
pub fn sse_c_hint(sse_c: bool, error: &StorageError) -> &'static str {
    if !sse_c {
        return "";
    }
    match error.reason() {
        Reason::AccessDenied
        | Reason::SseCKeyInvalid
        | Reason::SseCRejected
        | Reason::StoreError => {
            "; the location uses SSE-C: the customer key it names must be the one the backup \
             was written with"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_dir_never_covers_a_longer_name() {
        assert_eq!(restore_dir("r1"), "restores/r1/");
        assert!(!restore_key("r10", "restore-r10-logs.gz").starts_with(&restore_dir("r1")));
        assert!(restore_key("r1", "restore-r1-logs.gz").starts_with(&restore_dir("r1")));
    }
}
