//! The objects `veloxide install` makes, as plain data and in the order they are applied:
//! what the Helm chart renders with its default values, plus the credentials Secret, the CA
//! bundle Secret and the default BackupStorageLocation Velero's install makes.

mod agent;
mod hooks;
mod names;
mod rbac;
mod server;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::certs::WebhookCerts;
use crate::api::BackupStorageLocation;
pub use agent::random_password;
pub use hooks::Hooks;
use names::meta;
pub use names::{
    CA_KEY, CA_SECRET, CREDENTIALS_KEY, CREDENTIALS_SECRET, LOCATION, NAME, WEBHOOK_SECRET,
};
use rbac::rbac;
use server::{deployment, service, webhook};

/// Everything the objects are made from. Holds secret material: no `Debug`.
pub struct Plan {
    pub namespace: String,
    pub image: String,
    pub credentials: Vec<u8>,
    pub ca_bundle: Option<Vec<u8>>,
    pub location: BackupStorageLocation,
    pub webhook: WebhookCerts,
    /// Where hooks may exec: their RBAC, and `--hooks-enabled` on the server.
    pub hooks: Hooks,
    /// The groups of the cluster's CRDs, which backups read too (none with `--dry-run`).
    pub crd_groups: Vec<String>,
    /// What restores may do beyond the default guards (the chart's `rbac.restore.*`).
    pub restore_guards: RestoreGuards,
    /// The node agent (`--use-node-agent`, the chart's `nodeAgent.enabled`), or none.
    pub node_agent: Option<NodeAgent>,
}

/// The node agent's DaemonSet and identity, and the repository password Secret when install
/// makes it. Holds secret material: no `Debug`.
pub struct NodeAgent {
    /// The new Secret's password; `None` when the Secret already exists and stays as it is
    /// (a new password would leave every repository made with the old one unopenable).
    pub password: Option<String>,
}

/// The restore guards a user lifts, as the chart's `rbac.restore.aggregatedClusterRoles` and
/// `rbac.restore.podSecurityLabels` lift them (both off by default: docs/security.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreGuards {
    /// Restore ClusterRoles carrying a built-in `aggregate-to-*` label.
    pub aggregated_cluster_roles: bool,
    /// Restore Namespaces whose pod security labels loosen admission.
    pub pod_security_labels: bool,
}

impl RestoreGuards {
    /// The server flags that lift them.
    pub fn server_flags(self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.aggregated_cluster_roles {
            flags.push("--restore-aggregated-cluster-roles");
        }
        if self.pod_security_labels {
            flags.push("--restore-pod-security-labels");
        }
        flags
    }
}

fn secret(name: &str, ns: &str, kind: &str, data: &[(&str, &[u8])]) -> Value {
    let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, STANDARD.encode(v))).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta(name, Some(ns)),
           "type": kind, "data": data})
}

/// Every object, in dependency order: the namespace, the CRDs, then what uses them; the
/// location before the webhook that would check it, so a first install does not wait for a
/// server that is still starting.
pub fn objects(plan: &Plan) -> Vec<Value> {
    let ns = plan.namespace.as_str();
    let mut out =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, None)})];
    out.extend(
        crate::crds::all()
            .iter()
            .map(|crd| serde_json::to_value(crd).expect("a CRD serializes")),
    );
    out.push(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME, Some(ns))}),
    );
    out.extend(rbac(ns, &plan.crd_groups));
    out.extend(hooks::rbac(ns, &plan.hooks));
    if plan.node_agent.is_some() {
        out.extend(agent::rbac(ns));
    }
    out.push(secret(
        CREDENTIALS_SECRET,
        ns,
        "Opaque",
        &[(CREDENTIALS_KEY, &plan.credentials)],
    ));
    if let Some(bundle) = &plan.ca_bundle {
        out.push(secret(CA_SECRET, ns, "Opaque", &[(CA_KEY, bundle)]));
    }
    if let Some(NodeAgent {
        password: Some(password),
    }) = &plan.node_agent
    {
        out.push(agent::password_secret(ns, password));
    }
    let w = &plan.webhook;
    out.push(secret(
        WEBHOOK_SECRET,
        ns,
        "kubernetes.io/tls",
        &[
            ("tls.crt", &w.tls_cert),
            ("tls.key", &w.tls_key),
            ("ca.crt", &w.ca_cert),
            ("ca.key", &w.ca_key),
        ],
    ));
    out.push(service(ns));
    let mut flags = plan.restore_guards.server_flags();
    if plan.hooks.enabled() {
        flags.push("--hooks-enabled");
    }
    out.push(deployment(ns, &plan.image, &flags));
    if plan.node_agent.is_some() {
        out.push(agent::daemonset(ns, &plan.image));
    }
    let mut location = serde_json::to_value(&plan.location).expect("a location serializes");
    location["metadata"] = meta(LOCATION, Some(ns));
    out.push(location);
    out.push(webhook(ns, &w.ca_cert));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(ns: &str, ca: bool) -> Plan {
        let location = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": ns},
            "spec": {"provider": "aws", "objectStorage": {"bucket": "b"}},
        }))
        .unwrap();
        Plan {
            namespace: ns.into(),
            image: "img:1".into(),
            credentials: b"[default]\n".to_vec(),
            ca_bundle: ca.then(|| b"PEM".to_vec()),
            location,
            webhook: super::super::certs::generate(&super::super::certs::dns_names(NAME, ns))
                .unwrap(),
            hooks: Hooks::Off,
            crd_groups: Vec::new(),
            restore_guards: RestoreGuards::default(),
            node_agent: None,
        }
    }

    fn server_args(objects: &[Value]) -> Vec<String> {
        let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        serde_json::from_value(
            deployment["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
        )
        .unwrap()
    }

    /// The guards stay on unless lifted, and each lifted one reaches the server as the chart's
    /// values pass it.
    #[test]
    fn restore_guards_reach_the_server_as_the_chart_passes_them() {
        let guards = [
            "--restore-aggregated-cluster-roles",
            "--restore-pod-security-labels",
        ];
        let args = server_args(&objects(&plan("velero", false)));
        assert!(
            guards.iter().all(|g| !args.iter().any(|a| a == g)),
            "{args:?}"
        );
        // Restored pods' restore-wait containers run the installed image, not a default tag.
        assert!(
            args.iter().any(|a| a == "--restore-helper-image=img:1"),
            "{args:?}"
        );
        let mut lifted = plan("velero", false);
        lifted.restore_guards = RestoreGuards {
            aggregated_cluster_roles: true,
            pod_security_labels: true,
        };
        lifted.hooks = Hooks::ClusterWide;
        let args = server_args(&objects(&lifted));
        for flag in guards.iter().chain(&["--hooks-enabled"]) {
            assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
        }
    }

    fn kinds(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn dependency_order_and_names() {
        let all = kinds(&objects(&plan("velero", true)));
        assert_eq!(all[0], "Namespace/velero");
        assert!(
            all[1..5]
                .iter()
                .all(|k| k.starts_with("CustomResourceDefinition/")),
            "{all:?}"
        );
        assert_eq!(all[all.len() - 2], "BackupStorageLocation/default");
        assert_eq!(
            all[all.len() - 1],
            "ValidatingWebhookConfiguration/veloxide"
        );
        for k in [
            "Secret/cloud-credentials",
            "Secret/storage-ca-cert",
            "Secret/veloxide-webhook-tls",
            "ClusterRoleBinding/veloxide-backup",
            "Deployment/veloxide",
            "Service/veloxide",
        ] {
            assert!(all.contains(&k.to_owned()), "{k} in {all:?}");
        }
        let other = kinds(&objects(&plan("backup", false)));
        assert!(
            other.contains(&"ClusterRole/veloxide-backup-restore".to_owned()),
            "{other:?}"
        );
        assert!(other.contains(&"ValidatingWebhookConfiguration/veloxide-backup".to_owned()));
        assert!(!other.contains(&"Secret/storage-ca-cert".to_owned()));
    }

    /// Least privilege: restores write named resources only ("*" would match pods/exec,
    /// serviceaccounts/token and every other subresource), and the server creates only the
    /// velero.io kinds its controllers create (Backups, DeleteBackupRequests).
    #[test]
    fn no_wildcard_or_subresource_in_what_restores_write_and_velero_creates_named() {
        let all = objects(&plan("velero", true));
        let restore = all
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "veloxide-restore")
            .expect("the restore ClusterRole");
        for rule in restore["rules"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                let r = r.as_str().unwrap();
                assert!(!r.contains('*') && !r.contains('/'), "{rule}");
                // What a planted archive could take the cluster with (the chart's opt-ins).
                for never in [
                    "mutatingwebhookconfigurations",
                    "validatingwebhookconfigurations",
                    "validatingadmissionpolicies",
                    "validatingadmissionpolicybindings",
                    "leases",
                    "rolebindings",
                    "clusterrolebindings",
                ] {
                    assert_ne!(r, never, "{rule}");
                }
            }
            assert_ne!(rule["apiGroups"], json!(["*"]), "{rule}");
            // Create only: update and patch are the chart's existingResourcePolicyUpdate.
            assert_eq!(rule["verbs"], json!(["create"]), "{rule}");
        }
        let role = all.iter().find(|o| o["kind"] == "Role").unwrap();
        for rule in role["rules"].as_array().unwrap() {
            if rule["apiGroups"] == json!(["velero.io"]) {
                let verbs = rule["verbs"].to_string();
                let resources = rule["resources"].to_string();
                assert!(!verbs.contains('*') && !resources.contains('*'), "{rule}");
                assert!(!resources.contains("/finalizers"), "{rule}");
                if verbs.contains("\"create\"") {
                    assert!(
                        resources == r#"["backups"]"#
                            || resources == r#"["deletebackuprequests"]"#
                            || resources == r#"["podvolumebackups"]"#
                            || resources == r#"["podvolumerestores"]"#,
                        "{rule}"
                    );
                }
            }
        }
    }

    /// `--use-node-agent`: the DaemonSet after the server, its own identity, and the
    /// password Secret only when install makes it (an existing one is never replaced).
    #[test]
    fn the_node_agent_only_when_asked_and_the_password_only_when_new() {
        let none = kinds(&objects(&plan("velero", false)));
        assert!(!none.iter().any(|k| k.contains("node-agent")), "{none:?}");
        let mut with = plan("velero", false);
        with.node_agent = Some(NodeAgent {
            password: Some("pw".into()),
        });
        let all = kinds(&objects(&with));
        for k in [
            "DaemonSet/veloxide-node-agent",
            "ServiceAccount/veloxide-node-agent",
            "Role/veloxide-node-agent",
            "ClusterRoleBinding/veloxide-node-agent",
            "Secret/velero-repo-credentials",
        ] {
            assert!(all.contains(&k.to_owned()), "{k} in {all:?}");
        }
        let at = |k: &str| all.iter().position(|x| x == k).unwrap();
        assert!(at("Deployment/veloxide") < at("DaemonSet/veloxide-node-agent"));
        with.node_agent = Some(NodeAgent { password: None });
        let kept = kinds(&objects(&with));
        assert!(!kept.contains(&"Secret/velero-repo-credentials".to_owned()));
        assert!(kept.contains(&"DaemonSet/veloxide-node-agent".to_owned()));
    }

    #[test]
    fn namespaced_objects_name_the_namespace() {
        let mut p = plan("backup", false);
        p.node_agent = Some(NodeAgent {
            password: Some("pw".into()),
        });
        for o in objects(&p) {
            let kind = o["kind"].as_str().unwrap();
            let cluster = matches!(
                kind,
                "Namespace"
                    | "CustomResourceDefinition"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "ValidatingWebhookConfiguration"
            );
            assert_eq!(o["metadata"]["namespace"].is_null(), cluster, "{kind}");
            if !cluster {
                assert_eq!(o["metadata"]["namespace"], "backup", "{kind}");
            }
        }
    }
}
