//! What the Backup controller keeps of each Backup between reconciles: its name and the few
//! facts that say whether a reconcile has anything to do, not the whole object.
//!
//! A cluster that syncs a bucket of 100,000 backups watches 100,000 Backups that are finished
//! and wait only for their expiry. A whole `Backup` costs about 4 KiB in memory, so the cache
//! alone took the server past its chart limit (256 MiB) near 37,000 backups; a head costs a
//! fraction of that. A reconcile decides from the head alone when the answer is "wait"
//! ([`settled`]), and reads the whole Backup from the API server only when it has work to do: a
//! new backup to run, a cleanup to retry, an expiry within reach, a finalizer to release.

use std::borrow::Cow;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use serde::Deserialize;

use super::cleanup::CLEANED;
use super::expiry::near;
use super::state::LEGACY_FINALIZER;
use crate::api::backup::SYNCED_ANNOTATION;
use crate::api::{Backup, BackupPhase};

/// A Backup as the controller's cache holds it, decoded straight from the watch (the rest of
/// the object is skipped by the parser, never built).
#[derive(Clone, Debug, Deserialize)]
pub struct BackupHead {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<HeadStatus>,
    /// Whether the sync created it ([`SYNCED_ANNOTATION`]), kept by [`trim`] in place of the
    /// annotations (a map of one entry costs more than the rest of the head).
    #[serde(skip)]
    synced: bool,
}

/// The parts of the status a head keeps.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HeadStatus {
    #[serde(default)]
    pub phase: Option<BackupPhase>,
    #[serde(default)]
    pub expiration: Option<Time>,
    #[serde(default)]
    pub conditions: Vec<HeadCondition>,
}

/// A condition's type and status (its message can be long and is not needed to decide).
#[derive(Clone, Debug, Deserialize)]
pub struct HeadCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

impl Resource for BackupHead {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Backup::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        Backup::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        Backup::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        Backup::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl BackupHead {
    /// The phase, `New` when none was written yet (as [`Backup::phase`]).
    pub fn phase(&self) -> BackupPhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(BackupPhase::New)
    }

    fn synced(&self) -> bool {
        self.synced
            || self
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(SYNCED_ANNOTATION))
    }

    /// Whether a failed backup still has leftovers to remove (as `cleanup::pending`).
    fn cleanup_pending(&self) -> bool {
        self.phase() == BackupPhase::Failed
            && self.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == CLEANED && c.status == "False")
            })
    }
}

/// Drop from the cached metadata what no decision reads, keeping name, namespace,
/// finalizers, the deletion time, and whether the sync made it. The watch has read the
/// resourceVersion before this runs (it resumes from its own record), and a reconcile that
/// acts reads the whole object, whose resourceVersion fences its writes.
pub fn trim(head: &mut BackupHead) {
    head.synced = head.synced();
    let name = head.metadata.name.take();
    let namespace = head.metadata.namespace.take();
    let finalizers = head.metadata.finalizers.take();
    let deletion_timestamp = head.metadata.deletion_timestamp.take();
    head.metadata = ObjectMeta {
        name,
        namespace,
        finalizers,
        deletion_timestamp,
        ..ObjectMeta::default()
    };
}

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
            if head.cleanup_pending() {
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

    /// The head is decoded from a whole Backup's JSON, and trimmed to what decisions read.
    #[test]
    fn a_whole_backup_decodes_into_a_trimmed_head() {
        let mut h = head(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "velero", "uid": "u", "resourceVersion": "7",
                "labels": {"velero.io/storage-location": "default"},
                "annotations": {SYNCED_ANNOTATION: "default", "other": "x"},
                "managedFields": [{"manager": "m"}]},
            "spec": {"includedNamespaces": ["a"], "ttl": "720h0m0s"},
            "status": {"phase": "Completed", "expiration": "2026-12-16T12:00:00Z",
                "progress": {"totalItems": 3}, "writtenTo": {"location": "default", "bucket": "b"}},
        }));
        trim(&mut h);
        assert_eq!(
            h.metadata,
            ObjectMeta {
                name: Some("b".into()),
                namespace: Some("velero".into()),
                ..ObjectMeta::default()
            }
        );
        assert!(h.synced());
        assert_eq!(h.phase(), BackupPhase::Completed);
        // A trimmed head decides as the whole object would: synced and New, never run.
        let mut new =
            head(json!({"metadata": {"name": "b", "annotations": {SYNCED_ANNOTATION: "default"}}}));
        trim(&mut new);
        assert_eq!(
            settled(&new, Some(HOUR), now()),
            Some(Action::await_change())
        );
    }
}
