//! What the Backup controller keeps of each Backup between reconciles: its name and the few
//! facts that say whether a reconcile has anything to do, not the whole object.
//!
//! A cluster that syncs a bucket of 100,000 backups watches 100,000 Backups that are finished
//! and wait only for their expiry. A whole `Backup` costs about 4 KiB in memory, so the cache
//! alone took the server past its chart limit (256 MiB) near 37,000 backups; a head costs a
//! fraction of that. A reconcile decides from the head alone when the answer is "wait"
//! (`settle::settled`), and reads the whole Backup from the API server only when it has work to do: a
//! new backup to run, a cleanup to retry, an expiry within reach, a finalizer to release.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use kube::core::NamespaceResourceScope;
use serde::Deserialize;

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

    pub fn synced(&self) -> bool {
        self.synced
            || self
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(SYNCED_ANNOTATION))
    }

    /// Whether condition `type_` is False (a failed backup's pending cleanup).
    pub fn condition_false(&self, type_: &str) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == type_ && c.status == "False")
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head(object: serde_json::Value) -> BackupHead {
        serde_json::from_value(object).unwrap()
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
    }
}
