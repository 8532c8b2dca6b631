//! A restore's exec hooks around its items: which created pods have hooks to run
//! ([`pending`]), starting each pod's hooks on a task of its own ([`start`]: a pod that takes
//! minutes to start holds no create slot), and recording what they did ([`record`]).

use serde_json::Value;
use tokio::task::JoinSet;

use super::apply::Applied;
use super::log::RestoreLog;
use crate::backup::sidefiles::Results;
use crate::hooks::restore::{RestoreExec, RestoreRules, exec_hooks};
use crate::hooks::restore_exec::{self, RestoreHookRun};
use crate::hooks::{HookRecord, Tally};

/// A restored pod with exec hooks to run.
pub(super) struct HookedPod {
    namespace: String,
    name: String,
    hooks: Vec<RestoreExec>,
    warnings: Vec<String>,
}

/// The exec hooks of an item the restore just applied: Velero runs them in pods it created.
pub(super) fn pending(
    group_resource: &str,
    applied: &Applied,
    object: Option<&Value>,
    rules: &RestoreRules,
) -> Option<HookedPod> {
    let pod = match (applied, object) {
        (Applied::Created, Some(pod)) if group_resource == "pods" => pod,
        _ => return None,
    };
    let (hooks, warnings) = exec_hooks(pod, rules);
    let field = |k: &str| pod["metadata"][k].as_str().unwrap_or_default().to_owned();
    (!hooks.is_empty() || !warnings.is_empty()).then(|| HookedPod {
        namespace: field("namespace"),
        name: field("name"),
        hooks,
        warnings,
    })
}

/// Start a restored pod's exec hooks, or say why they do not run.
pub(super) fn start(
    pod: HookedPod,
    run: &RestoreHookRun,
    log: &mut RestoreLog,
    results: &mut Results,
    execs: &mut JoinSet<Vec<HookRecord>>,
) {
    for warning in &pod.warnings {
        log.line("warning", warning);
        results.warnings.add(Some(&pod.namespace), warning.clone());
    }
    if pod.hooks.is_empty() {
        return;
    }
    let Some(client) = run.client.clone() else {
        let message = format!(
            "pod {}/{}: its {} exec hooks were not run: this server runs without hooks \
             (enable them with the chart's hooks.enabled)",
            pod.namespace,
            pod.name,
            pod.hooks.len()
        );
        log.line("warning", &message);
        results.warnings.add(Some(&pod.namespace), message);
        return;
    };
    let wait = run.default_wait;
    execs.spawn(async move {
        restore_exec::run(&client, &pod.namespace, &pod.name, &pod.hooks, wait).await
    });
}

/// Each hook's line in the log, failures in the results (an error for `onError: Fail`, a
/// warning for `Continue`), counts in `tally`.
pub(super) fn record(
    records: &[HookRecord],
    log: &mut RestoreLog,
    results: &mut Results,
    tally: &mut Tally,
) {
    for r in records {
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
