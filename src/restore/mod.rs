//! Restores: read a backup's archive through its location (trust and SSE-C key included),
//! spool it to disk as it streams, and create its objects in dependency order.
//!
//! ```text
//! ObjectStore::get (streaming) ─▶ spool (tar.gz → one file per item) ─▶ filter (Plan)
//!     ─▶ order (rank) ─▶ prepare (strip, map) ─▶ actions (Velero's, one file each)
//!     ─▶ apply (create / skip / update; in stages, a kind waiting only for the kinds it
//!        needs (`stages.rs`), 32 objects at a time)
//!     ─▶ restores/<name>/ logs, results, resource list (the location's encryption)
//! ```
//! The controller (`controller::restore`) decides when a restore runs and writes its status.

pub mod actions;
pub mod apply;
mod budget;
mod choose;
mod error;
mod established;
pub mod fsb;
mod hooked;
mod keys;
mod log;
pub mod metrics;
pub mod modifiers;
pub mod options;
mod own_roles;
pub mod parse;
mod plugins;
pub mod prepare;
pub mod priorities;
mod run;
mod snapshot_source;
pub mod spool;
mod stages;
mod tally;

pub use apply::ExistingPolicy;
pub use error::{RestoreError, sse_c_hint};
pub use keys::{restore_dir, restore_key};
pub use run::{Request, run};
pub use spool::Limits;
pub use tally::{Outcome, Progress};

use crate::storage::{ObjectStore, StorageError};

/// Delete restore `name`'s files: its unfinished uploads (a restore stopped mid-upload leaves
/// one) and every key under `restores/<name>/`, nothing else; the owner marker last, so an
/// interrupted deletion can still prove the rest its own. Returns how many objects were
/// deleted. Callers check the marker first (`controller::restore::delete`).
pub async fn delete_files(store: &ObjectStore, name: &str) -> Result<usize, StorageError> {
    let order = crate::storage::Order {
        first: None,
        last: Some(crate::storage::OWNER_FILE),
    };
    store.delete_dir(&restore_dir(name), order).await
}
