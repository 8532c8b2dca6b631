//! One pod's step of a backup, in Velero's order (`pkg/backup/item_backupper.go`): the pod's
//! pre hooks, then the pod's volumes (its claims' snapshots), then its post hooks. Post hooks
//! run also when a snapshot failed, as Velero runs them whatever the pod's backup gave.
//!
//! The hooks are no-ops here: issue 25 (hooks) fills [`pre_hooks`] and [`post_hooks`] in. The
//! volumes side only calls them, so the two can change apart.

use k8s_openapi::api::core::v1::Pod;

use super::Job;
use crate::backup::sidefiles::{BackupLog, Results};

/// Run the pod's pre hooks (`pre.hook.backup.velero.io/*`, `spec.hooks` pre) before its volumes
/// are snapshotted. A hook whose `onError` is `Fail` ends the backup PartiallyFailed through
/// `results`; the pod's volumes are still taken, as Velero does.
pub async fn pre_hooks(_job: &Job<'_>, _pod: &Pod, _log: &mut BackupLog, _results: &mut Results) {}

/// Run the pod's post hooks once its volumes are snapshotted (or failed to be).
pub async fn post_hooks(_job: &Job<'_>, _pod: &Pod, _log: &mut BackupLog, _results: &mut Results) {}
