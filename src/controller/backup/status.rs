//! A backup's status at each step, as plain functions over plain data: Velero's fields plus a
//! `Ready` condition (and `EncryptionVerified` once objects are written) whose
//! `lastTransitionTime` only moves when its status flips.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::backup::FORMAT_VERSION;
use crate::api::{BackupEncryption, BackupPhase, BackupProgress, BackupStatus};
use crate::backup::{BackupError, Outcome, recorded_mode};

/// Velero's message for a backup found `InProgress` when the server (here: a new leader)
/// starts.
pub const RESTART_MESSAGE: &str =
    "found a backup with status \"InProgress\" during the server starting, mark it as \"Failed\"";

/// Set `kind` on `status`, keeping `lastTransitionTime` when the status did not flip.
pub fn set_condition(
    status: &mut BackupStatus,
    kind: &str,
    value: bool,
    reason: &str,
    message: &str,
    now: &Time,
) {
    let value = if value { "True" } else { "False" };
    let since = status
        .conditions
        .iter()
        .find(|c| c.type_ == kind && c.status == value)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != kind);
    status.conditions.push(Condition {
        type_: kind.to_owned(),
        status: value.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: None,
        last_transition_time: since,
    });
    status.conditions.sort_by_key(|c| c.type_ != "Ready");
}

/// The backup waits (phase stays `New`); `None` when it already says exactly that.
pub fn waiting(
    previous: Option<&BackupStatus>,
    reason: &str,
    message: &str,
    now: &Time,
) -> Option<BackupStatus> {
    let mut status = previous.cloned().unwrap_or_default();
    let same = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.reason == reason && c.message == message);
    if same && status.phase == Some(BackupPhase::New) {
        return None;
    }
    status.phase = Some(BackupPhase::New);
    set_condition(&mut status, "Ready", false, reason, message, now);
    Some(status)
}

/// The spec was refused: Velero's `FailedValidation` with every reason.
pub fn failed_validation(
    previous: Option<&BackupStatus>,
    errors: Vec<String>,
    now: &Time,
) -> BackupStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(BackupPhase::FailedValidation);
    status.completion_timestamp = Some(now.clone());
    status.version = Some(1);
    status.format_version = Some(FORMAT_VERSION.to_owned());
    set_condition(
        &mut status,
        "Ready",
        false,
        "FailedValidation",
        &errors.join("; "),
        now,
    );
    status.validation_errors = Some(errors);
    status
}

/// The claim: `InProgress` from now, expiring after `ttl` (what Velero sets at start).
pub fn started(previous: Option<&BackupStatus>, ttl: Duration, now: &Time) -> BackupStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(BackupPhase::InProgress);
    status.version = Some(1);
    status.format_version = Some(FORMAT_VERSION.to_owned());
    status.start_timestamp = Some(now.clone());
    status.expiration = Some(Time(
        now.0
            .checked_add(jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX))
            .unwrap_or(jiff::Timestamp::MAX),
    ));
    status.progress = Some(BackupProgress::default());
    set_condition(
        &mut status,
        "Ready",
        false,
        "InProgress",
        "the backup is running",
        now,
    );
    status
}

/// How the run ended: `Completed`, `PartiallyFailed` (item errors, counted), or `Failed`.
pub fn finished(
    previous: &BackupStatus,
    result: &Result<Outcome, BackupError>,
    now: &Time,
) -> BackupStatus {
    let mut status = previous.clone();
    status.completion_timestamp = Some(now.clone());
    match result {
        Ok(outcome) => {
            status.phase = Some(if outcome.errors > 0 {
                BackupPhase::PartiallyFailed
            } else {
                BackupPhase::Completed
            });
            status.errors = (outcome.errors > 0).then_some(outcome.errors as i64);
            let v = outcome.volumes;
            let some = |n: i64| (v.attempted > 0).then_some(n);
            status.csi_volume_snapshots_attempted = some(v.attempted);
            status.csi_volume_snapshots_completed = some(v.completed);
            status.backup_item_operations_attempted = some(v.attempted);
            status.backup_item_operations_completed = some(v.completed);
            status.backup_item_operations_failed = some(v.failed);
            status.warnings = (outcome.warnings > 0).then_some(outcome.warnings as i64);
            status.hook_status = outcome.hooks.status();
            status.phase_millis = Some(outcome.timings.millis());
            status.progress = Some(BackupProgress {
                total_items: Some(outcome.items as i64),
                items_backed_up: Some(outcome.items as i64),
                bytes_uploaded: Some(outcome.tarball_size as i64),
            });
            let recorded = &outcome.encryption;
            let mode = recorded_mode(recorded);
            status.encryption = Some(BackupEncryption {
                mode: Some(mode.to_owned()),
                kms_key_id: recorded.kms_key_id.clone(),
                bucket_key: recorded.bucket_key,
                verified: Some(true),
                objects: Some(outcome.objects as i64),
            });
            set_condition(
                &mut status,
                "EncryptionVerified",
                true,
                "Verified",
                &format!("the store recorded {} on every object", recorded.summary()),
                now,
            );
            let (reason, message) = if outcome.errors > 0 {
                (
                    "PartiallyFailed",
                    format!(
                        "{} items backed up, {} errors (see the results file)",
                        outcome.items, outcome.errors
                    ),
                )
            } else {
                ("Completed", format!("{} items backed up", outcome.items))
            };
            set_condition(
                &mut status,
                "Ready",
                outcome.errors == 0,
                reason,
                &message,
                now,
            );
        }
        // Velero's validation error: the name is taken in the store, so this run wrote
        // nothing and owns nothing there (the files are another backup's, perhaps another
        // cluster's). FailedValidation with no recorded files: no deletion ever touches them.
        Err(BackupError::AlreadyExists) => {
            status = failed_validation(
                Some(&status),
                vec![format!(
                    "{}: a backup of this name is in the location already (made by another \
                     cluster sharing the bucket, or synced from it); choose another name",
                    BackupError::AlreadyExists
                )],
                now,
            );
            status.written_to = None;
            status.progress = None;
        }
        Err(e) => {
            status.phase = Some(BackupPhase::Failed);
            status.failure_reason = Some(e.to_string());
            set_condition(&mut status, "Ready", false, e.label(), &e.to_string(), now);
            // The store never said the name was free: nothing was written, nothing is owned.
            if matches!(e, BackupError::Unchecked(_)) {
                status.written_to = None;
                status.progress = None;
            }
            if matches!(e, BackupError::Store(s) if s.reason() == crate::storage::Reason::EncryptionMismatch)
            {
                set_condition(
                    &mut status,
                    "EncryptionVerified",
                    false,
                    "EncryptionMismatch",
                    &e.to_string(),
                    now,
                );
            }
        }
    }
    status
}

/// A backup orphaned by a restart or a leader change (Velero's behaviour).
pub fn orphaned(previous: Option<&BackupStatus>, now: &Time) -> BackupStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(BackupPhase::Failed);
    status.failure_reason = Some(RESTART_MESSAGE.to_owned());
    status.completion_timestamp = Some(now.clone());
    set_condition(
        &mut status,
        "Ready",
        false,
        "ServerRestarted",
        RESTART_MESSAGE,
        now,
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Recorded;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn a_backup_moves_through_velero_s_phases() {
        let waiting1 = waiting(None, "WaitingForLocation", "not validated", &at(10)).unwrap();
        assert_eq!(waiting1.phase, Some(BackupPhase::New));
        // Unchanged: nothing to write.
        assert!(
            waiting(
                Some(&waiting1),
                "WaitingForLocation",
                "not validated",
                &at(11)
            )
            .is_none()
        );
        let running = started(Some(&waiting1), Duration::from_secs(3600), &at(20));
        assert_eq!(running.phase, Some(BackupPhase::InProgress));
        assert_eq!(running.expiration, Some(at(3620)));
        assert_eq!(running.format_version.as_deref(), Some("1.1.0"));
        // Ready stayed False from the wait to the run: its transition time did not move.
        assert_eq!(running.conditions[0].last_transition_time, at(10));
        let outcome = Outcome {
            items: 7,
            errors: 0,
            warnings: 1,
            tarball_size: 100,
            encryption: Recorded {
                algorithm: Some("aws:kms".into()),
                kms_key_id: Some("arn:aws:kms:us-east-1:1:key/k".into()),
                bucket_key: Some(true),
                ..Default::default()
            },
            objects: 4,
            volumes: crate::backup::volumes::record::Counts {
                attempted: 2,
                completed: 2,
                failed: 0,
            },
            hooks: crate::hooks::Tally {
                attempted: 2,
                failed: 1,
            },
            timings: crate::backup::Timings {
                listing: Duration::from_millis(250),
                status_writes: Duration::from_millis(9),
                ..Default::default()
            },
        };
        let done = finished(&running, &Ok(outcome.clone()), &at(30));
        assert_eq!(done.phase, Some(BackupPhase::Completed));
        let phases = done.phase_millis.unwrap();
        assert_eq!((phases.listing, phases.status_writes), (250, 9));
        let hooks = done.hook_status.as_ref().unwrap();
        assert_eq!(
            (hooks.hooks_attempted, hooks.hooks_failed),
            (Some(2), Some(1))
        );
        assert_eq!(done.csi_volume_snapshots_attempted, Some(2));
        assert_eq!(done.csi_volume_snapshots_completed, Some(2));
        assert_eq!(done.backup_item_operations_failed, Some(0));
        let enc = done.encryption.as_ref().unwrap();
        assert_eq!(enc.mode.as_deref(), Some("SSE-KMS"));
        assert_eq!(enc.bucket_key, Some(true));
        assert_eq!(done.conditions[0].status, "True");
        assert_eq!(done.conditions[0].last_transition_time, at(30));
        let partial = finished(
            &running,
            &Ok(Outcome {
                errors: 2,
                ..outcome
            }),
            &at(30),
        );
        assert_eq!(partial.phase, Some(BackupPhase::PartiallyFailed));
        assert_eq!(partial.errors, Some(2));
        let failed = finished(&running, &Err(BackupError::UploadStopped), &at(30));
        assert_eq!(failed.phase, Some(BackupPhase::Failed));
        assert_eq!(failed.conditions[0].reason, "UploadStopped");
        // A name taken in the store: FailedValidation, and no record of files to delete.
        let mut claimed = running.clone();
        claimed.written_to = Some(crate::api::BackupWrittenTo {
            location: "default".into(),
            bucket: "b".into(),
            ..Default::default()
        });
        let taken = finished(&claimed, &Err(BackupError::AlreadyExists), &at(30));
        assert_eq!(taken.phase, Some(BackupPhase::FailedValidation));
        assert_eq!(taken.written_to, None);
        assert!(
            taken.validation_errors.as_ref().unwrap()[0]
                .starts_with("backup already exists in object storage")
        );
        assert_eq!(taken.conditions[0].reason, "FailedValidation");
        // A store that did not answer whether the name is free: Failed, owning nothing.
        let unchecked = BackupError::Unchecked(crate::storage::StorageError::Config("503".into()));
        let failed = finished(&claimed, &Err(unchecked), &at(30));
        assert_eq!(failed.phase, Some(BackupPhase::Failed));
        assert_eq!(failed.written_to, None);
        assert!(
            failed
                .failure_reason
                .unwrap()
                .contains("nothing was written or deleted")
        );
    }

    #[test]
    fn orphans_get_velero_s_message() {
        let s = orphaned(None, &at(5));
        assert_eq!(s.phase, Some(BackupPhase::Failed));
        assert_eq!(
            s.failure_reason.as_deref(),
            Some(
                r#"found a backup with status "InProgress" during the server starting, mark it as "Failed""#
            )
        );
        let invalid = failed_validation(None, vec!["a".into(), "b".into()], &at(5));
        assert_eq!(
            invalid.validation_errors,
            Some(vec!["a".into(), "b".into()])
        );
    }
}
