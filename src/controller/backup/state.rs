//! What the Backup controller's files share: its names, the state of one leadership term, and
//! the shape of its status patches.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use kube::Api;
use kube::runtime::reflector::Store;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::head::BackupHead;
use crate::api::{Backup, BackupStatus};
use crate::backup::Progress;
use crate::controller::Context;

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "backup";
/// The action of every event this controller records.
pub const ACTION: &str = "Backup";
/// The finalizer older veloxide versions put on every Backup, which deleted `backups/<name>/`
/// when the object was deleted (even when the files were another cluster's). It is removed
/// from any Backup that still carries it, without deleting anything.
pub const LEGACY_FINALIZER: &str = "veloxide.io/backup-objects";

/// What every reconcile of one leadership term shares.
pub(super) struct State {
    pub ctx: Arc<Context>,
    pub term: CancellationToken,
    /// Locations with a backup running here: one at a time per location.
    busy: Mutex<HashSet<String>>,
    pub objects: Store<BackupHead>,
}

impl State {
    pub fn new(ctx: Arc<Context>, term: CancellationToken, objects: Store<BackupHead>) -> Self {
        State {
            ctx,
            term,
            busy: Mutex::default(),
            objects,
        }
    }

    pub fn api(&self) -> Api<Backup> {
        Api::namespaced(self.ctx.client.clone(), &self.ctx.settings.namespace)
    }

    /// Take `location` for one backup; `None` while another backup here holds it.
    pub fn take(&self, location: &str) -> Option<Busy<'_>> {
        self.busy
            .lock()
            .expect("busy lock")
            .insert(location.to_owned())
            .then(|| Busy(self, location.to_owned()))
    }
}

/// Frees a location when the backup that took it ends, however it ends.
pub(super) struct Busy<'a>(&'a State, String);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.lock().expect("busy lock").remove(&self.1);
    }
}

/// The merge patch writing `status`. A record of files the status no longer has (a run that
/// turned out to own nothing) is removed explicitly: left out, a merge patch would keep it, and
/// a later deletion would delete another backup's files through it.
pub(super) fn status_patch(status: &BackupStatus) -> serde_json::Value {
    let mut patch = json!({ "status": status });
    if status.written_to.is_none() {
        patch["status"]["writtenTo"] = serde_json::Value::Null;
    }
    patch
}

/// Progress as the status shows it.
pub(super) fn progress_status(p: Progress) -> serde_json::Value {
    json!({"status": {"progress": {"totalItems": p.total, "itemsBackedUp": p.items, "bytesUploaded": p.bytes}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that finds its name taken ends FailedValidation, and the merge patch of that
    /// status removes the record of files made at the claim.
    #[test]
    fn a_status_without_files_removes_the_record() {
        let status = BackupStatus::default();
        assert_eq!(
            status_patch(&status)["status"]["writtenTo"],
            serde_json::Value::Null
        );
        assert!(status_patch(&status)["status"].get("writtenTo").is_some());
    }
}
