//! A pod's backup hooks around its backup: pre hooks before the pod (and, once volumes are
//! backed up, its volumes) is taken, post hooks after, as Velero's `backupItemBlock` runs them.
//! A pre hook failing with `onError: Fail` keeps the pod out of the backup (an error naming
//! the hook) and its post hooks do not run; a post hook runs also when the pod's own backup
//! failed. Each hook's outcome goes to the log, a failure to the results.

use k8s_openapi::api::core::v1::Pod;
use kube::api::DynamicObject;

use super::sidefiles::{BackupLog, Results};
use crate::hooks::{BackupHooks, Phase, PhaseResult, Tally};

/// The pod to run hooks on, when the server runs hooks and `item` is a pod.
pub(super) fn hooked_pod(
    hooks: &BackupHooks,
    group: &str,
    plural: &str,
    item: &DynamicObject,
) -> Option<Pod> {
    if hooks.client.is_none() || !group.is_empty() || plural != "pods" {
        return None;
    }
    serde_json::to_value(item)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// Run `phase`'s hooks on `pod` and record them. For `pre`, `false` means the pod must not be
/// backed up.
pub(super) async fn run_phase(
    hooks: &BackupHooks,
    phase: Phase,
    pod: &Pod,
    tally: &mut Tally,
    log: &mut BackupLog,
    results: &mut Results,
) -> bool {
    let result = hooks.run(phase, pod).await;
    record(&result, tally, log, results);
    match (phase, result.fatal()) {
        (Phase::Pre, Some(failed)) => {
            let message = format!(
                "pod {} not backed up: its pre hook {:?} failed with onError Fail; its post \
                 hooks were not run",
                failed.pod, failed.name
            );
            log.line("error", &message);
            results
                .errors
                .add(pod.metadata.namespace.as_deref(), message);
            false
        }
        _ => true,
    }
}

fn record(result: &PhaseResult, tally: &mut Tally, log: &mut BackupLog, results: &mut Results) {
    for warning in &result.warnings {
        log.line("warning", warning);
        results.warnings.add_general(warning.clone());
    }
    for r in &result.records {
        tally.add(r);
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
