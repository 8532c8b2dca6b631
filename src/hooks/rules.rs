//! `spec.hooks` parsed once into plain rules: which pods each named entry applies to (Velero's
//! `ResourceHookSelector`) and the exec hooks it runs. Every problem names its field.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::core::{Selector, SelectorExt as _};

use crate::api::{BackupHooks, ExecHook, GoDuration, HookErrorMode};

/// A hook's timeout when none is given (Velero's `podexec` default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which pods an entry of `spec.hooks.resources` applies to.
#[derive(Clone, Debug, Default)]
pub struct PodSelector {
    included_namespaces: Vec<String>,
    excluded_namespaces: Vec<String>,
    included_resources: Vec<String>,
    excluded_resources: Vec<String>,
    labels: Option<Selector>,
}

impl PodSelector {
    /// Whether a pod in `namespace` with `labels` is selected (Velero's `applicableTo` for the
    /// group-resource `pods`).
    pub fn applies_to(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        let ns_in = self.included_namespaces.is_empty()
            || self.included_namespaces.iter().any(|p| glob(p, namespace));
        let ns_out = self.excluded_namespaces.iter().any(|p| glob(p, namespace));
        let res_in =
            self.included_resources.is_empty() || self.included_resources.iter().any(|r| pods(r));
        let res_out = self.excluded_resources.iter().any(|r| pods(r));
        ns_in
            && !ns_out
            && res_in
            && !res_out
            && self.labels.as_ref().is_none_or(|s| s.matches(labels))
    }
}

/// Whether a resource name in a hook's filter names pods (as Velero resolves it through
/// discovery: plural, singular, kind, short name, `pods.` with the empty core group, or `*`).
fn pods(name: &str) -> bool {
    matches!(
        name.trim().to_ascii_lowercase().as_str(),
        "*" | "pods" | "pod" | "po" | "pods."
    )
}

/// Shell-style `*` matching, as Velero's namespace filters allow.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            // The `*` takes any number of characters; try each split.
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// One exec hook, settled: defaults applied, duration parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// The spec entry's name, or `<from-annotation>`.
    pub name: String,
    pub source: HookSource,
    /// `None`: the pod's first container.
    pub container: Option<String>,
    pub command: Vec<String>,
    pub on_error: HookErrorMode,
    pub timeout: Duration,
}

/// Where a hook came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookSource {
    Annotation,
    Spec,
}

impl HookSource {
    pub fn as_str(self) -> &'static str {
        match self {
            HookSource::Annotation => "annotation",
            HookSource::Spec => "spec",
        }
    }
}

/// The name Velero gives a hook taken from annotations.
pub const FROM_ANNOTATION: &str = "<from-annotation>";

/// One entry of a Backup's `spec.hooks.resources`.
#[derive(Clone, Debug, Default)]
pub struct BackupEntry {
    pub name: String,
    pub selector: PodSelector,
    pub pre: Vec<Exec>,
    pub post: Vec<Exec>,
}

/// A Backup's `spec.hooks`, parsed.
#[derive(Clone, Debug, Default)]
pub struct BackupRules {
    pub entries: Vec<BackupEntry>,
}

impl BackupRules {
    /// Parse `spec.hooks`; every problem is returned, each naming its field.
    pub fn from_spec(hooks: Option<&BackupHooks>) -> Result<BackupRules, Vec<String>> {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for (i, r) in hooks
            .and_then(|h| h.resources.as_ref())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("spec.hooks.resources[{i}]");
            let selector = selector(
                &field,
                [
                    &r.included_namespaces,
                    &r.excluded_namespaces,
                    &r.included_resources,
                    &r.excluded_resources,
                ],
                r.label_selector.as_ref(),
                &mut errors,
            );
            let mut phase = |key: &str, hooks: &Option<Vec<crate::api::BackupResourceHook>>| {
                let mut out = Vec::new();
                for (j, h) in hooks.iter().flatten().enumerate() {
                    // Velero skips an entry without `exec` (the only kind of backup hook).
                    let Some(exec) = &h.exec else { continue };
                    let field = format!("{field}.{key}[{j}].exec");
                    if let Some(e) = exec_hook(&field, &r.name, exec, &mut errors) {
                        out.push(e);
                    }
                }
                out
            };
            let pre = phase("pre", &r.pre);
            let post = phase("post", &r.post);
            entries.push(BackupEntry {
                name: r.name.clone(),
                selector,
                pre,
                post,
            });
        }
        if errors.is_empty() {
            Ok(BackupRules { entries })
        } else {
            Err(errors)
        }
    }

    /// Whether the spec names any hook to run.
    pub fn is_empty(&self) -> bool {
        self.entries
            .iter()
            .all(|e| e.pre.is_empty() && e.post.is_empty())
    }
}

/// A selector from an entry's filters (`[included, excluded]` namespaces, then resources).
pub(super) fn selector(
    field: &str,
    lists: [&Option<Vec<String>>; 4],
    labels: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    errors: &mut Vec<String>,
) -> PodSelector {
    let clean = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter()
            .flatten()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let labels = labels.and_then(|s| match Selector::try_from(s.clone()) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(format!("{field}.labelSelector: {}", e.0));
            None
        }
    });
    PodSelector {
        included_namespaces: clean(lists[0]),
        excluded_namespaces: clean(lists[1]),
        included_resources: clean(lists[2]),
        excluded_resources: clean(lists[3]),
        labels,
    }
}

/// A spec's exec hook settled, or its problems in `errors`.
fn exec_hook(field: &str, name: &str, exec: &ExecHook, errors: &mut Vec<String>) -> Option<Exec> {
    let timeout = timeout(&format!("{field}.timeout"), exec.timeout.as_ref(), errors)?;
    let command = command(&format!("{field}.command"), &exec.command, errors)?;
    Some(Exec {
        name: name.to_owned(),
        source: HookSource::Spec,
        container: exec.container.clone().filter(|c| !c.is_empty()),
        command,
        on_error: exec.on_error.unwrap_or(HookErrorMode::Fail),
        timeout,
    })
}

/// A command that is there: at least one word, the first not empty.
pub(super) fn command(
    field: &str,
    command: &[String],
    errors: &mut Vec<String>,
) -> Option<Vec<String>> {
    if command.first().is_none_or(|c| c.trim().is_empty()) {
        errors.push(format!(
            "{field}: is empty; give the command and its arguments, e.g. [\"/bin/sh\", \"-c\", \"sync\"]"
        ));
        return None;
    }
    Some(command.to_vec())
}

/// A timeout from the spec: unset or zero means the default.
pub(super) fn timeout(
    field: &str,
    value: Option<&GoDuration>,
    errors: &mut Vec<String>,
) -> Option<Duration> {
    match value.map(GoDuration::parse) {
        None => Some(DEFAULT_TIMEOUT),
        Some(Ok(d)) if d.is_zero() => Some(DEFAULT_TIMEOUT),
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            errors.push(format!("{field}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(hooks: serde_json::Value) -> Result<BackupRules, Vec<String>> {
        BackupRules::from_spec(Some(&serde_json::from_value(hooks).unwrap()))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_follow_velero() {
        let r = rules(serde_json::json!({"resources": [
            {"name": "all"},
            {"name": "db-ns", "includedNamespaces": ["db-*"], "excludedNamespaces": ["db-old"]},
            {"name": "pods-only", "includedResources": ["pods"]},
            {"name": "not-pods", "includedResources": ["deployments.apps"]},
            {"name": "pods-out", "excludedResources": ["po"]},
            {"name": "pg", "labelSelector": {"matchLabels": {"app": "pg"}}},
        ]}))
        .unwrap();
        type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let table: &[Row] = &[
            (
                "db-1",
                &[("app", "pg")],
                &["all", "db-ns", "pods-only", "pg"],
            ),
            ("db-old", &[], &["all", "pods-only"]),
            ("web", &[("app", "web")], &["all", "pods-only"]),
        ];
        for (ns, l, want) in table {
            let got: Vec<&str> = r
                .entries
                .iter()
                .filter(|e| e.selector.applies_to(ns, &labels(l)))
                .map(|e| e.name.as_str())
                .collect();
            assert_eq!(&got, want, "namespace {ns}");
        }
    }

    #[test]
    fn defaults_are_velero_s() {
        let r = rules(serde_json::json!({"resources": [{"name": "h",
            "pre": [{"exec": {"command": ["sync"]}}, {"exec": null}],
            "post": [{"exec": {"command": ["true"], "onError": "Continue", "timeout": "0s", "container": ""}}]}]}))
        .unwrap();
        let e = &r.entries[0];
        assert_eq!(e.pre.len(), 1, "an entry without exec is skipped");
        assert_eq!(e.pre[0].on_error, HookErrorMode::Fail);
        assert_eq!(e.pre[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(e.post[0].on_error, HookErrorMode::Continue);
        assert_eq!(e.post[0].timeout, DEFAULT_TIMEOUT, "0s means the default");
        assert_eq!(e.post[0].container, None, "empty means the first container");
        assert!(!r.is_empty());
        assert!(
            rules(serde_json::json!({"resources": [{"name": "x"}]}))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn every_problem_names_its_field() {
        let errors = rules(serde_json::json!({"resources": [{"name": "h",
            "labelSelector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]},
            "pre": [{"exec": {"command": [], "timeout": "soon"}}],
            "post": [{"exec": {"command": [""]}}]}]}))
        .unwrap_err();
        let fields: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "spec.hooks.resources[0].labelSelector",
                "spec.hooks.resources[0].pre[0].exec.timeout",
                "spec.hooks.resources[0].post[0].exec.command",
            ]
        );
    }

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("db", "db", true),
            ("db", "db2", false),
            ("db-*", "db-1", true),
            ("*-prod", "shop-prod", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }
}
