//! Velero's scoped resource filters (`includedClusterScopedResources`,
//! `excludedClusterScopedResources`, `includedNamespaceScopedResources`,
//! `excludedNamespaceScopedResources`; `pkg/util/collections/includes_excludes.go`'s
//! `ScopeIncludesExcludes`): each scope has its own includes and excludes, entries named as
//! discovery names resources or as globs over `resource.group`.

use crate::backup::resource::{ResourceDesc, glob_match};

/// Velero's scoped resource filters (`ScopeIncludesExcludes`).
#[derive(Clone, Debug, Default)]
pub(super) struct Scoped {
    pub namespaced_includes: Vec<String>,
    pub namespaced_excludes: Vec<String>,
    pub cluster_includes: Vec<String>,
    pub cluster_excludes: Vec<String>,
}

/// Velero's `ValidateScopedIncludesExcludes`, for one scope's pair of lists.
pub(super) fn check_scoped(field: &str, includes: &[String], excludes: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    let star = |l: &[String]| l.iter().any(|i| i == "*");
    if includes.len() > 1 && star(includes) {
        errors.push(format!(
            "spec.included{field}: must either contain '*' only, or a non-empty list of items"
        ));
    }
    if excludes.len() > 1 && star(excludes) {
        errors.push(format!(
            "spec.excluded{field}: must either contain '*' only, or a non-empty list of items"
        ));
    }
    if !includes.is_empty() && star(excludes) {
        errors.push(format!(
            "spec.excluded{field}: when exclude is '*', include cannot have value"
        ));
    }
    for item in excludes.iter().filter(|e| includes.contains(e)) {
        errors.push(format!(
            "spec.excluded{field}: cannot contain an item in the includes list: {item}"
        ));
    }
    errors
}

impl Scoped {
    /// `Plan::resources` with Velero's scoped filters (`ScopeIncludesExcludes.ShouldInclude`):
    /// a namespaced resource unless excluded, when included (empty or `*` includes all); a
    /// cluster-scoped one unless excluded, when included, or, with no cluster-scoped filter at
    /// all, when the backup takes every namespace and every namespaced resource (a full
    /// backup); Namespaces always.
    /// `every_namespace`: the backup takes every namespace.
    pub(super) fn resources<'a>(
        &self,
        every_namespace: bool,
        all: &'a [ResourceDesc],
    ) -> (Vec<&'a ResourceDesc>, Vec<String>) {
        let scoped = self;
        let full = scoped.cluster_includes.is_empty()
            && scoped.cluster_excludes.is_empty()
            && every_namespace
            && scoped.namespaced_excludes.is_empty()
            && everything(&scoped.namespaced_includes);
        let mut chosen: Vec<&ResourceDesc> = all
            .iter()
            .filter(|r| {
                if r.namespaced {
                    scoped_takes(
                        &scoped.namespaced_includes,
                        &scoped.namespaced_excludes,
                        r,
                        all,
                    )
                } else if matches_any(&scoped.cluster_excludes, r, all) {
                    false
                } else {
                    full || r.is_namespaces() || matches_any(&scoped.cluster_includes, r, all)
                }
            })
            .collect();
        chosen.sort_by_key(|r| r.gvk_key());
        // An entry naming no resource of its scope is reported, as the old filters' are.
        let mut unresolved = Vec::new();
        for (entries, namespaced) in [
            (&scoped.namespaced_includes, true),
            (&scoped.namespaced_excludes, true),
            (&scoped.cluster_includes, false),
            (&scoped.cluster_excludes, false),
        ] {
            for entry in entries.iter().filter(|e| e.as_str() != "*") {
                if !all
                    .iter()
                    .any(|r| r.namespaced == namespaced && scoped_match(entry, r, all))
                {
                    unresolved.push(entry.clone());
                }
            }
        }
        (chosen, unresolved)
    }
}

/// Empty, or only `*`.
fn everything(includes: &[String]) -> bool {
    includes.is_empty() || includes.iter().all(|i| i == "*")
}

/// Whether a scoped filter entry names `resource`: resolved as discovery resolves a name (the
/// first resource, core group first, that the plural, `plural.group`, kind or short name
/// names: Velero's `ResourceFor`), else as a glob over the group-resource.
fn scoped_match(entry: &str, resource: &ResourceDesc, all: &[ResourceDesc]) -> bool {
    if entry == "*" {
        return true;
    }
    match all.iter().find(|r| r.named_by(entry)) {
        Some(named) => named.group_resource() == resource.group_resource(),
        None => glob_match(entry, &resource.group_resource()),
    }
}

pub(super) fn matches_any(
    entries: &[String],
    resource: &ResourceDesc,
    all: &[ResourceDesc],
) -> bool {
    entries.iter().any(|e| scoped_match(e, resource, all))
}

/// One scope's includes and excludes.
pub(super) fn scoped_takes(
    includes: &[String],
    excludes: &[String],
    resource: &ResourceDesc,
    all: &[ResourceDesc],
) -> bool {
    !matches_any(excludes, resource, all)
        && (includes.is_empty() || matches_any(includes, resource, all))
}
