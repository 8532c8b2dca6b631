//! The node agent's DaemonSet, identity and repository password Secret, as the chart renders
//! them with `nodeAgent.enabled=true` and its default values (`--use-node-agent`): the
//! integration test `rbac::install_grants_what_the_chart_grants_with_its_default_values`
//! compares the RBAC rule for rule, and `install_runs_the_node_agent_as_the_chart_does` the
//! DaemonSet.

use serde_json::{Value, json};

use super::names::{NAME, cluster_name};

/// The DaemonSet, ServiceAccount, Role and ClusterRole's name (the chart's
/// `<fullname>-node-agent`).
pub const AGENT: &str = "veloxide-node-agent";
/// Velero's Secret and key for the file-system backup repositories' password.
pub use crate::repository::{SECRET_KEY as PASSWORD_KEY, SECRET_NAME as REPO_SECRET};
/// The kubelet's pods directory, mounted at the same path (the chart's nodeAgent.podVolumePath).
const PODS_DIR: &str = "/var/lib/kubelet/pods";

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": AGENT,
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/component": "node-agent",
        "app.kubernetes.io/version": env!("CARGO_PKG_VERSION"),
        "app.kubernetes.io/managed-by": "veloxide-install",
        "app.kubernetes.io/part-of": "veloxide",
    })
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The agent's ServiceAccount and RBAC: its own, least privilege (the chart's
/// node-agent-rbac.yaml, same comments there).
pub(super) fn rbac(ns: &str) -> Vec<Value> {
    let rbac_v1 = "rbac.authorization.k8s.io/v1";
    let subject = json!([{"kind": "ServiceAccount", "name": AGENT, "namespace": ns}]);
    let cluster = cluster_name(ns, "-node-agent");
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(AGENT, Some(ns))}),
        json!({"apiVersion": rbac_v1, "kind": "Role", "metadata": meta(AGENT, Some(ns)),
        "rules": [
            {"apiGroups": ["velero.io"], "resources": ["podvolumebackups", "podvolumerestores"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["velero.io"],
             "resources": ["podvolumebackups/status", "podvolumerestores/status"],
             "verbs": ["update", "patch"]},
            {"apiGroups": ["velero.io"], "resources": ["backupstoragelocations"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        ]}),
        json!({"apiVersion": rbac_v1, "kind": "RoleBinding", "metadata": meta(AGENT, Some(ns)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": AGENT},
               "subjects": subject}),
        json!({"apiVersion": rbac_v1, "kind": "ClusterRole", "metadata": meta(&cluster, None),
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "persistentvolumes"],
             "verbs": ["get"]},
        ]}),
        json!({"apiVersion": rbac_v1, "kind": "ClusterRoleBinding", "metadata": meta(&cluster, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": cluster},
               "subjects": subject}),
    ]
}

/// The chart's DaemonSet with its default values.
pub(super) fn daemonset(ns: &str, image: &str) -> Value {
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let selector = json!({"app.kubernetes.io/name": AGENT, "app.kubernetes.io/instance": NAME});
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(AGENT, Some(ns)),
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "serviceAccountName": AGENT,
                    "automountServiceAccountToken": true,
                    "terminationGracePeriodSeconds": 30,
                    // Root, to read every volume's files whatever their owner (and restoring, to
                    // set owners and modes), with only the capabilities that act on files.
                    "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "runAsGroup": 0,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "node-agent",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["node-agent", "--namespace=$(VELERO_NAMESPACE)",
                                 format!("--kubelet-pods-dir={PODS_DIR}")],
                        "env": [
                            {"name": "VELERO_NAMESPACE", "valueFrom": field("metadata.namespace")},
                            {"name": "NODE_NAME", "valueFrom": field("spec.nodeName")},
                        ],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                      "limits": {"cpu": "1", "memory": "128Mi"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "privileged": false,
                            "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "DAC_OVERRIDE",
                                             "DAC_READ_SEARCH", "FOWNER", "FSETID"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
                        // Read-write: restores write the restored pod's volume through it.
                        "volumeMounts": [
                            {"name": "host-pods", "mountPath": PODS_DIR,
                             "mountPropagation": "HostToContainer"},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }],
                    "volumes": [
                        {"name": "host-pods", "hostPath": {"path": PODS_DIR, "type": "Directory"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    })
}

/// Velero's `velero-repo-credentials` with `password`. Holds it: printed only by `--dry-run`.
pub(super) fn password_secret(ns: &str, password: &str) -> Value {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode(password);
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta(REPO_SECRET, Some(ns)),
           "type": "Opaque", "data": {PASSWORD_KEY: value}})
}

/// 32 random letters and digits (about 190 bits), as the chart's `randAlphaNum 32`.
pub fn random_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        let mut buf = [0u8; 64];
        openssl::rand::rand_bytes(&mut buf)?;
        // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
        out.extend(
            buf.iter()
                .filter(|b| **b < 248)
                .map(|b| ALPHABET[usize::from(*b % 62)] as char)
                .take(32 - out.len()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_passwords_are_32_letters_and_digits_and_differ() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }
}
