//! What a backup is asked to do, and how far it has got.

use tokio::sync::watch;

use super::collect::Source;
use super::filter::Plan;
use crate::storage::ObjectStore;

/// What a backup needs: which backup, what to take, where from and where to.
pub struct Request<'a> {
    /// The backup's name (its objects go under `backups/<name>/`).
    pub name: &'a str,
    /// `namespace/name`, for the log.
    pub qualified: &'a str,
    /// The Backup's uid: the folder's owner marker names it, and every cleanup checks it.
    pub uid: &'a str,
    pub plan: &'a Plan,
    pub source: &'a Source,
    pub store: &'a ObjectStore,
    /// Stamped on every archive entry (unix seconds).
    pub started: u64,
    /// Items so far, for the status.
    pub progress: watch::Sender<Progress>,
    /// Velero's `EnableAPIGroupVersions`: every served version of each resource's group is
    /// in the archive too.
    pub api_group_versions: bool,
}

/// How far a running backup has got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub items: u64,
    pub total: u64,
    /// Archive bytes the upload has taken (at most one part ahead of what the store has).
    pub bytes: u64,
}
