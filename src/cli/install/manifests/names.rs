//! The names and metadata every object `veloxide install` makes shares.

use serde_json::{Value, json};

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

pub fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/version": env!("CARGO_PKG_VERSION"),
        "app.kubernetes.io/managed-by": "veloxide-install",
        "app.kubernetes.io/part-of": "veloxide",
    })
}

pub fn selector() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME})
}

pub fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}
