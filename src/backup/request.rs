//! What a backup is asked to do, and how far it has got.

use std::time::Duration;

use tokio::sync::watch;

use super::collect::Source;
use super::filter::Plan;
use super::volumes::FsSettings;
use super::volumes::metrics::CsiMetrics;
use super::volumes::policy::Policies;
use crate::api::{Backup, BackupStorageLocation};
use crate::hooks::BackupHooks;
use crate::storage::ObjectStore;

/// What a backup needs: which backup, what to take, where from and where to.
pub struct Request<'a> {
    /// The backup's name (its objects go under `backups/<name>/`).
    pub name: &'a str,
    /// `namespace/name`, for the log.
    pub qualified: &'a str,
    /// The Backup's uid: the folder's owner marker names it, and every cleanup checks it.
    pub uid: &'a str,
    /// The Backup itself: the volumes step reads its spec and annotations.
    pub backup: &'a Backup,
    /// The server's client, for the volumes step's snapshots (the archive reads through
    /// `source`).
    pub client: kube::Client,
    pub plan: &'a Plan,
    /// The hooks to run around each pod (none run when the server runs without hooks).
    pub hooks: &'a BackupHooks,
    /// The backup's resource policies, parsed when it was validated.
    pub policies: Option<&'a Policies>,
    /// `spec.csiSnapshotTimeout` (default 10m), and as written.
    pub csi_timeout: (Duration, String),
    pub csi_metrics: Option<&'a CsiMetrics>,
    /// The location written to (file-system backups go to its repositories).
    pub location: &'a BackupStorageLocation,
    /// The server's file-system backup settings.
    pub fs: FsSettings,
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
