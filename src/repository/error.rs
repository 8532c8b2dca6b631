//! The repository's error: which step failed, in words that name the object or field and the
//! fix, never the password.

use crate::storage::{Reason, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The repository's place in the location is not valid (namespace, uploader type).
    #[error("{0}")]
    Address(String),
    /// The password Secret is missing or unusable.
    #[error("{0}")]
    Password(String),
    /// The format is not built yet (kopia).
    #[error("{0}")]
    Unsupported(String),
    /// The store refused or failed a request.
    #[error("repository {root}: {source}")]
    Store {
        root: String,
        #[source]
        source: StorageError,
    },
    /// The repository format library failed (a wrong password, a damaged pack or index, a
    /// file that could not be read or written on disk).
    #[error("repository {root}: {message}")]
    Format { root: String, message: String },
    /// No repository exists at the address (and creating one was not asked for).
    #[error("repository {root}: no repository there (no config file)")]
    Missing { root: String },
    /// The blocking task running the format was cancelled or panicked.
    #[error("repository {root}: the repository task ended without an answer: {message}")]
    Task { root: String, message: String },
}

impl RepositoryError {
    /// The stable reason for status, events and metrics: the store's when the store failed
    /// (so a wrong CA reads `X509UnknownAuthority` here as for locations).
    pub fn reason(&self) -> Reason {
        match self {
            RepositoryError::Store { source, .. } => source.reason(),
            _ => Reason::StoreError,
        }
    }
}
