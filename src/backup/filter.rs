//! Which objects a backup takes: namespaces (with `*` wildcards), resources (by plural,
//! `resource.group`, kind or short name, resolved against discovery), cluster-scoped
//! resources, and label selectors. Plain data in, plain answers out.

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Selector, SelectorExt as _};

use super::not_done::Asks;
use crate::api::BackupSpec;
use scoped::{Scoped, check_scoped, matches_any, scoped_takes};

pub use super::resource::{ResourceDesc, glob_match};

/// A backup's filters, checked once; [`Plan::resources`] then picks what to list.
#[derive(Clone, Debug)]
pub struct Plan {
    included_namespaces: Vec<String>,
    excluded_namespaces: Vec<String>,
    included_resources: Vec<String>,
    excluded_resources: Vec<String>,
    include_cluster: Option<bool>,
    /// Velero's scoped filters, when the spec uses them instead of the three above.
    scoped: Option<Scoped>,
    selectors: Vec<Selector>,
    asks: Asks,
    /// `orderedResources`: resource → the `namespace/name`s (or names) to take first.
    ordered: BTreeMap<String, Vec<String>>,
}

/// Velero's label that keeps an object out of every backup, whatever the filters say.
pub const EXCLUDE_LABEL: &str = "velero.io/exclude-from-backup";

/// Whether an object's labels keep it out of backups (`velero.io/exclude-from-backup=true`,
/// exactly as Velero compares it).
pub fn excluded_by_label(labels: &BTreeMap<String, String>) -> bool {
    labels.get(EXCLUDE_LABEL).is_some_and(|v| v == "true")
}

impl Plan {
    /// Check the spec's filters. Every problem is returned, each naming its field.
    pub fn from_spec(spec: &BackupSpec) -> Result<Plan, Vec<String>> {
        let mut errors = Vec::new();
        let list = |v: &Option<Vec<String>>| -> Vec<String> {
            v.iter()
                .flatten()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let scoped = Scoped {
            namespaced_includes: list(&spec.included_namespace_scoped_resources),
            namespaced_excludes: list(&spec.excluded_namespace_scoped_resources),
            cluster_includes: list(&spec.included_cluster_scoped_resources),
            cluster_excludes: list(&spec.excluded_cluster_scoped_resources),
        };
        let uses_scoped = !(scoped.namespaced_includes.is_empty()
            && scoped.namespaced_excludes.is_empty()
            && scoped.cluster_includes.is_empty()
            && scoped.cluster_excludes.is_empty());
        let uses_old = !list(&spec.included_resources).is_empty()
            || !list(&spec.excluded_resources).is_empty()
            || spec.include_cluster_resources.is_some();
        if uses_scoped && uses_old {
            // Velero's rule (backup_controller.go): the two kinds of filters cannot be mixed.
            errors.push(
                "spec.includedResources, spec.excludedResources and \
                 spec.includeClusterResources are the old filters; \
                 spec.includedClusterScopedResources, spec.excludedClusterScopedResources, \
                 spec.includedNamespaceScopedResources and \
                 spec.excludedNamespaceScopedResources are the new ones: they cannot be used \
                 together; keep one kind"
                    .to_owned(),
            );
        }
        if uses_scoped {
            errors.extend(check_scoped(
                "ClusterScopedResources",
                &scoped.cluster_includes,
                &scoped.cluster_excludes,
            ));
            errors.extend(check_scoped(
                "NamespaceScopedResources",
                &scoped.namespaced_includes,
                &scoped.namespaced_excludes,
            ));
        }
        let excluded_resources = list(&spec.excluded_resources);
        if excluded_resources.iter().any(|r| r == "*") {
            errors.push(
                "spec.excludedResources: \"*\" would exclude every resource; list the resources \
                 to leave out"
                    .to_owned(),
            );
        }
        if spec.label_selector.is_some() && spec.or_label_selectors.is_some() {
            errors.push(
                "spec.orLabelSelectors: cannot be combined with spec.labelSelector; give only one"
                    .to_owned(),
            );
        }
        let mut selectors = Vec::new();
        if let Some(s) = &spec.label_selector {
            match Selector::try_from(s.clone()) {
                Ok(s) => selectors.push(s),
                Err(e) => errors.push(format!("spec.labelSelector: {}", e.0)),
            }
        }
        for (i, s) in spec.or_label_selectors.iter().flatten().enumerate() {
            match Selector::try_from(s.clone()) {
                Ok(s) => selectors.push(s),
                Err(e) => errors.push(format!("spec.orLabelSelectors[{i}]: {}", e.0)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Plan {
            included_namespaces: list(&spec.included_namespaces),
            excluded_namespaces: list(&spec.excluded_namespaces),
            included_resources: list(&spec.included_resources),
            excluded_resources,
            include_cluster: spec.include_cluster_resources,
            scoped: uses_scoped.then_some(scoped),
            selectors,
            asks: Asks::from_spec(spec),
            ordered: spec
                .ordered_resources
                .iter()
                .flatten()
                .map(|(resource, names)| {
                    let names = names
                        .split(',')
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty())
                        .collect();
                    (resource.trim().to_ascii_lowercase(), names)
                })
                .collect(),
        })
    }

    /// What the spec asks for that veloxide does not do yet (see `backup::not_done`).
    pub fn asks(&self) -> &Asks {
        &self.asks
    }

    fn all_namespaces(&self) -> bool {
        self.included_namespaces.is_empty() || self.included_namespaces.iter().any(|n| n == "*")
    }

    /// Whether objects in namespace `ns` (or the namespace object `ns`) are taken.
    pub fn wants_namespace(&self, ns: &str) -> bool {
        (self.all_namespaces() || self.included_namespaces.iter().any(|p| glob_match(p, ns)))
            && !self.excluded_namespaces.iter().any(|p| glob_match(p, ns))
    }

    /// The namespaces to list namespaced resources in: each one when the filter names them
    /// literally (fewer objects cross the wire), else `None` (list across all, then filter).
    pub fn namespace_scopes(&self) -> Vec<Option<String>> {
        let literal = |n: &String| !n.contains(['*', '?']);
        if self.all_namespaces() || !self.included_namespaces.iter().all(literal) {
            return vec![None];
        }
        let mut names: Vec<String> = self
            .included_namespaces
            .iter()
            .filter(|n| self.wants_namespace(n))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names.into_iter().map(Some).collect()
    }

    /// Whether cluster-scoped resources (other than namespaces) are taken: as asked, or when
    /// unset, only when every namespace is backed up (Velero's rule).
    pub fn wants_cluster_scoped(&self) -> bool {
        self.include_cluster
            .unwrap_or_else(|| self.all_namespaces())
    }

    /// Whether the CustomResourceDefinitions of the custom resources a backup takes are added to
    /// it (Velero's rule, `pkg/backup/backup.go`): when the CRD resource (`crds`) is neither
    /// taken on its own (`chosen`) nor excluded. Then a namespaced backup restores into a
    /// cluster that lacks the CRDs. Not with `includeClusterResources: false`, which asks for
    /// no cluster-scoped object.
    pub fn adds_crds_of_items(&self, crds: &ResourceDesc, chosen: bool) -> bool {
        if let Some(scoped) = &self.scoped {
            let own = std::slice::from_ref(crds);
            return !chosen && !matches_any(&scoped.cluster_excludes, crds, own);
        }
        !chosen
            && self.include_cluster != Some(false)
            && !self.excluded_resources.iter().any(|n| crds.named_by(n))
    }

    /// `orderedResources`' list for `resource` (named by its plural, as Velero looks it up,
    /// or as `plural.group`): the items to archive first, in this order.
    pub fn ordered(&self, resource: &ResourceDesc) -> &[String] {
        self.ordered
            .get(&resource.plural)
            .or_else(|| self.ordered.get(&resource.group_resource()))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether an item another item brings in (Velero's additional items: a pod's claims, a
    /// claim's volume, a service account's cluster role bindings) is taken, by its resource
    /// and namespace (Velero's `itemInclusionChecks`): a namespaced one when its namespace
    /// and resource are; a cluster-scoped one unless the filters exclude it. With the old
    /// filters that means: not named in `excludedResources`, `includeClusterResources` not
    /// false, and, when it is unset, the resource taken by `includedResources` (empty takes
    /// all); with the scoped ones, not in `excludedClusterScopedResources`.
    /// `all` is what discovery lists (names resolve against it).
    pub fn takes_additional(
        &self,
        resource: &ResourceDesc,
        namespace: Option<&str>,
        all: &[ResourceDesc],
    ) -> bool {
        if let Some(ns) = namespace {
            if !self.wants_namespace(ns) {
                return false;
            }
            return match &self.scoped {
                Some(s) => scoped_takes(
                    &s.namespaced_includes,
                    &s.namespaced_excludes,
                    resource,
                    all,
                ),
                None => self.old_filter_takes(resource),
            };
        }
        if resource.is_namespaces() {
            return true;
        }
        match &self.scoped {
            Some(s) => !matches_any(&s.cluster_excludes, resource, all),
            None => {
                !self.excluded_resources.iter().any(|n| resource.named_by(n))
                    && self.include_cluster != Some(false)
                    && (self.include_cluster == Some(true) || self.old_filter_takes(resource))
            }
        }
    }

    /// `includedResources` / `excludedResources` alone (Velero's `IncludesExcludes`).
    fn old_filter_takes(&self, resource: &ResourceDesc) -> bool {
        let everything =
            self.included_resources.is_empty() || self.included_resources.iter().any(|r| r == "*");
        (everything || self.included_resources.iter().any(|n| resource.named_by(n)))
            && !self.excluded_resources.iter().any(|n| resource.named_by(n))
    }

    /// Whether an object with `labels` passes the selectors (any of them; none means all).
    pub fn wants_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s.matches(labels))
    }

    /// The selector to send with list requests, when one selector applies to every object.
    pub fn list_selector(&self) -> Option<String> {
        match self.selectors.as_slice() {
            [one] if !one.selects_all() => Some(one.to_string()),
            _ => None,
        }
    }

    /// The resources to list, in a stable order (by resource-list key), and the filter
    /// entries that named nothing (reported as warnings, as Velero does).
    pub fn resources<'a>(&self, all: &'a [ResourceDesc]) -> (Vec<&'a ResourceDesc>, Vec<String>) {
        let mut unresolved = Vec::new();
        // A bare name resolves to the first group discovery lists it in (core first), as
        // Velero resolves it; `name.group` is exact.
        let resolve = |names: &[String], unresolved: &mut Vec<String>| -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            for name in names.iter().filter(|n| n.as_str() != "*") {
                match all.iter().find(|r| r.named_by(name)) {
                    Some(r) => {
                        out.insert(r.group_resource());
                    }
                    None => unresolved.push(name.clone()),
                }
            }
            out
        };
        if let Some(scoped) = &self.scoped {
            let every_namespace = self.all_namespaces() && self.excluded_namespaces.is_empty();
            return scoped.resources(every_namespace, all);
        }
        let everything =
            self.included_resources.is_empty() || self.included_resources.iter().any(|r| r == "*");
        let included = resolve(&self.included_resources, &mut unresolved);
        let excluded = resolve(&self.excluded_resources, &mut unresolved);
        let mut chosen: Vec<&ResourceDesc> = all
            .iter()
            .filter(|r| {
                let gr = r.group_resource();
                (everything || included.contains(&gr)) && !excluded.contains(&gr)
            })
            .filter(|r| {
                r.namespaced
                    || r.is_namespaces()
                    // Named explicitly, a cluster-scoped resource is taken unless turned off.
                    || (self.include_cluster != Some(false) && included.contains(&r.group_resource()))
                    || self.wants_cluster_scoped()
            })
            .collect();
        // Sorted by resource-list key, so the streamed resource list comes out sorted.
        chosen.sort_by_key(|r| r.gvk_key());
        (chosen, unresolved)
    }
}

mod scoped;
#[cfg(test)]
mod tests;
