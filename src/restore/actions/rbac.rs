//! RoleBindings and ClusterRoleBindings (`pkg/restore/actions/rolebinding_action.go`,
//! `clusterrolebinding_action.go`): subjects in a mapped namespace follow `namespaceMapping`,
//! as Velero does, so a restored binding grants the restored account and not the original.
//! Beyond Velero: a binding that grants one of the roles the server's own identity holds is
//! refused. RBAC lets an identity bind any role whose rules it holds itself, and the restore
//! identity reads (and may write) much of the cluster: a planted archive must not be able to
//! hand those rights to someone else.

use serde_json::Value;

use super::types::{Context, OwnRoles, RoleName, Stop, str_at};

/// The role a binding grants: `roleRef` with the binding's namespace for a Role.
pub fn granted(binding: &Value) -> Option<RoleName> {
    let name = str_at(binding, &["roleRef", "name"])?.to_owned();
    match str_at(binding, &["roleRef", "kind"])? {
        "ClusterRole" => Some(RoleName::Cluster(name)),
        "Role" => Some(RoleName::Namespaced {
            namespace: str_at(binding, &["metadata", "namespace"])?.to_owned(),
            name,
        }),
        _ => None,
    }
}

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(ns) = subject.get("namespace").and_then(Value::as_str) {
                let mapped = ctx.rules.target_namespace(ns).to_owned();
                subject.insert("namespace".into(), Value::String(mapped));
            }
        }
    }
    match (ctx.own_roles, granted(object)) {
        (OwnRoles::Unknown(why), _) => Err(Stop::Refuse(format!(
            "refused: the server could not list the roles its own identity holds ({why}), so it \
             cannot show this binding does not hand them out; nothing was created"
        ))),
        (OwnRoles::Known(own), Some(role)) if own.contains(&role) => Err(Stop::Refuse(format!(
            "refused: it binds {role}, which the server's own identity holds; a restore never \
             hands the server's rights to anyone else; nothing was created"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    fn binding(kind: &str, ns: Option<&str>, role_kind: &str, role: &str) -> Value {
        let mut metadata = json!({"name": "b"});
        if let Some(ns) = ns {
            metadata["namespace"] = json!(ns);
        }
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [
                {"kind": "ServiceAccount", "name": "web", "namespace": "app"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]})
    }

    #[test]
    fn subjects_follow_the_mapping_and_the_servers_roles_are_refused() {
        let mut t = TestContext::new();
        t.own_roles = OwnRoles::Known(
            [
                RoleName::Cluster("veloxide-backup".into()),
                RoleName::Namespaced {
                    namespace: "velero".into(),
                    name: "veloxide".into(),
                },
            ]
            .into(),
        );
        let cases = [
            ("RoleBinding", Some("app-copy"), "ClusterRole", "view", true),
            ("ClusterRoleBinding", None, "ClusterRole", "view", true),
            (
                "ClusterRoleBinding",
                None,
                "ClusterRole",
                "veloxide-backup",
                false,
            ),
            (
                "RoleBinding",
                Some("app-copy"),
                "ClusterRole",
                "veloxide-backup",
                false,
            ),
            ("RoleBinding", Some("velero"), "Role", "veloxide", false),
            // The same name in another namespace is another role.
            ("RoleBinding", Some("app-copy"), "Role", "veloxide", true),
        ];
        for (kind, ns, role_kind, role, restored) in cases {
            let mut b = binding(kind, ns, role_kind, role);
            let got = restore(&mut b, &t.ctx());
            assert_eq!(
                got.is_ok(),
                restored,
                "{kind} {ns:?} -> {role_kind} {role}: {got:?}"
            );
            if restored {
                assert_eq!(
                    b["subjects"],
                    json!([
                        {"kind": "ServiceAccount", "name": "web", "namespace": "app-copy"},
                        {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}])
                );
            } else {
                let Err(Stop::Refuse(why)) = got else {
                    unreachable!()
                };
                assert!(why.contains("server's own identity holds"), "{why}");
            }
        }
        t.own_roles = OwnRoles::Unknown("403 Forbidden".into());
        let got = restore(
            &mut binding("ClusterRoleBinding", None, "ClusterRole", "view"),
            &t.ctx(),
        );
        assert!(
            matches!(got, Err(Stop::Refuse(ref why)) if why.contains("403 Forbidden")),
            "{got:?}"
        );
    }
}
