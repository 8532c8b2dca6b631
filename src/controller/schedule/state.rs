//! The Schedule controller's names and plain types (a leaf: imports nothing from its siblings).

use std::time::Duration;

use crate::api::{Backup, BackupPhase, Schedule};
use crate::schedule::made_by;

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

/// Whether a backup still holds the schedule's next one back (Velero #9264: phase "", New or
/// InProgress). Only a backup this schedule made here, in a phase veloxide moves on: never one
/// the sync brought in (no controller here runs it), and never one left in Velero's
/// asynchronous phases (WaitingForPluginOperations*, Finalizing*) after a migration, which
/// veloxide never advances; either would hold the schedule back for ever.
pub fn holds_back(schedule: &Schedule, backup: &Backup) -> bool {
    use BackupPhase as P;
    made_by(schedule, backup)
        && matches!(
            backup.phase(),
            P::New | P::Queued | P::ReadyToStart | P::InProgress
        )
}

/// The annotation a retention DeleteBackupRequest carries, naming the schedule.
pub const RETENTION_OF: &str = "veloxide.io/retention-of";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (what, labels, annotations, phase, holds back)
    #[test]
    fn only_this_schedules_runs_veloxide_advances_hold_back() {
        let schedule: Schedule = serde_json::from_value(json!({
            "metadata": {"name": "s", "uid": "u-s"},
            "spec": {"schedule": "@daily", "template": {}},
        }))
        .unwrap();
        let ours = json!({"velero.io/schedule-name": "s", "veloxide.io/schedule-uid": "u-s"});
        let velero = json!({"velero.io/schedule-name": "s"});
        let synced = json!({"veloxide.io/synced-from": "default"});
        let cases = [
            ("ours, new", &ours, json!({}), "New", true),
            ("ours, queued", &ours, json!({}), "Queued", true),
            ("ours, running", &ours, json!({}), "InProgress", true),
            ("ours, finished", &ours, json!({}), "Completed", false),
            ("ours, failed", &ours, json!({}), "Failed", false),
            ("ours, being deleted", &ours, json!({}), "Deleting", false),
            (
                "Velero's async phase after a migration",
                &ours,
                json!({}),
                "WaitingForPluginOperations",
                false,
            ),
            ("Velero's finalizing", &ours, json!({}), "Finalizing", false),
            (
                "Velero's, running, no uid",
                &velero,
                json!({}),
                "InProgress",
                false,
            ),
            (
                "synced, stored as running",
                &ours,
                synced.clone(),
                "InProgress",
                false,
            ),
            (
                "synced, not yet given its status",
                &ours,
                synced,
                "New",
                false,
            ),
        ];
        for (what, labels, annotations, phase, want) in cases {
            let backup: Backup = serde_json::from_value(json!({
                "metadata": {"name": "b", "labels": labels, "annotations": annotations},
                "spec": {}, "status": {"phase": phase},
            }))
            .unwrap();
            assert_eq!(holds_back(&schedule, &backup), want, "{what}");
        }
    }
}
