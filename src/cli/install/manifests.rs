//! The objects `veloxide install` makes, as plain data and in the order they are applied:
//! what the Helm chart renders with its default values, plus the credentials Secret, the CA
//! bundle Secret and the default BackupStorageLocation Velero's install makes.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::certs::WebhookCerts;
use crate::api::BackupStorageLocation;

/// The name of the Deployment, ServiceAccount, Role and Service (the chart's full name).
pub const NAME: &str = "veloxide";
/// Velero's names for the credentials Secret and its key.
pub const CREDENTIALS_SECRET: &str = "cloud-credentials";
pub const CREDENTIALS_KEY: &str = "cloud";
/// The Secret `--cacert` is stored in, as the README's `kubectl create secret` names it.
pub const CA_SECRET: &str = "storage-ca-cert";
pub const CA_KEY: &str = "ca-bundle.crt";
/// The webhook's `kubernetes.io/tls` Secret, as the chart names it.
pub const WEBHOOK_SECRET: &str = "veloxide-webhook-tls";
pub const LOCATION: &str = "default";
const METRICS_PORT: u16 = 8085;
const WEBHOOK_PORT: u16 = 9443;
/// What restores may write besides the core resources: the chart's `rbac.restore.resources`.
pub const RESTORE_RESOURCES: [(&str, &[&str]); 14] = [
    (
        "admissionregistration.k8s.io",
        &[
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
        ],
    ),
    ("apiextensions.k8s.io", &["customresourcedefinitions"]),
    (
        "apps",
        &[
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
        ],
    ),
    ("autoscaling", &["horizontalpodautoscalers"]),
    ("batch", &["cronjobs", "jobs"]),
    ("coordination.k8s.io", &["leases"]),
    ("discovery.k8s.io", &["endpointslices"]),
    (
        "networking.k8s.io",
        &["ingressclasses", "ingresses", "networkpolicies"],
    ),
    ("node.k8s.io", &["runtimeclasses"]),
    ("policy", &["poddisruptionbudgets"]),
    (
        "rbac.authorization.k8s.io",
        &[
            "clusterrolebindings",
            "clusterroles",
            "rolebindings",
            "roles",
        ],
    ),
    ("scheduling.k8s.io", &["priorityclasses"]),
    (
        "snapshot.storage.k8s.io",
        &[
            "volumesnapshotclasses",
            "volumesnapshotcontents",
            "volumesnapshots",
        ],
    ),
    // csinodes and volumeattachments are never restored (as Velero).
    ("storage.k8s.io", &["csidrivers", "storageclasses"]),
];

/// The server's /tmp volume, where restores spool archives (the chart's restoreSpool.sizeLimit).
const TMP_SIZE: &str = "1Gi";

/// Everything the objects are made from. Holds secret material: no `Debug`.
pub struct Plan {
    pub namespace: String,
    pub image: String,
    pub credentials: Vec<u8>,
    pub ca_bundle: Option<Vec<u8>>,
    pub location: BackupStorageLocation,
    pub webhook: WebhookCerts,
}

/// Cluster-scoped objects carry the namespace unless it is Velero's default, as Velero's
/// install names its ClusterRoleBinding, so two installs do not fight over one name.
pub fn cluster_name(namespace: &str, suffix: &str) -> String {
    let base = if namespace == "velero" {
        NAME.to_owned()
    } else {
        format!("{NAME}-{namespace}")
    };
    format!("{base}{suffix}")
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/version": env!("CARGO_PKG_VERSION"),
        "app.kubernetes.io/managed-by": "veloxide-install",
        "app.kubernetes.io/part-of": "veloxide",
    })
}

fn selector() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME})
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
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
    out.extend(rbac(ns));
    out.push(secret(
        CREDENTIALS_SECRET,
        ns,
        "Opaque",
        &[(CREDENTIALS_KEY, &plan.credentials)],
    ));
    if let Some(bundle) = &plan.ca_bundle {
        out.push(secret(CA_SECRET, ns, "Opaque", &[(CA_KEY, bundle)]));
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
    out.push(deployment(ns, &plan.image));
    let mut location = serde_json::to_value(&plan.location).expect("a location serializes");
    location["metadata"] = meta(LOCATION, Some(ns));
    out.push(location);
    out.push(webhook(ns, &w.ca_cert));
    out
}

/// The chart's RBAC with its default values (`rbac.secretsScope: namespace`, restores on).
fn rbac(ns: &str) -> Vec<Value> {
    let core = [
        "configmaps",
        "endpoints",
        "limitranges",
        "namespaces",
        "persistentvolumeclaims",
        "persistentvolumes",
        "pods",
        "podtemplates",
        "replicationcontrollers",
        "resourcequotas",
        "serviceaccounts",
        "services",
    ];
    let groups = [
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "snapshot.storage.k8s.io",
        "storage.k8s.io",
    ];
    let subject = json!([{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]);
    let rbac_v1 = "rbac.authorization.k8s.io/v1";
    let backup_role = json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
    "metadata": meta(&cluster_name(ns, "-backup"), None),
    "rules": [
        {"apiGroups": [""], "resources": core, "verbs": ["get", "list"]},
        {"apiGroups": groups, "resources": ["*"], "verbs": ["get", "list"]},
    ]});
    // Named resources only: "*" would also match subresources (pods/exec, serviceaccounts/token).
    let write = json!(["create", "update", "patch"]);
    let mut restore_rules = vec![json!({"apiGroups": [""], "resources": core, "verbs": write})];
    restore_rules.extend(RESTORE_RESOURCES.iter().map(
        |(group, resources)| json!({"apiGroups": [group], "resources": resources, "verbs": write}),
    ));
    let restore_role = json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
        "metadata": meta(&cluster_name(ns, "-restore"), None), "rules": restore_rules});
    let cluster_binding = |suffix: &str| {
        let name = cluster_name(ns, suffix);
        json!({"apiVersion": rbac_v1, "kind": "ClusterRoleBinding", "metadata": meta(&name, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": subject})
    };
    vec![
        json!({"apiVersion": rbac_v1, "kind": "Role", "metadata": meta(NAME, Some(ns)),
        "rules": [
            // What the server's code does to each kind (the chart's rules, same comments).
            {"apiGroups": ["velero.io"], "resources": ["backupstoragelocations"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["velero.io"], "resources": ["backups"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["restores"],
             "verbs": ["get", "list", "watch", "patch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["downloadrequests"],
             "verbs": ["get", "list", "watch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["schedules"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["velero.io"], "resources": ["deletebackuprequests"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["velero.io"],
             "resources": ["backups/status", "restores/status", "deletebackuprequests/status"],
             "verbs": ["update", "patch"]},
            {"apiGroups": ["velero.io"],
             "resources": ["backupstoragelocations/status", "downloadrequests/status",
                           "schedules/status"],
             "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "create", "update", "patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        ]}),
        json!({"apiVersion": rbac_v1, "kind": "RoleBinding", "metadata": meta(NAME, Some(ns)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
               "subjects": subject}),
        backup_role,
        cluster_binding("-backup"),
        restore_role,
        cluster_binding("-restore"),
    ]
}

fn service(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(NAME, Some(ns)),
    "spec": {"type": "ClusterIP", "selector": selector(), "ports": [
        {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"},
    ]}})
}

/// The chart's Deployment with its default values, one replica as Velero's install runs.
fn deployment(ns: &str, image: &str) -> Value {
    let hardened = json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                          "privileged": false, "capabilities": {"drop": ["ALL"]},
                          "seccompProfile": {"type": "RuntimeDefault"}});
    let probe = |initial: u32, period: u32, path: &str| {
        json!({"httpGet": {"path": path, "port": "metrics"}, "initialDelaySeconds": initial,
               "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": 3})
    };
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(NAME, Some(ns)),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": selector()},
            "template": {
                "metadata": {"labels": labels(), "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": METRICS_PORT.to_string(),
                    "prometheus.io/path": "/metrics"}},
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": true,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                                        "runAsGroup": 65532, "fsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "server",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": [
                            "server",
                            "--namespace=$(VELERO_NAMESPACE)",
                            // The RBAC below is the chart's default: Secrets only here.
                            "--secrets-scope=namespace",
                            format!("--metrics-listen=0.0.0.0:{METRICS_PORT}"),
                            format!("--webhook-listen=0.0.0.0:{WEBHOOK_PORT}"),
                            "--tls-cert-file=/certs/tls.crt",
                            "--tls-key-file=/certs/tls.key",
                            format!("--restore-spool-limit={TMP_SIZE}"),
                        ],
                        "env": [
                            {"name": "VELERO_NAMESPACE", "valueFrom": field("metadata.namespace")},
                            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
                        ],
                        "ports": [
                            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                            {"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"},
                        ],
                        "livenessProbe": probe(5, 10, "/healthz"),
                        "readinessProbe": probe(2, 5, "/readyz"),
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "500m", "memory": "256Mi"}},
                        "securityContext": hardened,
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "webhook-certs", "mountPath": "/certs", "readOnly": true},
                        ],
                    }],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}},
                        // 0440: the server runs as the fsGroup and only reads.
                        {"name": "webhook-certs", "secret": {
                            "secretName": WEBHOOK_SECRET, "defaultMode": 288,
                            "items": [{"key": "tls.crt", "path": "tls.crt"},
                                      {"key": "tls.key", "path": "tls.key"}]}},
                    ],
                },
            },
        },
    })
}

fn webhook(ns: &str, ca_cert: &[u8]) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": meta(&cluster_name(ns, ""), None),
        "webhooks": [{
            "name": "bsl.veloxide.velero.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 5,
            "matchPolicy": "Equivalent",
            "clientConfig": {
                "service": {"name": NAME, "namespace": ns,
                            "path": "/validate-velero-io-v1-backupstoragelocation", "port": 443},
                "caBundle": STANDARD.encode(ca_cert),
            },
            "rules": [{"apiGroups": ["velero.io"], "apiVersions": ["v1"],
                       "operations": ["CREATE", "UPDATE"],
                       "resources": ["backupstoragelocations"], "scope": "Namespaced"}],
        }, {
            "name": "schedule.veloxide.velero.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 5,
            "matchPolicy": "Equivalent",
            "clientConfig": {
                "service": {"name": NAME, "namespace": ns,
                            "path": "/validate-velero-io-v1-schedule", "port": 443},
                "caBundle": STANDARD.encode(ca_cert),
            },
            "rules": [{"apiGroups": ["velero.io"], "apiVersions": ["v1"],
                       "operations": ["CREATE", "UPDATE"],
                       "resources": ["schedules"], "scope": "Namespaced"}],
        }],
    })
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
            }
            assert_ne!(rule["apiGroups"], json!(["*"]), "{rule}");
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
                        resources == r#"["backups"]"# || resources == r#"["deletebackuprequests"]"#,
                        "{rule}"
                    );
                }
            }
        }
    }

    #[test]
    fn namespaced_objects_name_the_namespace() {
        for o in objects(&plan("backup", false)) {
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
