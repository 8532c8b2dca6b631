//! Backup hooks: which exec hooks run on a pod in each phase ([`planned`], pure), and running
//! them ([`BackupHooks::run`]) as Velero's `DefaultItemHookHandler.HandleHooks` does: the pod's
//! annotations, when they give a command for the phase, replace the spec's hooks for it; the
//! spec's hooks run in order, and after a failed `onError: Fail` hook the rest are not run.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::annotations::{Phase, backup_hook};
use super::exec::exec;
use super::outcome::{Ended, HookRecord};
use super::pod;
use super::rules::{BackupRules, Exec};

/// The hooks to run on a pod in `phase`, in order, and warnings about annotations ignored.
pub fn planned(
    rules: &BackupRules,
    phase: Phase,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> (Vec<Exec>, Vec<String>) {
    let (from_annotations, warnings) = backup_hook(annotations, phase);
    if let Some(hook) = from_annotations {
        return (vec![hook], warnings);
    }
    let hooks = rules
        .entries
        .iter()
        .filter(|e| e.selector.applies_to(namespace, labels))
        .flat_map(|e| match phase {
            Phase::Pre => e.pre.iter(),
            Phase::Post => e.post.iter(),
        })
        .cloned()
        .collect();
    (hooks, warnings)
}

/// What one phase on one pod came to.
#[derive(Debug, Default)]
pub struct PhaseResult {
    pub records: Vec<HookRecord>,
    /// Annotation values ignored (a bad timeout, ...).
    pub warnings: Vec<String>,
}

impl PhaseResult {
    /// The first `onError: Fail` hook that failed: for a pre hook, the pod is not backed up.
    pub fn fatal(&self) -> Option<&HookRecord> {
        self.records.iter().find(|r| r.fatal())
    }
}

/// A backup's hooks and the client their execs go through. `client` is `None` when the
/// server runs without hooks (`--hooks-enabled=false`): then nothing runs, and the backup's
/// validation has already refused `spec.hooks` (annotations are reported as not run).
#[derive(Clone)]
pub struct BackupHooks {
    pub rules: BackupRules,
    pub client: Option<kube::Client>,
}

impl BackupHooks {
    /// Run `phase`'s hooks on `pod` (as the backup listed it).
    pub async fn run(&self, phase: Phase, pod: &Pod) -> PhaseResult {
        let Some(client) = &self.client else {
            return PhaseResult::default();
        };
        let empty = BTreeMap::new();
        let meta = &pod.metadata;
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        let (hooks, warnings) = planned(
            &self.rules,
            phase,
            namespace,
            meta.labels.as_ref().unwrap_or(&empty),
            meta.annotations.as_ref().unwrap_or(&empty),
        );
        let mut result = PhaseResult {
            records: Vec::new(),
            warnings,
        };
        let key = pod::key(pod);
        let name = meta.name.as_deref().unwrap_or_default();
        for hook in &hooks {
            let phase_name = phase.as_str();
            let skip = |container: &str, why: String| {
                HookRecord::new(&key, hook, phase_name, container, Ended::Skipped(why))
            };
            let wanted = hook.container.as_deref();
            if let Some(failed) = result.fatal() {
                let why = format!(
                    "the earlier hook {:?} failed with onError Fail",
                    failed.name
                );
                result.records.push(skip(wanted.unwrap_or(""), why));
                continue;
            }
            if let Some(p) = pod::finished(pod) {
                result
                    .records
                    .push(skip(wanted.unwrap_or(""), format!("the pod is {p}")));
                continue;
            }
            let record = match pod::container(pod, wanted) {
                Err(why) => HookRecord::new(
                    &key,
                    hook,
                    phase_name,
                    wanted.unwrap_or(""),
                    Ended::Failed(why, None),
                ),
                Ok(c) => {
                    // Boxed: the websocket's future is large (see `volumes::pod_step`).
                    let ran = Box::pin(exec(
                        client,
                        namespace,
                        name,
                        &c,
                        &hook.command,
                        hook.timeout,
                    ))
                    .await;
                    HookRecord::ran(&key, hook, phase_name, &c, ran)
                }
            };
            result.records.push(record);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::HookErrorMode;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rules() -> BackupRules {
        BackupRules::from_spec(Some(
            &serde_json::from_value(serde_json::json!({"resources": [
                {"name": "a", "includedNamespaces": ["db"],
                 "pre": [{"exec": {"command": ["a1"]}}, {"exec": {"command": ["a2"]}}],
                 "post": [{"exec": {"command": ["a3"]}}]},
                {"name": "b", "labelSelector": {"matchLabels": {"tier": "x"}},
                 "pre": [{"exec": {"command": ["b1"], "onError": "Continue"}}]},
            ]}))
            .unwrap(),
        ))
        .unwrap()
    }

    #[test]
    fn precedence_and_selection() {
        let r = rules();
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            Phase,
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            ("db", &[], &[], Phase::Pre, &["a1", "a2"]),
            ("db", &[("tier", "x")], &[], Phase::Pre, &["a1", "a2", "b1"]),
            ("db", &[], &[], Phase::Post, &["a3"]),
            ("web", &[], &[], Phase::Pre, &[]),
            ("web", &[("tier", "x")], &[], Phase::Pre, &["b1"]),
            // An annotation command for the phase replaces every spec hook of that phase only.
            (
                "db",
                &[("tier", "x")],
                &[("pre.hook.backup.velero.io/command", "ann")],
                Phase::Pre,
                &["ann"],
            ),
            (
                "db",
                &[],
                &[("pre.hook.backup.velero.io/command", "ann")],
                Phase::Post,
                &["a3"],
            ),
            (
                "web",
                &[],
                &[("post.hook.backup.velero.io/command", "[\"p\",\"q\"]")],
                Phase::Post,
                &["p"],
            ),
        ];
        for (ns, labels, annotations, phase, want) in cases {
            let (hooks, _) = planned(&r, *phase, ns, &map(labels), &map(annotations));
            let got: Vec<&str> = hooks.iter().map(|h| h.command[0].as_str()).collect();
            assert_eq!(&got, want, "{ns} {labels:?} {annotations:?} {phase:?}");
        }
        let (hooks, _) = planned(&r, Phase::Pre, "web", &map(&[("tier", "x")]), &map(&[]));
        assert_eq!(hooks[0].on_error, HookErrorMode::Continue);
        assert_eq!(hooks[0].name, "b");
    }

    #[tokio::test]
    async fn without_a_client_nothing_runs() {
        let hooks = BackupHooks {
            rules: rules(),
            client: None,
        };
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "db", "name": "p"},
            "spec": {"containers": [{"name": "c"}]}}))
        .unwrap();
        assert!(hooks.run(Phase::Pre, &pod).await.records.is_empty());
    }
}
