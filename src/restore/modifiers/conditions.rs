//! When a resource modifier rule applies: Velero's `Conditions` and its `match`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt as _};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::patch::velero_value;
use crate::backup::filter::glob_match;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawConditions {
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    group_resource: String,
    #[serde(default)]
    resource_name_regex: String,
    #[serde(default)]
    label_selector: Option<LabelSelector>,
    #[serde(default)]
    matches: Vec<RawMatch>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    path: String,
    #[serde(default)]
    value: String,
}

/// A rule's conditions, checked: every one must hold.
#[derive(Clone, Debug)]
pub struct Conditions {
    /// Namespace globs; empty means every namespace. Not judged for cluster-scoped objects.
    namespaces: Vec<String>,
    /// A glob over `resource.group` in which `*` stops at a dot and `**` does not (Velero
    /// compiles it with gobwas/glob and `.` as the separator).
    group_resource: String,
    name: Option<Regex>,
    selector: Option<Selector>,
    /// JSON pointer → the value it must hold (Velero's `test` operations).
    matches: Vec<(String, Value)>,
}

impl Conditions {
    pub(super) fn check(raw: RawConditions, at: &str) -> Result<Conditions, Vec<String>> {
        let mut errors = Vec::new();
        if raw.group_resource.trim().is_empty() {
            errors.push(format!(
                "{at}.groupResource: cannot be empty; name the resource (`deployments.apps`, \
                 `pods`, or a glob such as `*.apps`)"
            ));
        }
        let name = (!raw.resource_name_regex.is_empty())
            .then(|| Regex::new(&raw.resource_name_regex))
            .transpose()
            .map_err(|e| errors.push(format!("{at}.resourceNameRegex: {e}")))
            .ok()
            .flatten();
        let selector = raw
            .label_selector
            .map(Selector::try_from)
            .transpose()
            .map_err(|e| errors.push(format!("{at}.labelSelector: {}", e.0)))
            .ok()
            .flatten();
        let mut matches = Vec::new();
        for (i, m) in raw.matches.into_iter().enumerate() {
            if m.path.is_empty() {
                errors.push(format!(
                    "{at}.matches[{i}].path: path is required for match rule"
                ));
            } else if !m.path.starts_with('/') {
                errors.push(format!(
                    "{at}.matches[{i}].path: {:?} is not a JSON pointer; start it with `/` \
                     (e.g. /spec/replicas)",
                    m.path
                ));
            } else {
                matches.push((m.path, velero_value(&m.value)));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Conditions {
            namespaces: raw.namespaces,
            group_resource: raw.group_resource.trim().to_owned(),
            name,
            selector,
            matches,
        })
    }

    /// Whether `object` of `group_resource`, backed up in `namespace`, meets every condition.
    pub fn matches(
        &self,
        object: &Value,
        group_resource: &str,
        namespace: Option<&str>,
    ) -> Result<bool, String> {
        if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
            if !self.namespaces.is_empty() && !self.namespaces.iter().any(|p| glob_match(p, ns)) {
                return Ok(false);
            }
        }
        if !dotted_glob(&self.group_resource, group_resource) {
            return Ok(false);
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if self.name.as_ref().is_some_and(|r| !r.is_match(name)) {
            return Ok(false);
        }
        if let Some(selector) = &self.selector {
            let labels: BTreeMap<String, String> = object
                .pointer("/metadata/labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default();
            if !selector.matches(&labels) {
                return Ok(false);
            }
        }
        // A pointer that names nothing is a mismatch, not an error (Velero: ErrMissing).
        Ok(self
            .matches
            .iter()
            .all(|(path, want)| object.pointer(path) == Some(want)))
    }
}

/// gobwas/glob with `.` as the separator: `*` and `?` never cross a dot, `**` crosses
/// anything; `{a,b}` alternatives. (Character classes are not supported: `[` is literal.)
pub fn dotted_glob(pattern: &str, text: &str) -> bool {
    if let Some(open) = pattern.find('{') {
        if let Some(close) = pattern[open..].find('}').map(|c| c + open) {
            let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
            return pattern[open + 1..close]
                .split(',')
                .any(|alt| dotted_glob(&format!("{head}{alt}{tail}"), text));
        }
    }
    glob_from(pattern.as_bytes(), text.as_bytes())
}

fn glob_from(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = &p[2..];
            (0..=t.len()).any(|i| glob_from(rest, &t[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=t.len() {
                if glob_from(rest, &t[i..]) {
                    return true;
                }
                if t.get(i) == Some(&b'.') {
                    break;
                }
            }
            false
        }
        Some(b'?') => t.first().is_some_and(|c| *c != b'.') && glob_from(&p[1..], &t[1..]),
        Some(c) => t.first() == Some(c) && glob_from(&p[1..], &t[1..]),
    }
}
