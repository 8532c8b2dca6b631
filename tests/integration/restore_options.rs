//! What a Restore asks for besides filters, on a real control plane with `veloxide server`:
//! - `restoreStatus` restores `.status` through the status subresource for the kinds it names
//!   (a custom resource with a status subresource), except where the object's
//!   `velero.io/restore-status: "false"` annotation says no;
//! - `resourceModifier` applies Velero's rules from a ConfigMap: a JSON patch (with namespace,
//!   name regex and label selector conditions), a strategic merge patch (with a `matches`
//!   condition) and a merge patch (with a groupResource glob);
//! - Velero's change-storage-class and change-image-name ConfigMaps, found by label in the
//!   server's namespace, rewrite a claim's class and a Deployment's image;
//! - `--restore-resource-priorities` orders the kinds (configmaps first, claims last here);
//! - a ConfigMap with a bad rule, or none, fails validation naming the rule and the field.
//!
//! The dry run is `restore_dry_run.rs`.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::api::{Api, Patch, PatchParams, PostParams};
use restore_support::*;
use serde_json::{Value, json};
use server_support::{NS, Server, World};
use veloxide::api::RestorePhase;

const GADGETS: &str = "gadgets.example.com";

async fn create_gadget_crd(world: &World) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": GADGETS},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    let crds = Api::<CustomResourceDefinition>::all(world.client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let established = kube::runtime::conditions::is_crd_established();
    let wait = kube::runtime::wait::await_condition(crds, GADGETS, established);
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the gadget CRD is established")
        .unwrap();
}

/// A Gadget whose status (set through the subresource, as a controller sets it) is `status`.
async fn gadget(world: &World, ns: &str, name: &str, annotations: Value, status: Value) {
    let object = json!({"apiVersion": "example.com/v1", "kind": "Gadget",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"size": 1}});
    put(world, "gadgets", object.clone()).await;
    api_for(world, &object, "gadgets")
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
}

fn plugin_config_map(name: &str, plugin: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS,
            "labels": {"velero.io/plugin-config": "", plugin: "RestoreItemAction"}},
        "data": data})
}

const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: configmaps
    namespaces: [shop]
    resourceNameRegex: "^sett"
    labelSelector: {matchLabels: {tier: web}}
  patches:
  - {operation: add, path: /data/b, value: '"2"'}
- conditions:
    groupResource: deployments.apps
    matches: [{path: /spec/replicas, value: "2"}]
  strategicPatches:
  - patchData: |
      spec:
        template:
          spec:
            containers:
            - name: nginx
              env: [{name: MOVED, value: "yes"}]
- conditions: {groupResource: "*.example.com"}
  mergePatches:
  - patchData: '{"metadata": {"labels": {"patched": "merge"}}}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_apply_status_modifiers_plugin_config_maps_and_priorities() {
    let world = World::start_with_rbac(&[
        "rbac.secretsScope=cluster",
        "rbac.restore.resources.example\\.com={gadgets}",
        "rbac.restore.status.example\\.com={gadgets}",
        "rbac.backup.customResourceGroups={example.com}",
    ])
    .await;
    create_gadget_crd(&world).await;
    let ns = "shop";
    put(
        &world,
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    put(
        &world,
        "storageclasses",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast"}, "provisioner": "example.com/none"}),
    )
    .await;
    put(
        &world,
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns, "labels": {"tier": "web"}},
        "data": {"a": "1"}}),
    )
    .await;
    put(
        &world,
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "repo1/nginx:1"}]}}}}),
    )
    .await;
    put(
        &world,
        "persistentvolumeclaims",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
            "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    gadget(
        &world,
        ns,
        "g1",
        json!({}),
        json!({"ready": true, "count": 3}),
    )
    .await;
    gadget(
        &world,
        ns,
        "g2",
        json!({"velero.io/restore-status": "false"}),
        json!({"ready": true}),
    )
    .await;

    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &["--restore-resource-priorities=configmaps,-,persistentvolumeclaims"],
    );
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
    // No pvc-protection controller runs on this control plane: the claim's finalizer would
    // hold the namespace for ever.
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(world.client.clone(), ns);
    claims
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    delete_namespace(&world, ns).await;

    put(
        &world,
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "rules", "namespace": NS}, "data": {"rules.yaml": RULES}}),
    )
    .await;
    put(
        &world,
        "configmaps",
        plugin_config_map(
            "storage-classes",
            "velero.io/change-storage-class",
            json!({"standard": "fast"}),
        ),
    )
    .await;
    put(
        &world,
        "configmaps",
        plugin_config_map(
            "images",
            "velero.io/change-image-name",
            json!({"case1": "repo1/,repo2/"}),
        ),
    )
    .await;

    create_restore(
        &world,
        "r1",
        json!({"backupName": "b1",
        "resourceModifier": {"kind": "ConfigMap", "name": "rules"},
        "restoreStatus": {"includedResources": [GADGETS]}}),
    )
    .await;
    let restore = wait_restore(&world, "r1", RestorePhase::Completed).await;
    assert_eq!(
        restore.status.as_ref().unwrap().warnings,
        None,
        "{:?}",
        restore.status
    );

    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let settings = get(&world, "v1", "configmaps", ns, "settings")
        .await
        .unwrap();
    check(
        settings["data"] == json!({"a": "1", "b": "2"}),
        format!("JSON patch: {}", settings["data"]),
    );
    let web = get(&world, "apps/v1", "deployments", ns, "web")
        .await
        .unwrap();
    let nginx = &web["spec"]["template"]["spec"]["containers"][0];
    check(
        nginx["image"] == "repo2/nginx:1",
        format!("change-image-name: {}", nginx["image"]),
    );
    check(
        nginx["env"] == json!([{"name": "MOVED", "value": "yes"}]),
        format!("strategic patch: {nginx}"),
    );
    let claim = get(&world, "v1", "persistentvolumeclaims", ns, "data")
        .await
        .unwrap();
    check(
        claim["spec"]["storageClassName"] == "fast",
        format!("change-storage-class: {}", claim["spec"]),
    );
    let g1 = get(&world, "example.com/v1", "gadgets", ns, "g1")
        .await
        .unwrap();
    check(
        g1["status"] == json!({"ready": true, "count": 3}),
        format!("restoreStatus: {g1}"),
    );
    check(
        g1["metadata"]["labels"]["patched"] == "merge",
        format!("merge patch: {g1}"),
    );
    check(
        g1["metadata"]["labels"]["velero.io/restore-name"] == "r1",
        format!("restore labels: {g1}"),
    );
    let g2 = get(&world, "example.com/v1", "gadgets", ns, "g2")
        .await
        .unwrap();
    check(
        g2.get("status").is_none(),
        format!("the annotation keeps g2's status out: {g2}"),
    );

    // The order of creation, from the restore's log: the flag's high priority first, its low
    // priority last.
    let log = restore_log(&world, "r1");
    let created: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("msg=\"Created ").nth(1))
        .collect();
    check(
        created
            .first()
            .is_some_and(|c| c.starts_with("configmaps ")),
        format!("first created: {created:?}"),
    );
    check(
        created
            .last()
            .is_some_and(|c| c.starts_with("persistentvolumeclaims ")),
        format!("last created: {created:?}"),
    );

    // Bad rules fail validation, naming the rule and the field; so does a missing ConfigMap.
    put(&world, "configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "bad-rules", "namespace": NS},
        "data": {"rules.yaml": "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: ad, path: /x}]\n"}})).await;
    for (name, configmap, want) in [
        (
            "r-bad",
            "bad-rules",
            "resourceModifierRules[0].patches[0].operation: unsupported operation \"ad\"",
        ),
        (
            "r-missing",
            "no-such-rules",
            "failed to get resource modifiers configmap velero/no-such-rules",
        ),
    ] {
        create_restore(
            &world,
            name,
            json!({"backupName": "b1",
            "resourceModifier": {"kind": "ConfigMap", "name": configmap}}),
        )
        .await;
        let r = wait_restore(&world, name, RestorePhase::FailedValidation).await;
        let errors = r.status.unwrap().validation_errors.unwrap_or_default();
        check(
            errors
                .iter()
                .any(|e| e.starts_with("spec.resourceModifier") && e.contains(want)),
            format!("{name}: {errors:?}"),
        );
    }
    assert!(failures.is_empty(), "{}\nlog:\n{log}", failures.join("\n"));
}
