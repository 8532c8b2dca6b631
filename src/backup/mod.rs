//! Backups: read the cluster's resources, write them as one tar.gz in Velero's layout straight
//! into the location's multipart upload, then the side files, then `velero-backup.json`.
//!
//! ```text
//! Source (discovery, paged lists) ─▶ Plan (filters) ─▶ ArchiveWriter (tar.gz, plain Write)
//!      ─▶ bounded channel ─▶ ObjectStore::upload (multipart, location's SSE, HEAD check)
//! ```
//! The controller (`controller::backup`) decides when a backup runs and writes its status;
//! this module only does the work.

pub mod additional;
pub mod archive;
pub mod collect;
mod error;
pub mod filter;
mod keys;
pub mod metrics;
pub mod not_done;
pub mod owner;
mod produce;
mod request;
pub mod resource;
mod run;
pub mod scopes;
pub mod sidefiles;
pub mod stored;
pub mod timings;
pub mod volumes;

use crate::storage::Recorded;

pub use collect::Source;
pub use error::BackupError;
pub use filter::{Plan, ResourceDesc};
pub use keys::{backup_dir, backup_key};
pub use owner::{Cleaner, Proof, Removed, delete_proven, proof, remove_own};
pub use request::{Progress, Request};
pub use run::{Outcome, run, write_metadata};
pub use timings::Timings;

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
