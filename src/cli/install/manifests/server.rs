//! The server's Service and Deployment and the webhook configuration that calls it, as the
//! chart renders them with its default values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::webhook::{VALIDATE_BSL_PATH, VALIDATE_SCHEDULE_PATH};

use super::names::{NAME, WEBHOOK_SECRET, cluster_name, labels, meta, selector};

const METRICS_PORT: u16 = 8085;
const WEBHOOK_PORT: u16 = 9443;
/// The server's /tmp volume, where restores spool archives (the chart's restoreSpool.sizeLimit).
const TMP_SIZE: &str = "1Gi";

pub(super) fn service(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(NAME, Some(ns)),
    "spec": {"type": "ClusterIP", "selector": selector(), "ports": [
        {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"},
    ]}})
}

/// The chart's Deployment with its default values, one replica as Velero's install runs;
/// `flags` added as the chart's values add them (`--hooks-enabled`, the restore guards).
pub(super) fn deployment(ns: &str, image: &str, flags: &[&str]) -> Value {
    let hardened = json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                          "privileged": false, "capabilities": {"drop": ["ALL"]},
                          "seccompProfile": {"type": "RuntimeDefault"}});
    let probe = |initial: u32, period: u32, path: &str| {
        json!({"httpGet": {"path": path, "port": "metrics"}, "initialDelaySeconds": initial,
               "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": 3})
    };
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let mut args = vec![
        "server".to_owned(),
        "--namespace=$(VELERO_NAMESPACE)".to_owned(),
        // The RBAC is the chart's default: Secrets only here.
        "--secrets-scope=namespace".to_owned(),
        format!("--metrics-listen=0.0.0.0:{METRICS_PORT}"),
        format!("--webhook-listen=0.0.0.0:{WEBHOOK_PORT}"),
        "--tls-cert-file=/certs/tls.crt".to_owned(),
        "--tls-key-file=/certs/tls.key".to_owned(),
        format!("--restore-spool-limit={TMP_SIZE}"),
        // Restored pods whose volumes were backed up file by file wait in an init container
        // of the server's own image (Velero's restore-wait), as Velero uses its own.
        format!("--restore-helper-image={image}"),
    ];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
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
                        "args": args,
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

pub(super) fn webhook(ns: &str, ca_cert: &[u8]) -> Value {
    // One entry per validated kind, served on the router's path for it.
    let entry = |name: &str, path: &str, resource: &str| {
        json!({
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 5,
            "matchPolicy": "Equivalent",
            "clientConfig": {
                "service": {"name": NAME, "namespace": ns, "path": path, "port": 443},
                "caBundle": STANDARD.encode(ca_cert),
            },
            "rules": [{"apiGroups": ["velero.io"], "apiVersions": ["v1"],
                       "operations": ["CREATE", "UPDATE"],
                       "resources": [resource], "scope": "Namespaced"}],
        })
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": meta(&cluster_name(ns, ""), None),
        "webhooks": [
            entry("bsl.veloxide.velero.io", VALIDATE_BSL_PATH, "backupstoragelocations"),
            entry("schedule.veloxide.velero.io", VALIDATE_SCHEDULE_PATH, "schedules"),
        ],
    })
}
