//! What RBAC cannot narrow, the restore refuses itself: a planted archive's ClusterRole
//! labelled `rbac.authorization.k8s.io/aggregate-to-view` (kube-controller-manager would copy
//! its rules into the built-in `view` role, and so to every user bound to it), and a new
//! Namespace labelled `pod-security.kubernetes.io/enforce: privileged` (its pods would be
//! admitted with host access) each end as an item error naming the chart value that allows
//! them, nothing created; a plain ClusterRole and a `restricted` Namespace in the same archive
//! are restored. The server runs with the chart's RBAC (`rbac.restore.resources` names
//! clusterroles by default, and creating namespaces is allowed), so only the restore's own
//! checks (`restore/actions/aggregation.rs`, `pod_security.rs`) stand in the way. And with
//! `rbac.restore.namespaces={app}`, a planted Pod bound for kube-system is Forbidden while
//! the archive's ConfigMap in app is restored.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use restore_support::*;
use serde_json::json;
use server_support::World;
use veloxide::api::RestorePhase;

const RBAC: &str = "rbac.authorization.k8s.io";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_cluster_roles_and_loosened_pod_security_are_refused() {
    let world = World::start().await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    let _server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "guards",
        json!({"includedNamespaces": ["app"], "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;
    let role = |name: &str, labels: serde_json::Value| {
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    };
    let namespace = |name: &str, level: &str| {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
            "labels": {"pod-security.kubernetes.io/enforce": level}}})
    };
    let planted = [
        entry(
            &format!("clusterroles.{RBAC}"),
            None,
            &role(
                "planted-view",
                json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
            ),
        ),
        entry(
            &format!("clusterroles.{RBAC}"),
            None,
            &role("plain-reader", json!({"app": "shop"})),
        ),
        entry("namespaces", None, &namespace("lax", "privileged")),
        entry("namespaces", None, &namespace("strict", "restricted")),
    ];
    plant_archive(&world, "plain", "guards", crafted_archive(&planted)).await;
    create_restore(&world, "r-guards", json!({"backupName": "guards"})).await;
    let restore = wait_restore_ended(&world, "r-guards").await;
    let results = restore_results(&world, "plain", "r-guards").to_string();

    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    check(
        restore.phase() == RestorePhase::PartiallyFailed
            && restore.status.as_ref().and_then(|s| s.errors) == Some(2),
        format!(
            "two item errors: {}",
            serde_json::to_string(&restore.status).unwrap()
        ),
    );
    check(
        results.contains("rbac.restore.aggregatedClusterRoles")
            && results.contains("rbac.restore.podSecurityLabels"),
        format!("the item errors name the chart values: {results}"),
    );
    let roles: kube::Api<k8s_openapi::api::rbac::v1::ClusterRole> =
        kube::Api::all(world.client.clone());
    check(
        roles.get_opt("planted-view").await.unwrap().is_none(),
        "no aggregated ClusterRole is created".into(),
    );
    check(
        roles.get_opt("plain-reader").await.unwrap().is_some(),
        format!("a plain ClusterRole is restored: {results}"),
    );
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    check(
        namespaces.get_opt("lax").await.unwrap().is_none(),
        "no privileged Namespace is created".into(),
    );
    let strict = namespaces.get_opt("strict").await.unwrap();
    check(
        strict
            .and_then(|n| n.metadata.labels)
            .and_then(|l| l.get("pod-security.kubernetes.io/enforce").cloned())
            .as_deref()
            == Some("restricted"),
        format!("a restricted Namespace is restored with its level: {results}"),
    );
    assert!(
        failures.is_empty(),
        "{} checks failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// With `rbac.restore.namespaces={app}`, a planted archive's Pod bound for another namespace
/// ends as a Forbidden item error naming the value, nothing created there, while the archive's
/// ConfigMap in `app` is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_restore_namespaces_a_planted_pod_elsewhere_is_forbidden() {
    let world = World::start().await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    // As `helm upgrade --set rbac.restore.namespaces={app}`: the RoleBinding in app, and the
    // cluster-wide binding of the restore role gone.
    world
        .apply_rbac(&[
            "rbac.secretsScope=cluster",
            server_support::RESTORE_WIDGETS,
            "rbac.restore.namespaces={app}",
        ])
        .await;
    let bindings: kube::Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> =
        kube::Api::all(world.client.clone());
    bindings
        .delete("veloxide-restore", &Default::default())
        .await
        .unwrap();
    let _server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "elsewhere",
        json!({"includedNamespaces": ["app"], "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;
    let planted = [
        entry(
            "configmaps",
            Some("app"),
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "app"}, "data": {"mode": "on"}}),
        ),
        entry(
            "pods",
            Some("kube-system"),
            &json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "miner", "namespace": "kube-system"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        ),
    ];
    plant_archive(&world, "plain", "elsewhere", crafted_archive(&planted)).await;
    // The authorizer sees the deleted binding through a watch: wait until it answers no.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = world
            .cluster
            .kubectl(
                &[
                    "auth",
                    "can-i",
                    "create",
                    "pods",
                    "-n",
                    "kube-system",
                    "--as",
                    "system:serviceaccount:velero:veloxide",
                ],
                None,
            )
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "no" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still granted");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    create_restore(&world, "r-elsewhere", json!({"backupName": "elsewhere"})).await;
    let restore = wait_restore_ended(&world, "r-elsewhere").await;
    let results = restore_results(&world, "plain", "r-elsewhere").to_string();
    assert_eq!(
        (
            restore.phase(),
            restore.status.as_ref().and_then(|s| s.errors)
        ),
        (RestorePhase::PartiallyFailed, Some(1)),
        "{results}"
    );
    assert!(results.contains("rbac.restore.namespaces"), "{results}");
    assert!(
        get(&world, "v1", "pods", "kube-system", "miner")
            .await
            .is_none(),
        "no Pod in kube-system"
    );
    assert!(
        get(&world, "v1", "configmaps", "app", "settings")
            .await
            .is_some(),
        "the ConfigMap in app is restored: {results}"
    );
}
