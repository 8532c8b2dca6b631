//! Velero's `isCompleted` (`pkg/restore/restore.go`): a Pod that ran to its end, or a Job that
//! finished, is history, not something to run again. Restoring one would run its work a second
//! time (a migration, a payment batch) in the new cluster.

use serde_json::Value;

use super::types::{Context, Stop, str_at};

/// Pods in phase `Succeeded` or `Failed`.
pub fn pod(object: &mut Value, _: &Context<'_>) -> Result<(), Stop> {
    match str_at(object, &["status", "phase"]) {
        Some(phase @ ("Succeeded" | "Failed")) => Err(Stop::skip(format!(
            "the pod had completed (phase {phase}); it is not run again"
        ))),
        _ => Ok(()),
    }
}

/// Jobs with a `completionTime` (Velero's test), and, beyond Velero, Jobs whose `Failed`
/// condition is true: a failed Job restored would start its pods again.
pub fn job(object: &mut Value, _: &Context<'_>) -> Result<(), Stop> {
    if str_at(object, &["status", "completionTime"]).is_some_and(|t| !t.is_empty()) {
        return Err(Stop::skip(
            "the job had completed (status.completionTime is set); it is not run again",
        ));
    }
    let failed = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Failed" && c["status"] == "True")
        });
    if failed {
        return Err(Stop::skip(
            "the job had failed (its Failed condition is true); it is not run again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn finished_pods_and_jobs_are_skipped_and_running_ones_kept() {
        let t = TestContext::new();
        let cases: &[(&str, super::super::types::Action, Value, bool)] = &[
            (
                "pod succeeded",
                pod,
                json!({"status": {"phase": "Succeeded"}}),
                true,
            ),
            (
                "pod failed",
                pod,
                json!({"status": {"phase": "Failed"}}),
                true,
            ),
            (
                "pod running",
                pod,
                json!({"status": {"phase": "Running"}}),
                false,
            ),
            (
                "pod pending",
                pod,
                json!({"status": {"phase": "Pending"}}),
                false,
            ),
            ("pod without status", pod, json!({"spec": {}}), false),
            (
                "job complete",
                job,
                json!({"status": {"completionTime": "2026-01-01T00:00:00Z"}}),
                true,
            ),
            (
                "job failed",
                job,
                json!({"status": {"conditions": [
                {"type": "Failed", "status": "True"}]}}),
                true,
            ),
            (
                "job failed condition false",
                job,
                json!({"status": {"conditions": [
                {"type": "Failed", "status": "False"}]}}),
                false,
            ),
            ("job active", job, json!({"status": {"active": 1}}), false),
            (
                "job empty completionTime",
                job,
                json!({"status": {"completionTime": ""}}),
                false,
            ),
        ];
        for (name, action, item, skipped) in cases {
            let mut item = item.clone();
            let got = action(&mut item, &t.ctx());
            assert_eq!(
                matches!(got, Err(Stop::Skip { .. })),
                *skipped,
                "{name}: {got:?}"
            );
        }
    }
}
