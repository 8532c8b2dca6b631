//! What the actions share: the restore's [`Context`], how an action stops an item, the roles
//! the server holds, and small JSON helpers. A leaf: it imports no action.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::restore::prepare::Rules;

/// What the actions know besides the item.
pub struct Context<'a> {
    pub rules: &'a Rules,
    /// PersistentVolumes of this restore that are not restored (reclaim policy `Delete`, no
    /// snapshot): their claims are provisioned anew.
    pub reprovisioned: &'a BTreeSet<String>,
    /// PersistentVolumes whose claims come back from a CSI snapshot: not restored.
    pub snapshotted_volumes: &'a BTreeSet<String>,
    /// The roles the server's own identity holds, which no restored binding may grant.
    pub own_roles: &'a OwnRoles,
    /// The server's namespace (the Restore's): its leader election runs there.
    pub server_namespace: &'a str,
    /// Velero's plugin ConfigMaps (change-storage-class, change-image-name).
    pub plugins: &'a crate::restore::options::PluginConfig,
    /// The Restore's `spec.hooks` (init containers are added to restored pods).
    pub hooks: &'a crate::hooks::restore::RestoreRules,
    /// What the chart lets restores bring back that is refused by default.
    pub allow: &'a Allow,
    /// The backup's pod volume snapshots: restored pods wait for theirs (`restore-wait`).
    pub fs: &'a crate::restore::fsb::FsRestore,
}

/// Items refused unless the chart allows them (server flags), because a planted archive could
/// loosen the cluster's own guards with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// ClusterRoles with a built-in `aggregate-to-` label (`--restore-aggregated-cluster-roles`).
    pub aggregated_cluster_roles: bool,
    /// Namespaces whose pod security labels could loosen admission
    /// (`--restore-pod-security-labels`).
    pub pod_security_labels: bool,
}

/// Why an item is not created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Left out on purpose, as Velero leaves it out; `warn` when the user loses something
    /// they may expect (a volume's contents), so it is counted in the restore's warnings.
    Skip { reason: String, warn: bool },
    /// Refused: an item error (a binding the restore must never create).
    Refuse(String),
}

impl Stop {
    pub fn skip(reason: impl Into<String>) -> Stop {
        Stop::Skip {
            reason: reason.into(),
            warn: false,
        }
    }
}

/// An action: rewrite the item in place, or stop it.
pub type Action = fn(&mut Value, &Context<'_>) -> Result<(), Stop>;

/// A role, as a binding's `roleRef` names it (a Role is named in the binding's namespace).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoleName {
    Cluster(String),
    Namespaced { namespace: String, name: String },
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleName::Cluster(name) => write!(f, "the ClusterRole {name}"),
            RoleName::Namespaced { namespace, name } => write!(f, "the Role {namespace}/{name}"),
        }
    }
}

/// The roles bound to the server's own identity, as found at the start of the restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnRoles {
    Known(BTreeSet<RoleName>),
    /// They could not be listed (the reason): no binding is restored, since none can be shown
    /// safe.
    Unknown(String),
}

/// `object[path...]` as a mutable map, when every step is one.
pub fn map_at<'v>(object: &'v mut Value, path: &[&str]) -> Option<&'v mut Map<String, Value>> {
    let mut at = object;
    for step in path {
        at = at.get_mut(*step)?;
    }
    at.as_object_mut()
}

/// `object[path...]` as a string.
pub fn str_at<'v>(object: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut at = object;
    for step in path {
        at = at.get(*step)?;
    }
    at.as_str()
}

/// Remove `keys` from the map at `path` (annotations, labels, a selector's matchLabels).
pub fn remove_keys(object: &mut Value, path: &[&str], keys: &[&str]) {
    if let Some(map) = map_at(object, path) {
        for key in keys {
            map.remove(*key);
        }
    }
}
