//! What the Restore controller's files share: its names and the state of one leadership term.

use std::sync::Arc;

use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio_util::sync::CancellationToken;

use crate::api::{Backup, BackupStorageLocation, Restore};
use crate::backup::Plan;
use crate::controller::Context;
use crate::restore::ExistingPolicy;
use crate::restore::prepare::Rules;

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "restore";
/// The action of every event this controller records.
pub const ACTION: &str = "Restore";
/// Held by every Restore until its files under `restores/<name>/` are deleted. Velero's name
/// (≥ 1.14), so a Restore written by either server is released by either.
pub const FINALIZER: &str = "restores.velero.io/external-resources-finalizer";

/// What every reconcile of one leadership term shares.
pub(super) struct State {
    pub ctx: Arc<Context>,
    pub term: CancellationToken,
    pub objects: Store<Restore>,
}

impl State {
    pub fn api(&self) -> Api<Restore> {
        Api::namespaced(self.ctx.client.clone(), &self.ctx.settings.namespace)
    }

    /// Whether the watch has seen `restore` marked for deletion (while it runs, its reconcile
    /// is busy, so this is how the run learns of it).
    pub fn being_deleted(&self, restore: &Restore) -> bool {
        self.objects
            .get(&ObjectRef::from_obj(restore))
            .is_some_and(|r| r.metadata.deletion_timestamp.is_some())
    }
}

/// What a valid restore runs with.
pub(super) struct Validated {
    pub backup: Backup,
    pub location: BackupStorageLocation,
    pub plan: Plan,
    pub rules: Rules,
    pub policy: ExistingPolicy,
    pub options: crate::restore::options::Options,
    pub hooks: crate::hooks::restore::RestoreRules,
}
