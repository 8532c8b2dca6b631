//! Restore hooks, decided from plain data: a Restore's `spec.hooks` parsed once
//! ([`RestoreRules`]), the init containers a restored pod gets ([`add_init_containers`],
//! Velero's `InitContainerRestoreHookHandler`) and the exec hooks it runs once restored
//! ([`exec_hooks`], Velero's `GroupRestoreExecHooks`). Pod annotations win over the spec, as in
//! Velero: an init-container annotation replaces the spec's init hooks, an exec annotation the
//! spec's exec hooks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::annotations::{restore_exec_hook, restore_init_container};
use super::rules::{Exec, HookSource, PodSelector, command, selector, timeout};
use crate::api::{HookErrorMode, RestoreHooks};

/// Velero's file-system restore init container, which stays first.
pub const RESTORE_WAIT: &str = "restore-wait";

/// An exec hook of a restored pod, with its wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreExec {
    pub exec: Exec,
    /// How long to wait for the container; zero: as long as the restore allows.
    pub wait_timeout: Duration,
    pub wait_for_ready: bool,
}

/// One entry of `spec.hooks.resources`.
#[derive(Clone, Debug, Default)]
pub struct RestoreEntry {
    pub name: String,
    pub selector: PodSelector,
    /// Containers to add, each already checked for a name, an image and a command.
    pub init_containers: Vec<Value>,
    pub execs: Vec<RestoreExec>,
}

/// A Restore's `spec.hooks`, parsed.
#[derive(Clone, Debug, Default)]
pub struct RestoreRules {
    pub entries: Vec<RestoreEntry>,
}

impl RestoreRules {
    /// Parse `spec.hooks`; every problem is returned, each naming its field.
    pub fn from_spec(hooks: Option<&RestoreHooks>) -> Result<RestoreRules, Vec<String>> {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        let resources = hooks.and_then(|h| h.resources.as_ref());
        for (i, r) in resources.into_iter().flatten().enumerate() {
            let field = format!("spec.hooks.resources[{i}]");
            let lists = [
                &r.included_namespaces,
                &r.excluded_namespaces,
                &r.included_resources,
                &r.excluded_resources,
            ];
            let mut entry = RestoreEntry {
                name: r.name.clone(),
                selector: selector(&field, lists, r.label_selector.as_ref(), &mut errors),
                ..Default::default()
            };
            for (j, hook) in r.post_hooks.iter().flatten().enumerate() {
                let field = format!("{field}.postHooks[{j}]");
                for (k, c) in hook
                    .init
                    .iter()
                    .flat_map(|i| i.init_containers.iter().flatten())
                    .enumerate()
                {
                    match init_container(c) {
                        Ok(()) => entry.init_containers.push(c.clone()),
                        Err(why) => errors.push(format!("{field}.init.initContainers[{k}]: {why}")),
                    }
                }
                let Some(exec) = &hook.exec else { continue };
                let field = format!("{field}.exec");
                let run = timeout(
                    &format!("{field}.execTimeout"),
                    exec.exec_timeout.as_ref(),
                    &mut errors,
                );
                let wait = match exec.wait_timeout.as_ref().map(|w| w.parse()) {
                    None => Some(Duration::ZERO),
                    Some(Ok(d)) => Some(d),
                    Some(Err(e)) => {
                        errors.push(format!("{field}.waitTimeout: {e}"));
                        None
                    }
                };
                let cmd = command(&format!("{field}.command"), &exec.command, &mut errors);
                if let (Some(run), Some(wait), Some(cmd)) = (run, wait, cmd) {
                    entry.execs.push(RestoreExec {
                        exec: Exec {
                            name: r.name.clone(),
                            source: HookSource::Spec,
                            container: exec.container.clone().filter(|c| !c.is_empty()),
                            command: cmd,
                            on_error: exec.on_error.unwrap_or(HookErrorMode::Fail),
                            timeout: run,
                        },
                        wait_timeout: wait,
                        wait_for_ready: exec.wait_for_ready == Some(true),
                    });
                }
            }
            entries.push(entry);
        }
        if errors.is_empty() {
            Ok(RestoreRules { entries })
        } else {
            Err(errors)
        }
    }

    /// Whether any entry runs a command in a pod (what needs the exec right).
    pub fn has_exec(&self) -> bool {
        self.entries.iter().any(|e| !e.execs.is_empty())
    }
}

/// Velero's `ValidateContainer`: a name, an image and a command.
fn init_container(c: &Value) -> Result<(), String> {
    let has = |key: &str| match &c[key] {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    if !c.is_object() {
        return Err("is not a container object".into());
    }
    let missing: Vec<&str> = ["name", "image", "command"]
        .into_iter()
        .filter(|k| !has(k))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "has no {}; an init container hook needs a name, an image and a command",
            missing.join(", ")
        ))
    }
}

/// The pod's restored namespace, labels and annotations.
fn meta(pod: &Value) -> (String, BTreeMap<String, String>, BTreeMap<String, String>) {
    let map = |v: &Value| serde_json::from_value(v.clone()).unwrap_or_default();
    (
        pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        map(&pod["metadata"]["labels"]),
        map(&pod["metadata"]["annotations"]),
    )
}

/// Put the init hooks' containers in front of a restored pod's own (after Velero's
/// `restore-wait`, which stays first). `pod` is the object about to be created, its namespace
/// already mapped. Returns how many were added.
pub fn add_init_containers(pod: &mut Value, rules: &RestoreRules) -> usize {
    let (namespace, labels, annotations) = meta(pod);
    let key = format!(
        "{namespace}/{}",
        pod["metadata"]["name"].as_str().unwrap_or_default()
    );
    let hooks: Vec<Value> = match restore_init_container(&key, &annotations) {
        Some(c) => vec![c],
        None => rules
            .entries
            .iter()
            .filter(|e| e.selector.applies_to(&namespace, &labels))
            .flat_map(|e| e.init_containers.iter().cloned())
            .collect(),
    };
    if hooks.is_empty() {
        return 0;
    }
    let added = hooks.len();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return 0;
    };
    let mut existing: Vec<Value> = match spec.remove("initContainers") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    if existing.first().is_some_and(|c| c["name"] == RESTORE_WAIT) {
        out.push(existing.remove(0));
    }
    out.extend(hooks);
    out.extend(existing);
    spec.insert("initContainers".into(), Value::Array(out));
    added
}

/// The exec hooks to run in a restored pod, in order, each with its container settled (the
/// first when none is named), and warnings about annotation values ignored.
pub fn exec_hooks(pod: &Value, rules: &RestoreRules) -> (Vec<RestoreExec>, Vec<String>) {
    let (namespace, labels, annotations) = meta(pod);
    let first = pod["spec"]["containers"][0]["name"]
        .as_str()
        .map(str::to_owned);
    let settle = |mut h: RestoreExec| {
        if h.exec.container.is_none() {
            h.exec.container = first.clone();
        }
        h
    };
    let (from_annotation, warnings) = restore_exec_hook(&annotations);
    if let Some(a) = from_annotation {
        let hook = RestoreExec {
            exec: a.exec,
            wait_timeout: a.wait_timeout,
            wait_for_ready: a.wait_for_ready,
        };
        return (vec![settle(hook)], warnings);
    }
    let hooks = rules
        .entries
        .iter()
        .filter(|e| e.selector.applies_to(&namespace, &labels))
        .flat_map(|e| e.execs.iter().cloned())
        .map(settle)
        .collect();
    (hooks, warnings)
}

#[cfg(test)]
mod tests;
