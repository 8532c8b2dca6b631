//! The kinds the stand-in serves: a fixed table of built-ins plus whatever CRDs define.

use serde_json::Value;

/// One served version of a resource.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub name: String,
    /// The CRD's `openAPIV3Schema`, when it has one (built-ins are checked by typed decoding).
    pub schema: Option<Value>,
    /// The CRD's `additionalPrinterColumns`.
    pub columns: Vec<Value>,
    pub status_subresource: bool,
}

/// A resource type: one group and plural, served at one or more versions.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Served versions; the first is the storage version.
    pub versions: Vec<VersionInfo>,
    /// Built-in kinds take strategic merge patches; custom resources do not.
    pub builtin: bool,
    /// Whether writes that change more than metadata and status bump `metadata.generation`.
    pub has_generation: bool,
}

impl ResourceInfo {
    /// `secrets` or `backupstoragelocations.velero.io`, as error messages name resources.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Secret` or `BackupStorageLocation.velero.io`, as validation errors name kinds.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The store's key for this resource type (version-independent).
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn storage_version(&self) -> &str {
        &self.versions[0].name
    }

    pub fn version(&self, name: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.name == name)
    }

    pub fn has_status(&self, version: &str) -> bool {
        self.version(version).is_some_and(|v| v.status_subresource)
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    generation: bool,
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        status: false,
        generation: false,
    }
}

const fn with_status(mut x: Builtin) -> Builtin {
    x.status = true;
    x.generation = true;
    x
}

const fn with_generation(mut x: Builtin) -> Builtin {
    x.generation = true;
    x
}

const BUILTINS: &[Builtin] = &[
    with_status(b("", "v1", "Namespace", "namespaces", false, &["ns"])),
    b("", "v1", "Secret", "secrets", true, &[]),
    b("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
    b("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
    with_status(b("", "v1", "Service", "services", true, &["svc"])),
    b("", "v1", "Event", "events", true, &["ev"]),
    with_status(b("", "v1", "Pod", "pods", true, &["po"])),
    with_status(b(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
    )),
    with_status(b(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
    )),
    with_status(b("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"])),
    b("events.k8s.io", "v1", "Event", "events", true, &["ev"]),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
    ),
    b("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
    with_status(b(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
    )),
    with_generation(b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
    )),
    with_generation(b(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
    )),
    with_status(b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    )),
];

/// Every resource type currently served.
#[derive(Debug, Clone)]
pub struct Registry {
    pub resources: Vec<ResourceInfo>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let resources = BUILTINS
            .iter()
            .map(|x| ResourceInfo {
                group: x.group.into(),
                kind: x.kind.into(),
                plural: x.plural.into(),
                singular: x.kind.to_lowercase(),
                namespaced: x.namespaced,
                short_names: x.short.iter().map(|s| s.to_string()).collect(),
                categories: if x.namespaced && !x.group.contains('.') && x.kind != "Event" {
                    vec!["all".into()]
                } else {
                    vec![]
                },
                versions: vec![VersionInfo {
                    name: x.version.into(),
                    schema: None,
                    columns: vec![],
                    status_subresource: x.status,
                }],
                builtin: true,
                has_generation: x.generation,
            })
            .collect();
        Registry { resources }
    }

    /// The resource served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.plural == plural && r.version(version).is_some())
    }

    pub fn find_by_key(&self, key: &str) -> Option<&ResourceInfo> {
        self.resources.iter().find(|r| r.key() == key)
    }

    /// Groups in the order discovery lists them, each with its versions.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.resources {
            let idx = match out.iter().position(|(g, _)| *g == r.group) {
                Some(i) => i,
                None => {
                    out.push((r.group.clone(), vec![]));
                    out.len() - 1
                }
            };
            for v in &r.versions {
                if !out[idx].1.contains(&v.name) {
                    out[idx].1.push(v.name.clone());
                }
            }
        }
        out
    }

    /// Replaces (or adds) the resource a CRD defines.
    pub fn upsert(&mut self, info: ResourceInfo) {
        self.resources
            .retain(|r| r.builtin || r.key() != info.key());
        self.resources.push(info);
    }

    pub fn remove_custom(&mut self, key: &str) {
        self.resources.retain(|r| r.builtin || r.key() != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_builtins_by_group_version_plural() {
        let reg = Registry::with_builtins();
        let ev = reg.find("events.k8s.io", "v1", "events").unwrap();
        assert_eq!(ev.qualified_plural(), "events.events.k8s.io");
        assert!(reg.find("", "v1", "events").is_some());
        assert!(reg.find("", "v2", "events").is_none());
        assert_eq!(reg.groups()[0], ("".to_string(), vec!["v1".to_string()]));
    }
}
