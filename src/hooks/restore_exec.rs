//! Running a restored pod's exec hooks: wait until the hook's container runs (or is Ready,
//! when asked), within the hook's wait timeout, then exec, as Velero's
//! `WaitExecHookHandler` does. The restore spawns one of these per restored pod and waits for
//! all of them at its end, so no create slot is held while a pod starts.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::time::Instant;

use super::exec::exec;
use super::outcome::{Ended, HookRecord};
use super::restore::RestoreExec;

/// The phase name restore exec hooks are logged under.
pub const PHASE: &str = "post-restore";
/// How often the pod is read while waiting for its container.
const POLL: Duration = Duration::from_secs(1);

/// Whether `container` of `pod` can take the hook: running, and Ready when `ready` is asked.
pub fn container_up(pod: &Pod, container: &str, ready: bool) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.name == container)
        .is_some_and(|c| {
            c.state.as_ref().is_some_and(|s| s.running.is_some()) && (!ready || c.ready)
        })
}

/// Run `hooks` in `namespace/name`, in order. `default_wait` bounds a hook that sets no wait
/// timeout (Velero bounds them by its resource timeout).
pub async fn run(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    hooks: &[RestoreExec],
    default_wait: Duration,
) -> Vec<HookRecord> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let key = format!("{namespace}/{name}");
    let mut records: Vec<HookRecord> = Vec::new();
    for hook in hooks {
        let container = hook.exec.container.clone().unwrap_or_default();
        let record = |ended| HookRecord::new(&key, &hook.exec, PHASE, &container, ended);
        if let Some(failed) = records.iter().find(|r| r.fatal()) {
            let why = format!(
                "the earlier hook {:?} failed with onError Fail",
                failed.name
            );
            records.push(record(Ended::Skipped(why)));
            continue;
        }
        let wait = if hook.wait_timeout.is_zero() {
            default_wait
        } else {
            hook.wait_timeout
        };
        let deadline = Instant::now() + wait;
        let want = if hook.wait_for_ready {
            "Ready"
        } else {
            "running"
        };
        let up = loop {
            match pods.get_opt(name).await {
                Ok(Some(pod)) if container_up(&pod, &container, hook.wait_for_ready) => {
                    break Ok(());
                }
                Ok(Some(_)) => {}
                Ok(None) => break Err("the pod was deleted before the hook ran".to_owned()),
                // A read that fails is tried again until the wait ends.
                Err(e) => tracing::debug!(pod = %key, error = %e, "reading a restored pod failed"),
            }
            if Instant::now() >= deadline {
                break Err(format!(
                    "container {container:?} was not {want} within {}s",
                    wait.as_secs_f64()
                ));
            }
            tokio::time::sleep(POLL).await;
        };
        let ended = match up {
            Err(why) => Ended::Failed(why, None),
            Ok(()) => {
                // Boxed: the websocket's future is large (see `backup::volumes::pod_step`).
                let ran = Box::pin(exec(
                    client,
                    namespace,
                    name,
                    &container,
                    &hook.exec.command,
                    hook.exec.timeout,
                ))
                .await;
                HookRecord::ran(&key, &hook.exec, PHASE, &container, ran).ended
            }
        };
        records.push(record(ended));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_or_ready() {
        let pod = |state: serde_json::Value, ready: bool| -> Pod {
            serde_json::from_value(serde_json::json!({"status": {"containerStatuses": [
                {"name": "main", "ready": ready, "restartCount": 0, "image": "i", "imageID": "",
                 "state": state}]}}))
            .unwrap()
        };
        let running = serde_json::json!({"running": {}});
        let waiting = serde_json::json!({"waiting": {"reason": "PodInitializing"}});
        for (state, ready, ask_ready, want) in [
            (&running, false, false, true),
            (&running, false, true, false),
            (&running, true, true, true),
            (&waiting, false, false, false),
        ] {
            assert_eq!(
                container_up(&pod(state.clone(), ready), "main", ask_ready),
                want
            );
        }
        assert!(!container_up(&pod(running.clone(), true), "other", false));
    }
}

/// A restore's hooks: its rules, the client their execs go through (`None` when the server
/// runs without hooks: exec hooks are then reported as not run), and the longest wait for a
/// container when a hook sets none.
#[derive(Clone, Default)]
pub struct RestoreHookRun {
    pub rules: super::restore::RestoreRules,
    pub client: Option<kube::Client>,
    pub default_wait: Duration,
}

/// Velero's `--resource-timeout` default, which bounds a restore hook's wait for its pod.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);
