//! The exec right hooks need, as the chart renders it from its `hooks` values: nothing when
//! hooks are off, a Role and RoleBinding in each namespace hooks may run in, or one
//! ClusterRole and ClusterRoleBinding for every namespace.

use serde_json::{Value, json};

use super::names::{NAME, cluster_name, meta};

/// Where hooks may exec (`veloxide install --hooks-enabled` with `--hooks-namespaces` or
/// `--hooks-cluster-wide`; the chart's `hooks.enabled`, `hooks.namespaces`,
/// `hooks.clusterWide`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hooks {
    Off,
    Namespaces(Vec<String>),
    ClusterWide,
}

impl Hooks {
    pub fn enabled(&self) -> bool {
        *self != Hooks::Off
    }
}

/// pods/exec: create (SPDY's POST, and from Kubernetes 1.35 every WebSocket exec) and get (a
/// WebSocket exec's GET upgrade, all 1.34 and older check). Nothing else on pods.
fn exec_rules() -> Value {
    json!([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}])
}

/// The objects granting `hooks` to the server's ServiceAccount in `ns`.
pub(super) fn rbac(ns: &str, hooks: &Hooks) -> Vec<Value> {
    let rbac_v1 = "rbac.authorization.k8s.io/v1";
    let subject = json!([{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]);
    match hooks {
        Hooks::Off => Vec::new(),
        Hooks::ClusterWide => {
            let name = cluster_name(ns, "-hooks");
            vec![
                json!({"apiVersion": rbac_v1, "kind": "ClusterRole", "metadata": meta(&name, None),
                       "rules": exec_rules()}),
                json!({"apiVersion": rbac_v1, "kind": "ClusterRoleBinding",
                       "metadata": meta(&name, None),
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                   "kind": "ClusterRole", "name": name},
                       "subjects": subject}),
            ]
        }
        Hooks::Namespaces(namespaces) => {
            let name = format!("{NAME}-hooks");
            namespaces
                .iter()
                .flat_map(|target| {
                    [
                        json!({"apiVersion": rbac_v1, "kind": "Role",
                               "metadata": meta(&name, Some(target)), "rules": exec_rules()}),
                        json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
                               "metadata": meta(&name, Some(target)),
                               "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                           "kind": "Role", "name": name},
                               "subjects": subject}),
                    ]
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_only_where_asked() {
        assert!(rbac("velero", &Hooks::Off).is_empty());
        let wide = rbac("velero", &Hooks::ClusterWide);
        assert_eq!(wide[0]["kind"], "ClusterRole");
        assert_eq!(wide[0]["metadata"]["name"], "veloxide-hooks");
        assert_eq!(wide[1]["subjects"][0]["namespace"], "velero");
        let listed = rbac("backup", &Hooks::Namespaces(vec!["a".into(), "b".into()]));
        let placed: Vec<(&str, &str)> = listed
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["namespace"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("Role", "a"),
                ("RoleBinding", "a"),
                ("Role", "b"),
                ("RoleBinding", "b")
            ]
        );
        for o in listed.iter().chain(&wide) {
            if let Some(rules) = o["rules"].as_array() {
                assert_eq!(rules.len(), 1, "{o}");
                assert_eq!(rules[0]["resources"], json!(["pods/exec"]), "{o}");
            }
        }
        assert_eq!(listed[1]["subjects"][0]["namespace"], "backup");
    }
}
