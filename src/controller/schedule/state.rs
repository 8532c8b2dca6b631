//! The Schedule controller's names and plain types (a leaf: imports nothing from its siblings).

use std::time::Duration;

use crate::api::{Backup, BackupPhase};

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "schedule";

/// Looked at again this often while one of its backups runs (the backup watch usually wakes
/// the schedule sooner).
pub const WHILE_RUNNING: Duration = Duration::from_secs(30);

/// A status write lost a race (409): decide again on the newer object at once.
pub const AFTER_CONFLICT: Duration = Duration::from_millis(200);

/// The longest single sleep: a cron time months away is still re-checked daily (a clock
/// change, a missed watch event), and never overflows a timer.
pub const MAX_SLEEP: Duration = Duration::from_secs(24 * 3600);

/// Whether a backup of the schedule still holds the next one back (Velero: phase "", New or
/// InProgress; here every phase before a terminal one).
pub fn holds_back(backup: &Backup) -> bool {
    !backup.phase().is_terminal() && backup.phase() != BackupPhase::Deleting
}

/// The annotation a retention DeleteBackupRequest carries, naming the schedule.
pub const RETENTION_OF: &str = "veloxide.io/retention-of";
