//! The DeleteBackupRequest controller's types and constants (a leaf: imports no sibling).

use std::time::Duration;

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "deletebackuprequest";
/// Processed (and stuck InProgress) requests are removed this long after their creation
/// (Velero's `deleteBackupRequestMaxAge`).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long the backup's Restores get to go (their own finalizer deletes their files), as
/// Velero polls for them.
pub const RESTORES_GONE_WITHIN: Duration = Duration::from_secs(60);

/// The backup's files: the location they are in, checked usable, and the uid the folder's
/// owner marker (or stored metadata) must name for any of them to be deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    pub location: String,
    pub uid: String,
}

/// What to do with a new request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Processed at once with this error; nothing is deleted.
    Refuse(String),
    /// Delete the files (when the backup wrote any), its Restores, then the object.
    Proceed { files: Option<Files> },
}
