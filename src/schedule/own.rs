//! Which backups a Schedule made: the only ones its retention, `keepLastSuccessful`, its
//! "still running" check and `scheduleName` restores look at.
//!
//! Velero's `velero.io/schedule-name` label alone does not say it: backup sync keeps every
//! label of a backup another cluster made, so a standby cluster whose Schedule has the same
//! name (a GitOps repository deploying one Schedule to both sites) would count the other
//! site's backups as its own, and prune them. A Schedule here stamps its uid on what it makes
//! ([`SCHEDULE_UID_LABEL`]); uids are unique per cluster, so another cluster's backups never
//! carry ours, and a backup the sync brought in is never ours even when its stored labels say
//! so (the label was written elsewhere).

use crate::api::backup::{SCHEDULE_LABEL, SYNCED_ANNOTATION};
use crate::api::{Backup, Schedule};

/// veloxide's label on a Backup a Schedule made: the Schedule's uid. A label (not an
/// annotation) so a selector finds them; Velero ignores labels it does not know.
pub const SCHEDULE_UID_LABEL: &str = "veloxide.io/schedule-uid";

/// Whether `schedule` (this cluster's object) made `backup`: the schedule's name and uid in
/// its labels, and not a Backup the sync created from a location's files.
pub fn made_by(schedule: &Schedule, backup: &Backup) -> bool {
    let (Some(name), Some(uid)) = (
        schedule.metadata.name.as_deref(),
        schedule.metadata.uid.as_deref(),
    ) else {
        return false;
    };
    let labels = backup.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    let synced = backup
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(SYNCED_ANNOTATION));
    !uid.is_empty()
        && label(SCHEDULE_LABEL) == Some(name)
        && label(SCHEDULE_UID_LABEL) == Some(uid)
        && !synced
}

/// The label selector for the backups `schedule` made (the sync's copies are then left out by
/// [`made_by`]).
pub fn selector(schedule: &Schedule) -> String {
    format!(
        "{SCHEDULE_LABEL}={},{SCHEDULE_UID_LABEL}={}",
        schedule.metadata.name.as_deref().unwrap_or_default(),
        schedule.metadata.uid.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_this_schedule_made_here() {
        let schedule: Schedule = serde_json::from_value(json!({
            "metadata": {"name": "nightly", "uid": "u-here"},
            "spec": {"schedule": "@daily", "template": {}},
        }))
        .unwrap();
        let backup = |labels: serde_json::Value, annotations: serde_json::Value| -> Backup {
            serde_json::from_value(json!({
                "metadata": {"name": "b", "labels": labels, "annotations": annotations},
                "spec": {},
            }))
            .unwrap()
        };
        let ours =
            json!({"velero.io/schedule-name": "nightly", "veloxide.io/schedule-uid": "u-here"});
        let cases = [
            ("made here", ours.clone(), json!({}), true),
            (
                "synced back into this cluster (its labels were written elsewhere)",
                ours.clone(),
                json!({"veloxide.io/synced-from": "default"}),
                false,
            ),
            (
                "another cluster's schedule of the same name",
                json!({"velero.io/schedule-name": "nightly", "veloxide.io/schedule-uid": "u-there"}),
                json!({}),
                false,
            ),
            (
                "Velero's, or an older veloxide's: no uid",
                json!({"velero.io/schedule-name": "nightly"}),
                json!({}),
                false,
            ),
            (
                "another schedule here",
                json!({"velero.io/schedule-name": "weekly", "veloxide.io/schedule-uid": "u-here"}),
                json!({}),
                false,
            ),
            ("by hand", json!({}), json!({}), false),
        ];
        for (what, labels, annotations, want) in cases {
            assert_eq!(
                made_by(&schedule, &backup(labels, annotations)),
                want,
                "{what}"
            );
        }
        assert_eq!(
            selector(&schedule),
            "velero.io/schedule-name=nightly,veloxide.io/schedule-uid=u-here"
        );
        // A schedule without a uid (not from the API server) owns nothing.
        let mut no_uid = schedule.clone();
        no_uid.metadata.uid = None;
        assert!(!made_by(&no_uid, &backup(ours, json!({}))));
    }
}
