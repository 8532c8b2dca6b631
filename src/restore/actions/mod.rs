//! Velero's built-in restore actions, one file each: what a restore changes in (or skips of) an
//! item before it is created, so an object from another cluster, or from this cluster's past,
//! cannot bind a disk, a node or a token it no longer owns. Each action is a pure function of
//! the item and the restore's [`Context`]; [`ACTIONS`] lists them in the order Velero runs them
//! (`pkg/restore/restore.go`'s own steps first, then the plugins in the order
//! `pkg/cmd/server/plugin/plugin.go` registers them), so every rewrite a restore makes is read
//! here.

use serde_json::Value;

mod aggregation;
mod completed;
pub mod csi;
mod image_name;
mod init_hook;
mod job;
mod lease;
mod pod;
mod pod_security;
mod pod_volume;
mod pv;
mod pvc;
mod rbac;
mod secret;
mod service;
mod service_account;
mod storage_class;

mod types;

pub use pv::reprovisioned;
pub use types::{Allow, Context, OwnRoles, RoleName, Stop};

use types::Action;

/// Every action, in Velero's order, with the resource it applies to and Velero's name for it.
pub const ACTIONS: &[(&str, &str, Action)] = &[
    // restore.go: completed Pods and Jobs are not restored, before anything else.
    ("pods", "restore.go isCompleted", completed::pod),
    ("jobs.batch", "restore.go isCompleted", completed::job),
    // restore.go: a PV whose claim has a CSI snapshot is not restored.
    ("persistentvolumes", "restore.go CSI snapshot", csi::volume),
    // restore.go: a PV without a snapshot is re-provisioned (Delete) or restored unbound.
    (
        "persistentvolumes",
        "restore.go persistent volumes",
        pv::restore,
    ),
    ("jobs.batch", "velero.io/job", job::restore),
    ("pods", "velero.io/pod", pod::restore),
    // The restore-wait container first; the init hooks' containers go after it.
    ("pods", "velero.io/pod-volume-restore", pod_volume::restore),
    ("pods", "velero.io/init-restore-hook", init_hook::restore),
    ("services", "velero.io/service", service::restore),
    (
        "serviceaccounts",
        "velero.io/service-account",
        service_account::restore,
    ),
    (
        "rolebindings.rbac.authorization.k8s.io",
        "velero.io/role-bindings",
        rbac::restore,
    ),
    (
        "clusterrolebindings.rbac.authorization.k8s.io",
        "velero.io/cluster-role-bindings",
        rbac::restore,
    ),
    // Velero's CSI actions run after velero.io/pvc, on the backed-up item; here first, since
    // velero.io/pvc removes the annotation the CSI one reads.
    (
        "persistentvolumeclaims",
        "velero.io/csi-pvc-restorer",
        csi::claim,
    ),
    ("persistentvolumeclaims", "velero.io/pvc", pvc::restore),
    (
        "volumesnapshots.snapshot.storage.k8s.io",
        "velero.io/csi-volumesnapshot-restorer",
        csi::snapshot,
    ),
    (
        "volumesnapshotcontents.snapshot.storage.k8s.io",
        "velero.io/csi-volumesnapshotcontent-restorer",
        csi::content,
    ),
    ("secrets", "velero.io/secret", secret::restore),
    // The plugins configured by ConfigMaps in the server's namespace.
    (
        "persistentvolumeclaims",
        "velero.io/change-storage-class",
        storage_class::restore,
    ),
    (
        "persistentvolumes",
        "velero.io/change-storage-class",
        storage_class::restore,
    ),
    (
        "statefulsets.apps",
        "velero.io/change-storage-class",
        storage_class::restore,
    ),
    ("pods", "velero.io/change-image-name", image_name::restore),
    (
        "deployments.apps",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    (
        "statefulsets.apps",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    (
        "daemonsets.apps",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    (
        "replicasets.apps",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    (
        "replicationcontrollers",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    (
        "jobs.batch",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    (
        "cronjobs.batch",
        "velero.io/change-image-name",
        image_name::restore,
    ),
    // Not Velero's: what could loosen the cluster's own guards, unless the chart allows it.
    ("namespaces", "veloxide pod security", pod_security::restore),
    (
        "clusterroles.rbac.authorization.k8s.io",
        "veloxide aggregation",
        aggregation::restore,
    ),
    // Not Velero's: the server's own leader lock is never restored over.
    (
        "leases.coordination.k8s.io",
        "veloxide lease",
        lease::restore,
    ),
];

/// Run every action that applies to an item of `group_resource`, in order; the first stop ends
/// it.
pub fn run(group_resource: &str, object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    for (resource, _, action) in ACTIONS {
        if *resource == group_resource {
            action(object, ctx)?;
        }
    }
    Ok(())
}

/// A restore's context for the actions' table tests: `app` mapped to `app-copy`, the volume
/// `pv-gone` re-provisioned, and the server bound to the ClusterRole `veloxide-backup`.
#[cfg(test)]
use super::prepare::Rules;
#[cfg(test)]
use std::collections::BTreeSet;

#[cfg(test)]
pub(crate) struct TestContext {
    pub rules: Rules,
    pub reprovisioned: BTreeSet<String>,
    pub snapshotted_volumes: BTreeSet<String>,
    pub own_roles: OwnRoles,
    pub plugins: crate::restore::options::PluginConfig,
    pub hooks: crate::hooks::restore::RestoreRules,
    pub allow: Allow,
    pub fs: crate::restore::fsb::FsRestore,
}

#[cfg(test)]
impl TestContext {
    pub fn new() -> TestContext {
        TestContext {
            rules: Rules {
                namespace_mapping: [("app".to_owned(), "app-copy".to_owned())].into(),
                preserve_node_ports: false,
                backup: "b".into(),
                restore: "r".into(),
                restore_uid: "r-uid".into(),
                restore_pvs: true,
            },
            reprovisioned: ["pv-gone".to_owned()].into(),
            snapshotted_volumes: BTreeSet::new(),
            own_roles: OwnRoles::Known([RoleName::Cluster("veloxide-backup".into())].into()),
            plugins: Default::default(),
            hooks: crate::hooks::restore::RestoreRules::default(),
            allow: Allow::default(),
            fs: Default::default(),
        }
    }

    pub fn ctx(&self) -> Context<'_> {
        Context {
            rules: &self.rules,
            reprovisioned: &self.reprovisioned,
            snapshotted_volumes: &self.snapshotted_volumes,
            own_roles: &self.own_roles,
            server_namespace: "velero",
            plugins: &self.plugins,
            hooks: &self.hooks,
            allow: &self.allow,
            fs: &self.fs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list names each resource the way the archive does, so no action is dead code.
    #[test]
    fn every_action_names_a_resource_as_the_archive_does() {
        for (resource, name, _) in ACTIONS {
            let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
            assert!(
                plural.chars().all(|c| c.is_ascii_lowercase()) && !group.contains('/'),
                "{name}: {resource}"
            );
        }
    }
}
