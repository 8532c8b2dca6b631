//! A restore dry run (a veloxide extension: `restore create --dry-run`, `spec.dryRun`; Velero
//! issue #448), on a real control plane with `veloxide server`: against a namespace where one
//! backed-up object exists unchanged, one exists changed, one is gone, one a
//! ValidatingAdmissionPolicy refuses and one (a RoleBinding) the chart's restore role may not
//! create, it lists per object what would be created, skipped as existing, or refused by
//! admission or RBAC, ends PartiallyFailed, and changes nothing in the cluster.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::api::{Api, Patch, PatchParams, PostParams};
use restore_support::*;
use serde_json::json;
use server_support::{Server, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_what_would_happen_and_changes_nothing() {
    let world = World::start().await;
    let ns = "app";
    put(
        &world,
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    for name in ["same", "changed", "fresh"] {
        put(
            &world,
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": {"a": "1"}}),
        )
        .await;
    }
    put(&world, "configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "denied", "namespace": ns, "labels": {"deny": "yes"}}, "data": {"a": "1"}})).await;
    put(
        &world,
        "clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "app-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await;
    put(&world, "rolebindings", json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "readers", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "app-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})).await;

    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    world
        .create_available_location(
            "vault",
            json!({"serverSideEncryption": "AES256"}),
            json!({}),
        )
        .await;
    backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": [ns], "storageLocation": "vault"}),
        Duration::from_secs(60),
    )
    .await;

    // Since the backup: two objects gone, one changed, and a policy refusing one.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(world.client.clone(), ns);
    for gone in ["fresh", "denied"] {
        cms.delete(gone, &Default::default()).await.unwrap();
    }
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(world.client.clone(), ns);
    bindings
        .delete("readers", &Default::default())
        .await
        .unwrap();
    cms.patch(
        "changed",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .unwrap();
    put(&world, "validatingadmissionpolicies", json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "no-denied"},
        "spec": {"failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["configmaps"]}]},
            "validations": [{"expression": "!has(object.metadata.labels) || !('deny' in object.metadata.labels)",
                "message": "configmaps labelled deny are refused here"}]}})).await;
    put(
        &world,
        "validatingadmissionpolicybindings",
        json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "no-denied"},
        "spec": {"policyName": "no-denied", "validationActions": ["Deny"]}}),
    )
    .await;
    // The policy is in force once a dry-run create of such a ConfigMap is refused.
    let probe: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "probe", "labels": {"deny": "yes"}}}))
    .unwrap();
    eventually(
        "the admission policy refuses",
        Duration::from_secs(30),
        || {
            let cms = cms.clone();
            let probe = probe.clone();
            async move {
                cms.create(
                    &PostParams {
                        dry_run: true,
                        ..Default::default()
                    },
                    &probe,
                )
                .await
                .is_err()
            }
        },
    )
    .await;
    let configmaps_before = versions(&world, "v1", "configmaps", ns).await;
    let bindings_before =
        versions(&world, "rbac.authorization.k8s.io/v1", "rolebindings", ns).await;

    let out = cli(
        &world,
        &[
            "restore",
            "create",
            "dry",
            "--from-backup",
            "b1",
            "--dry-run",
        ],
    )
    .await;
    let text = stdout(&out);
    assert!(
        !out.status.success(),
        "refusals end the dry run PartiallyFailed (exit 1)\n{text}\n{}",
        stderr(&out)
    );

    let mut failures = Vec::new();
    for want in [
        "app/same(skipped)",
        "app/changed(skipped)",
        "app/fresh(would be created)",
        "app/denied(refused)",
        "app/readers(refused)",
        "Phase:        PartiallyFailed",
        "Dry run: nothing in the cluster was changed",
    ] {
        if !text.contains(want) {
            failures.push(format!("stdout lacks {want:?}"));
        }
    }
    let log = restore_log(&world, "dry");
    for want in [
        "configmaps app/denied would be refused by admission",
        "rolebindings.rbac.authorization.k8s.io app/readers would be refused by RBAC",
        "Dry run: configmaps app/fresh would be created",
        "Skipped configmaps app/same: it already exists and is unchanged from the backup",
        "could not restore, configmaps app/changed already exists",
    ] {
        if !log.contains(want) {
            failures.push(format!("log lacks {want:?}"));
        }
    }
    if versions(&world, "v1", "configmaps", ns).await != configmaps_before {
        failures.push("the dry run changed ConfigMaps".into());
    }
    if versions(&world, "rbac.authorization.k8s.io/v1", "rolebindings", ns).await != bindings_before
    {
        failures.push("the dry run changed RoleBindings".into());
    }
    assert!(
        failures.is_empty(),
        "{}\nstdout:\n{text}\nlog:\n{log}",
        failures.join("\n")
    );
}
