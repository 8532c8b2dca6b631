//! One pod's step of a backup, in Velero's order (`pkg/backup/backup.go`, `backupItemBlock`):
//! the pod's pre hooks, then the pod's volumes (its claims' snapshots), then its post hooks.
//! Post hooks run also when a snapshot failed, as Velero runs them whatever the pod's backup
//! gave.
//!
//! A pre hook failing with `onError: Fail` keeps the pod itself out of the archive (an error
//! naming the hook) and its post hooks are not run, as Velero marks such a pod backed up and
//! leaves it out of the post hooks; its claims are still taken (in Velero they are items of
//! their own in the pod's item block). Each hook's outcome goes to the log; a failure to the
//! results: an error for `Fail`, a warning for `Continue`.

use k8s_openapi::api::core::v1::Pod;

use super::{Job, Taken};
use crate::backup::sidefiles::{BackupLog, Results};
use crate::hooks::{Phase, PhaseResult, pod};

/// Run the pod's pre hooks (`pre.hook.backup.velero.io/*`, `spec.hooks` pre) before its volumes
/// are snapshotted. `false`: a `Fail` hook failed, so the pod is left out of the archive
/// (recorded in `taken`) and its post hooks must not run.
pub async fn pre_hooks(
    job: &Job<'_>,
    pod: &Pod,
    taken: &mut Taken,
    log: &mut BackupLog,
    results: &mut Results,
) -> bool {
    // Boxed: the exec's websocket future is large, and the backup's future around it
    // overflowed a worker's stack (observed: the server aborted).
    let result = Box::pin(job.hooks.run(Phase::Pre, pod)).await;
    record(&result, taken, log, results);
    let Some(failed) = result.fatal() else {
        return true;
    };
    let message = format!(
        "pod {} not backed up: its pre hook {:?} failed with onError Fail; its post hooks were \
         not run",
        failed.pod, failed.name
    );
    log.line("error", &message);
    results
        .errors
        .add(pod.metadata.namespace.as_deref(), message);
    taken.left_out.insert(pod::key(pod));
    false
}

/// Run the pod's post hooks once its volumes are snapshotted (or failed to be).
pub async fn post_hooks(
    job: &Job<'_>,
    pod: &Pod,
    taken: &mut Taken,
    log: &mut BackupLog,
    results: &mut Results,
) {
    let result = Box::pin(job.hooks.run(Phase::Post, pod)).await;
    record(&result, taken, log, results);
}

fn record(result: &PhaseResult, taken: &mut Taken, log: &mut BackupLog, results: &mut Results) {
    for warning in &result.warnings {
        log.line("warning", warning);
        results.warnings.add_general(warning.clone());
    }
    for r in &result.records {
        taken.hooks.add(r);
        let (level, line) = r.log_line();
        log.line(level, &line);
        let namespace = r.pod.split_once('/').map(|(ns, _)| ns);
        if r.fatal() {
            results.errors.add(namespace, r.summary());
        } else if r.failed() {
            results.warnings.add(namespace, r.summary());
        }
    }
}
