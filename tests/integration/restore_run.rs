//! `veloxide server` restores a backup it wrote to moto over HTTPS (the location trusts moto's
//! CA through caCertRef): into a mapped namespace with every object equal to the original
//! (ConfigMap and Secret data byte for byte), in dependency order, with existingResourcePolicy
//! `none` leaving a changed object alone and `update` putting it back; `restore create --wait`,
//! `restore logs`, `restore describe` from the CLI; the files under `restores/<name>/`; Velero's
//! restore metrics.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use kube::api::{Patch, PatchParams};
use restore_support::*;
use serde_json::{Value, json};
use server_support::{Server, World, sample};
use veloxide::api::RestorePhase;

/// One backup, then restores from it in steps each named for what it checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_round_trip_order_and_existing_resource_policy() {
    // existingResourcePolicy "update" is an opt-in of the chart's restore identity.
    let world = World::start_with_rbac(&[
        "rbac.secretsScope=cluster",
        server_support::RESTORE_WIDGETS,
        "rbac.restore.existingResourcePolicyUpdate=true",
    ])
    .await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 3).await;
    // A Secret whose data is every byte value: compared byte for byte after the restore.
    let all_bytes: Vec<u8> = (0..=255).collect();
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "binary", "namespace": "shop"}, "type": "Opaque",
        "data": {"bytes": base64_of(&all_bytes)}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "web", "namespace": "shop"}}),
    )
    .await;
    let server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": ["shop"], "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;

    let before = world.cluster.requests().unwrap().len();
    restored_with_the_cli_into_a_mapped_namespace(&world).await;
    every_object_equals_its_original(&world, &all_bytes).await;
    created_in_dependency_order(&world, before);
    the_files_log_and_description_of_the_restore(&world).await;
    a_changed_object_is_left_by_none_and_put_back_by_update(&world).await;
    an_unknown_policy_and_a_missing_backup_fail_validation(&world).await;
    velero_s_restore_metrics_count_the_restores(&server).await;
}

/// Restore into a mapped namespace with the CLI, waiting for it.
async fn restored_with_the_cli_into_a_mapped_namespace(world: &World) {
    let out = cli(
        world,
        &[
            "restore",
            "create",
            "r1",
            "--from-backup",
            "b1",
            "--namespace-mappings",
            "shop:shop-copy",
            "--wait",
        ],
    )
    .await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Restore completed with status: Completed"),
        "{}",
        stdout(&out)
    );
    let r1 = restores(world).get("r1").await.unwrap();
    let status = r1.status.clone().unwrap();
    assert_eq!(status.errors, None, "{status:?}");
    let progress = status.progress.unwrap();
    assert_eq!(progress.total_items, progress.items_restored);
}

/// Every object equal to its original, data byte for byte.
async fn every_object_equals_its_original(world: &World, all_bytes: &[u8]) {
    for (api_version, plural, name) in [
        ("v1", "configmaps", "settings-0"),
        ("v1", "configmaps", "settings-2"),
        ("v1", "secrets", "db-password"),
        ("v1", "secrets", "binary"),
        ("v1", "serviceaccounts", "web"),
        ("apps/v1", "deployments", "web"),
        ("example.com/v1", "widgets", "gear"),
    ] {
        let original = get(world, api_version, plural, "shop", name).await.unwrap();
        let copy = get(world, api_version, plural, "shop-copy", name)
            .await
            .unwrap_or_else(|| panic!("{plural}/{name} was not restored"));
        assert_eq!(comparable(&copy), comparable(&original), "{plural}/{name}");
        assert_ne!(copy["metadata"]["uid"], original["metadata"]["uid"]);
        assert_eq!(copy["metadata"]["labels"]["velero.io/restore-name"], "r1");
    }
    let secret = get(world, "v1", "secrets", "shop-copy", "binary")
        .await
        .unwrap();
    assert_eq!(secret["data"]["bytes"], base64_of(all_bytes));
    let namespace = get_cluster(world, "shop-copy").await;
    assert_eq!(namespace["metadata"]["labels"]["team"], "shop");
}

/// Dependency order, from the API server's audit log (the server's own writes since `before`):
/// every create of one stage answered before the first create of the next. A stage is kinds
/// that depend on none of each other (`restore::stages`): a Namespace before what is in it, a
/// ServiceAccount before Secrets (a token Secret needs its account), Secrets and ConfigMaps
/// (together) before the Deployment whose pods mount them.
fn created_in_dependency_order(world: &World, before: usize) {
    let log = world.cluster.requests().unwrap().split_off(before);
    let creates = |path_end: &str| -> (usize, usize) {
        let at: Vec<usize> = log
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let path = r["requestURI"].as_str().unwrap().split('?').next().unwrap();
                r["verb"] == "create"
                    && r["user"]["username"] == "system:serviceaccount:velero:veloxide"
                    && path.ends_with(path_end)
            })
            .map(|(i, _)| i)
            .collect();
        match (at.first(), at.last()) {
            (Some(&first), Some(&last)) => (first, last),
            _ => panic!("no create of {path_end}"),
        }
    };
    let stages: [&[&str]; 4] = [
        &["/api/v1/namespaces"],
        &["/shop-copy/serviceaccounts"],
        &["/shop-copy/secrets", "/shop-copy/configmaps"],
        &["/shop-copy/deployments", "/shop-copy/widgets"],
    ];
    let order: Vec<(usize, usize)> = stages
        .iter()
        .map(|kinds| {
            let spans: Vec<(usize, usize)> = kinds.iter().map(|k| creates(k)).collect();
            (
                spans.iter().map(|s| s.0).min().unwrap(),
                spans.iter().map(|s| s.1).max().unwrap(),
            )
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0].1 < w[1].0),
        "creation order (first, last) per stage {stages:?}: {order:?}"
    );
}

/// The restore's files, in Velero's layout, and its log through the CLI (caCertRef trust).
async fn the_files_log_and_description_of_the_restore(world: &World) {
    let keys = list_keys(world, "plain/restores/r1/");
    assert_eq!(
        keys,
        [
            "restore-r1-logs.gz",
            "restore-r1-resource-list.json.gz",
            "restore-r1-results.gz",
            "veloxide-owner.json"
        ]
        .map(|f| format!("plain/restores/r1/{f}"))
    );
    let list: Value = serde_json::from_slice(&gunzip(&download(
        world,
        "plain/restores/r1/restore-r1-resource-list.json.gz",
    )))
    .unwrap();
    assert!(
        list["v1/ConfigMap"]
            .as_array()
            .unwrap()
            .contains(&json!("shop-copy/settings-0(created)")),
        "{list}"
    );
    let logs = cli(world, &["restore", "logs", "r1"]).await;
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        stdout(&logs).contains("Created configmaps shop-copy/settings-0"),
        "{}",
        stdout(&logs)
    );
    assert!(
        stdout(&logs).contains("restore=velero/r1"),
        "{}",
        stdout(&logs)
    );
    let describe = cli(world, &["restore", "describe", "r1", "--details"]).await;
    assert!(describe.status.success(), "{}", stderr(&describe));
    assert!(
        stdout(&describe).contains("Phase:        Completed"),
        "{}",
        stdout(&describe)
    );
    assert!(
        stdout(&describe).contains("shop-copy/web(created)"),
        "{}",
        stdout(&describe)
    );
}

/// A changed object: `none` leaves it and warns, `update` puts the backup's data back.
async fn a_changed_object_is_left_by_none_and_put_back_by_update(world: &World) {
    let cms = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        world.client.clone(),
        "shop-copy",
    );
    cms.patch(
        "settings-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"value": "changed", "extra": "x"}})),
    )
    .await
    .unwrap();
    let mapping = json!({"shop": "shop-copy"});
    create_restore(
        world,
        "r-none",
        json!({"backupName": "b1", "namespaceMapping": mapping}),
    )
    .await;
    let none = wait_restore(world, "r-none", RestorePhase::Completed).await;
    // Every item counts as processed, as Velero's progress does, so `--wait` ends on "N of N"
    // (it ended on "N-1 of N" with the one left as it was).
    let progress = none.status.as_ref().unwrap().progress.clone().unwrap();
    assert_eq!(
        progress.total_items, progress.items_restored,
        "{progress:?}"
    );
    // One object exists and differs from the backup: the ConfigMap changed above. (The
    // namespace shop-copy exists too; only the label the API server sets to its name differs,
    // which is no difference.) The results name it, and nothing else.
    let results: Value = serde_json::from_slice(&gunzip(&download(
        world,
        "plain/restores/r-none/restore-r-none-results.gz",
    )))
    .unwrap();
    let warned = results["warnings"]["namespaces"]["shop-copy"].to_string();
    assert!(warned.contains("settings-0"), "{results}");
    assert_eq!(results["warnings"]["cluster"], Value::Null, "{results}");
    assert_eq!(none.status.unwrap().warnings, Some(1), "{results}");
    let cm = get(world, "v1", "configmaps", "shop-copy", "settings-0")
        .await
        .unwrap();
    assert_eq!(cm["data"]["value"], "changed");
    create_restore(
        world,
        "r-update",
        json!({"backupName": "b1", "namespaceMapping": mapping,
        "existingResourcePolicy": "update"}),
    )
    .await;
    let update = wait_restore(world, "r-update", RestorePhase::Completed).await;
    assert_eq!(update.status.unwrap().warnings, None);
    let cm = get(world, "v1", "configmaps", "shop-copy", "settings-0")
        .await
        .unwrap();
    assert_eq!(cm["data"], json!({"value": "shop-0"}));
    assert_eq!(
        cm["metadata"]["labels"]["velero.io/restore-name"],
        "r-update"
    );
}

/// Validation: an unknown policy and a missing backup.
async fn an_unknown_policy_and_a_missing_backup_fail_validation(world: &World) {
    create_restore(
        world,
        "r-bad",
        json!({"backupName": "nope", "existingResourcePolicy": "replace"}),
    )
    .await;
    let bad = wait_restore(world, "r-bad", RestorePhase::FailedValidation).await;
    let errors = bad.status.unwrap().validation_errors.unwrap();
    assert!(
        errors.iter().any(|e| e.contains("existingResourcePolicy")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("\"nope\" does not exist")),
        "{errors:?}"
    );
}

/// Velero's restore metrics: three attempts, three successes, one failed validation.
async fn velero_s_restore_metrics_count_the_restores(server: &Server) {
    let metrics = server.metrics().await;
    let s = |m: &str| sample(&metrics, m, &[("schedule", "")]).unwrap_or(-1.0);
    assert_eq!(s("velero_restore_attempt_total"), 3.0, "{metrics}");
    assert_eq!(s("velero_restore_success_total"), 3.0);
    assert_eq!(s("velero_restore_validation_failed_total"), 1.0);
    assert_eq!(s("velero_restore_failed_total"), 0.0);
}

async fn get_cluster(world: &World, name: &str) -> Value {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

/// A backup holding a CustomResourceDefinition and its resources, restored into a cluster
/// that no longer has either: the definition is created, waited for until the API server
/// serves it (Velero's `crdAvailable`), and only then its resources, all of them restored.
/// (On this single API server a definition is served as soon as its create is answered, so
/// this passes without the wait too; an API server that establishes late would not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_is_established_before_its_resources_are_restored() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    const WIDGETS: &str = "widgets.example.com";
    let world = World::start().await;
    create_widget_crd(&world).await;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(world.client.clone());
    let labelled = json!({"metadata": {"labels": {"restore-test": "crd"}}});
    crds.patch(WIDGETS, &PatchParams::default(), &Patch::Merge(&labelled))
        .await
        .unwrap();
    // Not labelled, so not in the backup: the widgets come right after their definition.
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}}),
    )
    .await;
    const COUNT: usize = 20;
    for i in 0..COUNT {
        create(
            &world,
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": format!("w-{i:02}"), "namespace": "lab",
                         "labels": {"restore-test": "crd"}},
            "spec": {"teeth": i}}),
        )
        .await;
    }
    let _server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "b-crd",
        json!({"includedNamespaces": ["lab"], "includeClusterResources": true,
               "labelSelector": {"matchLabels": {"restore-test": "crd"}},
               "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;

    // The definition goes, and with it every widget.
    crds.delete(WIDGETS, &Default::default()).await.unwrap();
    eventually(
        "the widget CRD is gone",
        Duration::from_secs(60),
        || async { crds.get_opt(WIDGETS).await.unwrap().is_none() },
    )
    .await;

    create_restore(&world, "r-crd", json!({"backupName": "b-crd"})).await;
    let restore = wait_restore(&world, "r-crd", RestorePhase::Completed).await;
    let status = restore.status.unwrap();
    assert_eq!(status.errors, None, "{status:?}");
    for i in 0..COUNT {
        let name = format!("w-{i:02}");
        let widget = get(&world, "example.com/v1", "widgets", "lab", &name)
            .await
            .unwrap_or_else(|| panic!("widget {name} was not restored"));
        assert_eq!(widget["spec"]["teeth"], i);
    }
}
