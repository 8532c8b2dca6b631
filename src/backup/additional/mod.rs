//! Additional items, as Velero's backup item actions return them (`pkg/backup/actions/`,
//! `pkg/util/actionhelpers/`): what else an item brings into a backup, so a namespaced backup
//! restores into an empty cluster.
//! - a Pod: its PriorityClass and the PersistentVolumeClaims its volumes name (pod_action.go);
//! - a bound PersistentVolumeClaim: its PersistentVolume (backup_pv_action.go);
//! - a ServiceAccount: the ClusterRoleBindings naming it as a subject, and their ClusterRoles
//!   (service_account_action.go).
//!
//! Whether an additional item is then taken is the filters' call
//! (`filter::Plan::takes_additional`, Velero's inclusion checks), unless the item that brought
//! it carries `backup.velero.io/must-include-additional-items: "true"`, which skips them (the
//! annotation is not kept in the archive, as Velero removes it). Pure rules here; the fetching
//! is `backup::produce`'s.

use std::collections::BTreeSet;

use serde_json::Value;

/// Velero's annotation: the additional items of the item carrying it skip the filters.
pub const MUST_INCLUDE_ANNOTATION: &str = "backup.velero.io/must-include-additional-items";

pub const PODS: &str = "pods";
pub const CLAIMS: &str = "persistentvolumeclaims";
pub const VOLUMES: &str = "persistentvolumes";
pub const SERVICE_ACCOUNTS: &str = "serviceaccounts";
pub const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings.rbac.authorization.k8s.io";
pub const CLUSTER_ROLES: &str = "clusterroles.rbac.authorization.k8s.io";
pub const PRIORITY_CLASSES: &str = "priorityclasses.scheduling.k8s.io";

/// The resources an additional item can be of: the backup remembers which of their items it
/// took, so none is archived twice.
pub const TARGETS: &[&str] = &[
    CLAIMS,
    VOLUMES,
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    PRIORITY_CLASSES,
];

/// One item, by where it sits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId {
    pub group_resource: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ItemId {
    fn cluster(group_resource: &str, name: &str) -> ItemId {
        ItemId {
            group_resource: group_resource.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

/// Whether items of `group_resource` have an action that may bring others (and so may carry
/// the must-include annotation, which is then removed from the archived copy).
pub fn has_action(group_resource: &str) -> bool {
    matches!(group_resource, PODS | CLAIMS | SERVICE_ACCOUNTS)
}

/// Whether `item` asks for its additional items to skip the filters.
pub fn must_include(item: &Value) -> bool {
    item.pointer("/metadata/annotations")
        .and_then(|a| a.get(MUST_INCLUDE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true")
}

/// Remove the annotation from the copy that goes into the archive (Velero's
/// `delete(u.GetAnnotations(), MustIncludeAdditionalItemAnnotation)`).
pub fn strip_must_include(item: &mut Value) {
    if let Some(annotations) = item
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(MUST_INCLUDE_ANNOTATION);
    }
}

fn text<'v>(item: &'v Value, pointer: &str) -> &'v str {
    item.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// What `item` (of `group_resource`) brings. `cluster_role_bindings` are the cluster's (only
/// read for service accounts).
pub fn related(group_resource: &str, item: &Value, cluster_role_bindings: &[Value]) -> Vec<ItemId> {
    let namespace = text(item, "/metadata/namespace");
    let name = text(item, "/metadata/name");
    match group_resource {
        PODS => {
            let mut out = Vec::new();
            let class = text(item, "/spec/priorityClassName");
            if !class.is_empty() {
                out.push(ItemId::cluster(PRIORITY_CLASSES, class));
            }
            let volumes = item.pointer("/spec/volumes").and_then(Value::as_array);
            for volume in volumes.into_iter().flatten() {
                let claim = text(volume, "/persistentVolumeClaim/claimName");
                if !claim.is_empty() {
                    out.push(ItemId {
                        group_resource: CLAIMS.into(),
                        namespace: Some(namespace.into()),
                        name: claim.into(),
                    });
                }
            }
            out
        }
        CLAIMS => {
            let volume = text(item, "/spec/volumeName");
            if text(item, "/status/phase") == "Bound" && !volume.is_empty() {
                vec![ItemId::cluster(VOLUMES, volume)]
            } else {
                Vec::new()
            }
        }
        SERVICE_ACCOUNTS => {
            let mut bindings = BTreeSet::new();
            let mut roles = BTreeSet::new();
            for binding in cluster_role_bindings {
                let subjects = binding.get("subjects").and_then(Value::as_array);
                let names_it = subjects.into_iter().flatten().any(|s| {
                    text(s, "/kind") == "ServiceAccount"
                        && text(s, "/namespace") == namespace
                        && text(s, "/name") == name
                });
                if names_it {
                    bindings.insert(text(binding, "/metadata/name").to_owned());
                    if text(binding, "/roleRef/kind") == "ClusterRole" {
                        roles.insert(text(binding, "/roleRef/name").to_owned());
                    }
                }
            }
            let bindings = bindings
                .iter()
                .map(|b| ItemId::cluster(CLUSTER_ROLE_BINDINGS, b));
            let roles = roles.iter().map(|r| ItemId::cluster(CLUSTER_ROLES, r));
            bindings.chain(roles).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(gr: &str, ns: Option<&str>, name: &str) -> ItemId {
        ItemId {
            group_resource: gr.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn what_each_item_brings() {
        let bindings = [
            json!({"metadata": {"name": "web-reads"},
                "roleRef": {"kind": "ClusterRole", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "namespace": "app", "name": "web"}]}),
            json!({"metadata": {"name": "other-ns"},
                "roleRef": {"kind": "ClusterRole", "name": "admin"},
                "subjects": [{"kind": "ServiceAccount", "namespace": "other", "name": "web"}]}),
            json!({"metadata": {"name": "a-user"},
                "roleRef": {"kind": "ClusterRole", "name": "admin"},
                "subjects": [{"kind": "User", "name": "web"}]}),
            json!({"metadata": {"name": "also-web"},
                "roleRef": {"kind": "ClusterRole", "name": "reader"},
                "subjects": [{"kind": "Group", "name": "g"},
                             {"kind": "ServiceAccount", "namespace": "app", "name": "web"}]}),
        ];
        let cases = [
            (
                PODS,
                json!({"metadata": {"name": "p", "namespace": "app"},
                "spec": {"priorityClassName": "high", "volumes": [
                    {"name": "a", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "b", "emptyDir": {}},
                    {"name": "c", "persistentVolumeClaim": {"claimName": "logs"}}]}}),
                vec![
                    id(PRIORITY_CLASSES, None, "high"),
                    id(CLAIMS, Some("app"), "data"),
                    id(CLAIMS, Some("app"), "logs"),
                ],
            ),
            (
                PODS,
                json!({"metadata": {"name": "p", "namespace": "app"}, "spec": {}}),
                vec![],
            ),
            (
                CLAIMS,
                json!({"metadata": {"name": "data", "namespace": "app"},
                "spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}),
                vec![id(VOLUMES, None, "pv-1")],
            ),
            (
                CLAIMS,
                json!({"metadata": {"name": "data", "namespace": "app"},
                "spec": {"volumeName": "pv-1"}, "status": {"phase": "Pending"}}),
                vec![],
            ),
            (
                SERVICE_ACCOUNTS,
                json!({"metadata": {"name": "web", "namespace": "app"}}),
                vec![
                    id(CLUSTER_ROLE_BINDINGS, None, "also-web"),
                    id(CLUSTER_ROLE_BINDINGS, None, "web-reads"),
                    id(CLUSTER_ROLES, None, "reader"),
                ],
            ),
            (
                "configmaps",
                json!({"metadata": {"name": "c", "namespace": "app"}}),
                vec![],
            ),
        ];
        for (gr, item, want) in cases {
            assert_eq!(related(gr, &item, &bindings), want, "{gr} {item}");
        }
    }

    #[test]
    fn the_must_include_annotation_is_true_or_nothing_and_not_archived() {
        let with = |v: &str| json!({"metadata": {"annotations": {MUST_INCLUDE_ANNOTATION: v, "keep": "1"}}});
        assert!(must_include(&with("true")));
        assert!(!must_include(&with("True")));
        assert!(!must_include(&json!({"metadata": {}})));
        let mut item = with("true");
        strip_must_include(&mut item);
        assert_eq!(item, json!({"metadata": {"annotations": {"keep": "1"}}}));
    }
}
