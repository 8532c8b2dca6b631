//! Why a restore failed as a whole, and what to tell the reader of an SSE-C failure.

use crate::storage::{Reason, StorageError};

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
