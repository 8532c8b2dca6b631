//! What a backup takes, on a real control plane with `veloxide server`, read back from the
//! archive in the store:
//! - additional items as Velero's item actions take them: in a namespaced backup a Pod brings
//!   its PriorityClass and its claim, the bound claim its PersistentVolume, a ServiceAccount
//!   the ClusterRoleBinding naming it and that binding's ClusterRole (an unrelated binding
//!   stays out);
//! - `orderedResources`: the named ConfigMaps come first in the archive, in the order given;
//! - the scoped filters: only the namespaced resources named, Namespaces, the additional
//!   cluster-scoped items unless `excludedClusterScopedResources` names them; a claim a pod
//!   brings is left out when the namespaced filter leaves out claims, unless the pod carries
//!   `backup.velero.io/must-include-additional-items: "true"` (which also beats the exclusion
//!   label, and is not kept in the archived pod);
//! - the scoped filters mixed with the old ones fail validation, as in Velero;
//! - `--features=EnableAPIGroupVersions`: a custom resource served at two versions is in the
//!   archive at both, in Velero's layout (`v1-preferredversion/` and `v2beta1/`).

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use server_support::{Server, World};
use veloxide::api::BackupPhase;

const WAIT: Duration = Duration::from_secs(60);

/// The archive's item paths (the unversioned copies), in the order they were written.
fn archive_paths(world: &World, backup: &str) -> Vec<String> {
    archive_raw_paths(world, backup)
        .into_iter()
        .filter(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            // resources/<gr>/namespaces|cluster/...: not a versioned copy.
            matches!(parts.get(2), Some(&"namespaces") | Some(&"cluster"))
        })
        .collect()
}

/// Every entry path of the archive, in the order written.
fn archive_raw_paths(world: &World, backup: &str) -> Vec<String> {
    let key = list_keys(world, "")
        .into_iter()
        .find(|k| k.ends_with(&format!("backups/{backup}/{backup}.tar.gz")))
        .unwrap();
    let bytes = download(world, &key);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .filter(|p| p.starts_with("resources/"))
        .collect()
}

/// An item's JSON in the archive.
fn archived(world: &World, backup: &str, path: &str) -> Option<Value> {
    let key = list_keys(world, "")
        .into_iter()
        .find(|k| k.ends_with(&format!("backups/{backup}/{backup}.tar.gz")))
        .unwrap();
    let mut entries = untar(&download(world, &key));
    entries
        .remove(path)
        .map(|b| serde_json::from_slice(&b).unwrap())
}

/// Note a failure when `path` is (or is not) among `paths`.
fn expect(failures: &mut Vec<String>, paths: &[String], path: &str, want: bool, why: &str) {
    if paths.iter().any(|p| p == path) != want {
        let state = if want { "missing" } else { "present" };
        failures.push(format!("{why}: {path} {state}"));
    }
}

async fn pod(world: &World, name: &str, claim: &str, annotations: Value) {
    put(
        world,
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "app", "annotations": annotations},
        "spec": {"serviceAccountName": "web", "priorityClassName": "high",
            "containers": [{"name": "main", "image": "busybox"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}),
    )
    .await;
}

async fn claim(world: &World, name: &str, labels: Value) {
    put(
        world,
        "persistentvolumeclaims",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "app", "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
            "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_take_additional_items_order_and_scoped_filters_as_velero() {
    let world = World::start().await;
    put(
        &world,
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    put(
        &world,
        "serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "web", "namespace": "app"}}),
    )
    .await;
    put(
        &world,
        "clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "web-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await;
    for (name, subject) in [("web-reads", "web"), ("unrelated", "someone-else")] {
        put(&world, "clusterrolebindings", json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "web-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": subject, "namespace": "app"}]})).await;
    }
    put(
        &world,
        "priorityclasses",
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 1000}),
    )
    .await;
    put(
        &world,
        "persistentvolumes",
        json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-data"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "storageClassName": "", "hostPath": {"path": "/tmp/pv-data"},
            "claimRef": {"namespace": "app", "name": "data"}}}),
    )
    .await;
    claim(&world, "data", json!({})).await;
    // No PV controller runs on this control plane: the claim is bound as it would bind it.
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(world.client.clone(), "app");
    claims
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"volumeName": "pv-data"}})),
        )
        .await
        .unwrap();
    claims
        .patch_status(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await
        .unwrap();
    claim(
        &world,
        "kept",
        json!({"velero.io/exclude-from-backup": "true"}),
    )
    .await;
    pod(&world, "web", "data", json!({})).await;
    pod(
        &world,
        "keeper",
        "kept",
        json!({"backup.velero.io/must-include-additional-items": "true"}),
    )
    .await;
    for name in ["c1", "c2", "c3"] {
        put(
            &world,
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "app"}, "data": {"k": name}}),
        )
        .await;
    }

    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
                        {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    {"name": "v2beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema":
                        {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
        .unwrap();
    let crds = Api::all(world.client.clone());
    crds.create(&Default::default(), &crd).await.unwrap();
    let established = kube::runtime::conditions::is_crd_established();
    tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(crds, "things.example.com", established),
    )
    .await
    .unwrap()
    .unwrap();
    put(
        &world,
        "things",
        json!({"apiVersion": "example.com/v1", "kind": "Thing",
        "metadata": {"name": "t1", "namespace": "app"}, "spec": {"size": 1}}),
    )
    .await;

    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &["--features=EnableAPIGroupVersions"],
    );
    server.wait_ready().await;
    world
        .create_available_location(
            "vault",
            json!({"serverSideEncryption": "AES256"}),
            json!({}),
        )
        .await;

    let mut failures = Vec::new();

    // The old filters, a namespaced backup.
    backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": ["app"], "storageLocation": "vault",
        "orderedResources": {"configmaps": "app/c3,app/c1"}}),
        WAIT,
    )
    .await;
    let b1 = archive_paths(&world, "b1");
    for (path, want, why) in [
        (
            "resources/persistentvolumeclaims/namespaces/app/data.json",
            true,
            "listed",
        ),
        (
            "resources/persistentvolumes/cluster/pv-data.json",
            true,
            "the bound claim's volume",
        ),
        (
            "resources/priorityclasses.scheduling.k8s.io/cluster/high.json",
            true,
            "the pods' PriorityClass",
        ),
        (
            "resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/web-reads.json",
            true,
            "the account's binding",
        ),
        (
            "resources/clusterroles.rbac.authorization.k8s.io/cluster/web-reader.json",
            true,
            "the binding's role",
        ),
        (
            "resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/unrelated.json",
            false,
            "a binding of another account",
        ),
        (
            "resources/persistentvolumeclaims/namespaces/app/kept.json",
            true,
            "must-include beats the exclusion label",
        ),
    ] {
        expect(&mut failures, &b1, path, want, why);
    }
    // EnableAPIGroupVersions: both served versions, in Velero's layout.
    let raw = archive_raw_paths(&world, "b1");
    for path in [
        "resources/things.example.com/namespaces/app/t1.json",
        "resources/things.example.com/v1-preferredversion/namespaces/app/t1.json",
        "resources/things.example.com/v2beta1/namespaces/app/t1.json",
    ] {
        expect(&mut failures, &raw, path, true, "EnableAPIGroupVersions");
    }
    let other = archived(
        &world,
        "b1",
        "resources/things.example.com/v2beta1/namespaces/app/t1.json",
    );
    if other.as_ref().map(|t| t["apiVersion"].clone()) != Some(json!("example.com/v2beta1")) {
        failures.push(format!("the v2beta1 copy: {other:?}"));
    }
    let configmaps: Vec<&str> = b1
        .iter()
        .filter_map(|p| p.strip_prefix("resources/configmaps/namespaces/app/"))
        .collect();
    if configmaps.get(..2) != Some(&["c3.json", "c1.json"][..]) {
        failures.push(format!(
            "orderedResources: configmaps in the archive {configmaps:?}"
        ));
    }

    // The scoped filters: pods and service accounts only, cluster roles excluded.
    backed_up(
        &world,
        "b2",
        json!({"includedNamespaces": ["app"], "storageLocation": "vault",
        "includedNamespaceScopedResources": ["pods", "serviceaccounts"],
        "excludedClusterScopedResources": ["clusterroles"]}),
        WAIT,
    )
    .await;
    let b2 = archive_paths(&world, "b2");
    for (path, want, why) in [
        ("resources/pods/namespaces/app/web.json", true, "included"),
        (
            "resources/namespaces/cluster/app.json",
            true,
            "Namespaces come with the scoped filters",
        ),
        (
            "resources/configmaps/namespaces/app/c1.json",
            false,
            "not included",
        ),
        (
            "resources/persistentvolumeclaims/namespaces/app/data.json",
            false,
            "claims are not in the namespaced filter",
        ),
        (
            "resources/persistentvolumes/cluster/pv-data.json",
            false,
            "its claim was left out",
        ),
        (
            "resources/persistentvolumeclaims/namespaces/app/kept.json",
            true,
            "must-include",
        ),
        (
            "resources/priorityclasses.scheduling.k8s.io/cluster/high.json",
            true,
            "a cluster-scoped additional item not excluded",
        ),
        (
            "resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/web-reads.json",
            true,
            "not excluded",
        ),
        (
            "resources/clusterroles.rbac.authorization.k8s.io/cluster/web-reader.json",
            false,
            "excluded by excludedClusterScopedResources",
        ),
    ] {
        expect(&mut failures, &b2, path, want, why);
    }
    let keeper = archived(&world, "b2", "resources/pods/namespaces/app/keeper.json").unwrap();
    if keeper["metadata"]["annotations"]
        .get("backup.velero.io/must-include-additional-items")
        .is_some()
    {
        failures.push(format!(
            "the must-include annotation was archived: {}",
            keeper["metadata"]
        ));
    }

    // Mixed with the old filters: refused, as Velero refuses it.
    create_backup(
        &world,
        "mixed",
        json!({"storageLocation": "vault", "includedResources": ["pods"],
        "includedClusterScopedResources": ["persistentvolumes"]}),
    )
    .await;
    let mixed = wait_phase(&world, "mixed", BackupPhase::FailedValidation, WAIT).await;
    let errors = mixed.status.unwrap().validation_errors.unwrap_or_default();
    if !errors.iter().any(|e| e.contains("cannot be used together")) {
        failures.push(format!("mixed filters: {errors:?}"));
    }
    assert!(
        failures.is_empty(),
        "{}\nb1: {b1:#?}\nb2: {b2:#?}",
        failures.join("\n")
    );
}
