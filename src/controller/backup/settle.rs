//! What a reconcile decides from a Backup's cached head alone (`head`): every wait, and
//! nothing else. Kept apart from `head` so the cached type depends on none of the files that
//! use it.

use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::controller::Action;

use super::cleanup::CLEANED;
use super::expiry::near;
use super::head::BackupHead;
use super::state::LEGACY_FINALIZER;
use crate::api::BackupPhase;

/// What a reconcile does when the head alone decides it (the same answer the whole object
/// would get); `None` when the whole Backup is needed. `gc` is the collector's frequency, `None`
/// when the collector is off.
pub fn settled(head: &BackupHead, gc: Option<Duration>, now: Timestamp) -> Option<Action> {
    let meta = &head.metadata;
    if meta
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == LEGACY_FINALIZER))
    {
        return None;
    }
    if meta.deletion_timestamp.is_some() {
        return Some(Action::await_change());
    }
    match head.phase() {
        BackupPhase::New if head.synced() => Some(Action::await_change()),
        BackupPhase::New | BackupPhase::Queued | BackupPhase::ReadyToStart => None,
        phase if phase.is_terminal() => {
            if head.phase() == BackupPhase::Failed && head.condition_false(CLEANED) {
                return None;
            }
            let Some(gc) = gc else {
                return Some(Action::await_change());
            };
            let Some(expiration) = head.status.as_ref().and_then(|s| s.expiration.as_ref()) else {
                return Some(Action::await_change());
            };
            if near(now, expiration.0, gc) {
                return None;
            }
            let left = Duration::try_from(expiration.0.duration_since(now)).unwrap_or(gc);
            Some(Action::requeue(left.min(gc)))
        }
        // Running here, or left by another leader (the start-up sweep failed it).
        _ => Some(Action::await_change()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::SYNCED_ANNOTATION;
    use serde_json::json;

    const HOUR: Duration = Duration::from_secs(3600);

    fn head(object: serde_json::Value) -> BackupHead {
        serde_json::from_value(object).unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-06T12:00:00Z".parse().unwrap()
    }

    /// Every case: the head decides waits, and asks for the whole object whenever there is
    /// something to do.
    #[test]
    fn the_head_decides_only_waits() {
        let meta = json!({"name": "b", "namespace": "velero"});
        let cases: Vec<(&str, serde_json::Value, Option<Duration>, Option<Action>)> = vec![
            ("new: run it", json!({"metadata": meta}), Some(HOUR), None),
            (
                "queued: run it",
                json!({"metadata": meta, "status": {"phase": "Queued"}}),
                Some(HOUR),
                None,
            ),
            (
                "new but synced: never run",
                json!({"metadata": {"name": "b", "annotations": {SYNCED_ANNOTATION: "default"}}}),
                Some(HOUR),
                Some(Action::await_change()),
            ),
            (
                "in progress",
                json!({"metadata": meta, "status": {"phase": "InProgress"}}),
                Some(HOUR),
                Some(Action::await_change()),
            ),
            (
                "being deleted",
                json!({"metadata": {"name": "b", "deletionTimestamp": "2026-12-06T11:00:00Z"}, "status": {"phase": "Completed"}}),
                Some(HOUR),
                Some(Action::await_change()),
            ),
            (
                "legacy finalizer: release it",
                json!({"metadata": {"name": "b", "finalizers": [LEGACY_FINALIZER]}, "status": {"phase": "Completed"}}),
                Some(HOUR),
                None,
            ),
            (
                "completed, expires in 10 days: wait one collector period",
                json!({"metadata": meta, "status": {"phase": "Completed", "expiration": "2026-12-16T12:00:00Z"}}),
                Some(HOUR),
                Some(Action::requeue(HOUR)),
            ),
            (
                "completed, expires within the retention look-ahead: read it",
                json!({"metadata": meta, "status": {"phase": "Completed", "expiration": "2026-12-06T13:00:00Z"}}),
                Some(HOUR),
                None,
            ),
            (
                "expired: collect it",
                json!({"metadata": meta, "status": {"phase": "Completed", "expiration": "2026-12-01T00:00:00Z"}}),
                Some(HOUR),
                None,
            ),
            (
                "collector off",
                json!({"metadata": meta, "status": {"phase": "Completed", "expiration": "2026-12-01T00:00:00Z"}}),
                None,
                Some(Action::await_change()),
            ),
            (
                "no expiration",
                json!({"metadata": meta, "status": {"phase": "PartiallyFailed"}}),
                Some(HOUR),
                Some(Action::await_change()),
            ),
            (
                "failed with leftovers: retry the cleanup",
                json!({"metadata": meta, "status": {"phase": "Failed", "expiration": "2026-12-16T12:00:00Z",
                    "conditions": [{"type": CLEANED, "status": "False", "reason": "CleanupPending", "message": "m", "lastTransitionTime": "2026-12-06T11:00:00Z"}]}}),
                Some(HOUR),
                None,
            ),
            (
                "failed and cleaned",
                json!({"metadata": meta, "status": {"phase": "Failed", "expiration": "2026-12-16T12:00:00Z",
                    "conditions": [{"type": CLEANED, "status": "True", "reason": "Cleaned", "message": "m", "lastTransitionTime": "2026-12-06T11:00:00Z"}]}}),
                Some(HOUR),
                Some(Action::requeue(HOUR)),
            ),
        ];
        for (what, object, gc, want) in cases {
            assert_eq!(settled(&head(object), gc, now()), want, "{what}");
        }
    }

    /// A trimmed head decides as the whole object would: synced and New, never run.
    #[test]
    fn a_trimmed_head_still_knows_the_sync_made_it() {
        let mut new =
            head(json!({"metadata": {"name": "b", "annotations": {SYNCED_ANNOTATION: "default"}}}));
        super::super::head::trim(&mut new);
        assert_eq!(new.metadata.annotations, None);
        assert_eq!(
            settled(&new, Some(HOUR), now()),
            Some(Action::await_change())
        );
    }
}
