//! File-system backup repositories: where pod volume contents go, deduplicated, compressed and
//! encrypted with the repository password, inside a location under Velero's layout
//! (`<prefix>/restic/<namespace>/`).
//!
//! ```text
//! ObjectStore (storage::open: trust, SSE, HEAD-verified writes)
//!    └─ RepoAddress (uploader + volume namespace → folder) + RepoPassword (velero-repo-credentials)
//!         └─ open() → Box<dyn VolumeRepository>: backup a directory, restore a snapshot, list
//!              restic: rustic_core over a backend of ours (`restic::backend`)
//!              kopia:  not built yet (Unsupported)
//! ```
//! The format is behind [`VolumeRepository`], so a kopia implementation can follow without its
//! callers (the node agent) changing.

mod address;
mod error;
mod password;
mod progress;
pub mod restic;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use address::{RepoAddress, Uploader};
pub use error::RepositoryError;
pub use password::read as read_password;
pub use password::{RepoPassword, SECRET_KEY, SECRET_NAME};
pub use progress::Progress;

use crate::storage::ObjectStore;

pub type Result<T, E = RepositoryError> = std::result::Result<T, E>;

/// What to record with a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// Velero's snapshot tags (`backup`, `backup-uid`, `ns`, `pod`, `pod-uid`, `pvc`, `volume`).
    pub tags: BTreeMap<String, String>,
    /// A snapshot of the same volume to compare against (files unchanged since are not read
    /// again). `None` reads every file: a parent from another volume could match a file by
    /// path, size and times and skip reading it.
    pub parent: Option<String>,
}

/// A snapshot in a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The format's snapshot id (restic: 64 hex digits).
    pub id: String,
    pub tags: BTreeMap<String, String>,
    /// Bytes of file content the snapshot holds (before deduplication).
    pub total_bytes: u64,
    /// Files in the snapshot.
    pub files: u64,
    /// Bytes this snapshot added to the repository (after deduplication and compression).
    pub added_bytes: u64,
}

/// What a restore wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub files: u64,
    pub bytes: u64,
}

/// What [`VolumeRepository::forget`] did with each snapshot id it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Removed from the repository (their snapshot files deleted).
    pub forgotten: Vec<String>,
    /// Not in the repository: forgotten before, or never written.
    pub missing: Vec<String>,
    /// Kept: the snapshot lacks one of the tags asked for (it is another backup's), or the id
    /// is shorter than 8 digits or names more than one snapshot.
    pub kept: Vec<String>,
}

/// Whether [`open`] may create a repository that does not exist yet (a backup may; a restore
/// must find one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    IfMissing,
    Never,
}

/// What a file-system backup needs of a repository, whatever its format. Every method blocks
/// (formats do their own parallel I/O on threads of their own): call them from
/// `tokio::task::spawn_blocking`, never on the runtime's workers.
pub trait VolumeRepository: Send + Sync {
    fn address(&self) -> &RepoAddress;
    /// Back the directory `source` up: its contents become the snapshot's root, as Velero's
    /// `restic backup .` in the volume's directory makes them. `progress` follows the bytes
    /// read of the bytes to read.
    fn backup(
        &self,
        source: &Path,
        request: &SnapshotRequest,
        progress: &Progress,
    ) -> Result<Snapshot>;
    /// Write snapshot `id`'s contents into the directory `target` (created when missing);
    /// `progress` follows the bytes written of the bytes to write.
    fn restore(&self, id: &str, target: &Path, progress: &Progress) -> Result<Restored>;
    /// The repository's snapshots.
    fn snapshots(&self) -> Result<Vec<Snapshot>>;
    /// Forget the snapshots `ids` (full ids, or prefixes of at least 8 digits naming one
    /// snapshot, as restic's short ids) whose tags hold every `key=value` of `tags` (a
    /// backup's `backup-uid`): their snapshot files are deleted, never another's. The data
    /// only they used stays in the repository until it is pruned.
    fn forget(&self, ids: &[String], tags: &BTreeMap<String, String>) -> Result<Forgotten>;
}

/// Open (or, with [`Create::IfMissing`], create) the repository at `address` in `store`'s
/// location. Runs on a blocking thread; the repository it returns is used the same way.
pub async fn open(
    store: Arc<ObjectStore>,
    address: RepoAddress,
    password: RepoPassword,
    create: Create,
) -> Result<Box<dyn VolumeRepository>> {
    match address.uploader {
        Uploader::Restic => {
            let runtime = tokio::runtime::Handle::current();
            let root = address.root();
            let opened = tokio::task::spawn_blocking(move || {
                restic::ResticRepository::open(store, address, &password, create, runtime)
            })
            .await
            .map_err(|e| RepositoryError::Task {
                root,
                message: e.to_string(),
            })??;
            Ok(Box::new(opened))
        }
        Uploader::Kopia => Err(RepositoryError::Unsupported(format!(
            "repository {}: kopia's repository format is not built yet; veloxide reads and \
             writes restic's (uploaderType restic)",
            address.root()
        ))),
    }
}
