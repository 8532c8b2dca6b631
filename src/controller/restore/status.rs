//! A restore's status at each step, as plain functions over plain data: Velero's fields plus a
//! `Ready` condition whose `lastTransitionTime` only moves when its status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{RestorePhase, RestoreProgress, RestoreStatus};
use crate::restore::{Outcome, RestoreError};

/// Velero's message for a restore found `InProgress` when the server starts.
pub const RESTART_MESSAGE: &str =
    "found a restore with status \"InProgress\" during the server starting, mark it as \"Failed\"";

fn set_ready(status: &mut RestoreStatus, value: bool, reason: &str, message: &str, now: &Time) {
    let value = if value { "True" } else { "False" };
    let since = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == value)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != "Ready");
    status.conditions.push(Condition {
        type_: "Ready".into(),
        status: value.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: None,
        last_transition_time: since,
    });
}

pub fn failed_validation(
    previous: Option<&RestoreStatus>,
    errors: Vec<String>,
    now: &Time,
) -> RestoreStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(RestorePhase::FailedValidation);
    status.completion_timestamp = Some(now.clone());
    set_ready(
        &mut status,
        false,
        "FailedValidation",
        &errors.join("; "),
        now,
    );
    status.validation_errors = Some(errors);
    status
}

pub fn started(previous: Option<&RestoreStatus>, now: &Time) -> RestoreStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(RestorePhase::InProgress);
    status.start_timestamp = Some(now.clone());
    status.progress = Some(RestoreProgress::default());
    set_ready(
        &mut status,
        false,
        "InProgress",
        "the restore is running",
        now,
    );
    status
}

pub fn finished(
    previous: &RestoreStatus,
    result: &Result<Outcome, RestoreError>,
    now: &Time,
) -> RestoreStatus {
    let mut status = previous.clone();
    status.completion_timestamp = Some(now.clone());
    match result {
        Ok(o) => {
            let partial = o.errors > 0;
            status.phase = Some(if partial {
                RestorePhase::PartiallyFailed
            } else {
                RestorePhase::Completed
            });
            status.errors = (o.errors > 0).then_some(o.errors as i64);
            status.warnings = (o.warnings > 0).then_some(o.warnings as i64);
            status.hook_status = o.hooks.status();
            status.progress = Some(RestoreProgress {
                total_items: Some(o.total as i64),
                items_restored: Some(o.processed as i64),
            });
            let message = format!(
                "{} of {} items restored, {} errors, {} warnings (see the results file)",
                o.restored, o.total, o.errors, o.warnings
            );
            let reason = status.phase.expect("set above").as_str();
            set_ready(&mut status, !partial, reason, &message, now);
        }
        Err(e) => {
            status.phase = Some(RestorePhase::Failed);
            status.failure_reason = Some(e.to_string());
            set_ready(&mut status, false, e.label(), &e.to_string(), now);
        }
    }
    status
}

pub fn orphaned(previous: Option<&RestoreStatus>, now: &Time) -> RestoreStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(RestorePhase::Failed);
    status.failure_reason = Some(RESTART_MESSAGE.to_owned());
    status.completion_timestamp = Some(now.clone());
    set_ready(&mut status, false, "ServerRestarted", RESTART_MESSAGE, now);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_the_outcome() {
        let now = Time(jiff::Timestamp::UNIX_EPOCH);
        let start = started(None, &now);
        assert_eq!(start.phase, Some(RestorePhase::InProgress));
        let ok = finished(
            &start,
            &Ok(Outcome {
                hooks: Default::default(),
                total: 3,
                restored: 3,
                ..Default::default()
            }),
            &now,
        );
        assert_eq!(ok.phase, Some(RestorePhase::Completed));
        assert_eq!(ok.conditions[0].status, "True");
        let partial = finished(
            &start,
            &Ok(Outcome {
                hooks: Default::default(),
                total: 3,
                processed: 3,
                restored: 2,
                errors: 1,
                warnings: 0,
            }),
            &now,
        );
        assert_eq!(partial.phase, Some(RestorePhase::PartiallyFailed));
        assert_eq!(partial.errors, Some(1));
        // Velero's progress: every item processed, so a finished restore reads 3 of 3.
        let progress = partial.progress.unwrap();
        assert_eq!(progress.items_restored, progress.total_items);
        let failed = finished(
            &start,
            &Err(RestoreError::Location("Secret \"k\" was not found".into())),
            &now,
        );
        assert_eq!(failed.phase, Some(RestorePhase::Failed));
        assert_eq!(failed.conditions[0].reason, "LocationUnusable");
        assert_eq!(
            orphaned(Some(&start), &now).failure_reason.as_deref(),
            Some(RESTART_MESSAGE)
        );
    }
}
