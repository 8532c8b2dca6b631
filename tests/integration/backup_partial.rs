//! A resource the server discovers but cannot list makes a backup PartiallyFailed, not Failed.
//! Here the API server itself refuses the list: the widgets CRD stores one object in a version
//! that needs its conversion webhook, and that webhook is down (as on a cluster whose conversion
//! service crashed). The backup goes on:
//! every other item is backed up, the error is counted in the status, named in the results
//! file and the log, the backup is complete and restorable (`velero-backup.json` written),
//! and Velero's partial-failure metric counts it.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use server_support::{World, sample};
use veloxide::api::BackupPhase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlistable_resource_gives_partially_failed_with_counts() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 2).await;
    // From now on widgets are stored as v1beta1 and converted by a webhook that is down (port 1
    // refuses connections); one widget stored that way makes every list of v1 (the preferred
    // version, which backups read) fail on the API server.
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    Api::<CustomResourceDefinition>::all(world.client.clone())
        .patch(
            WIDGETS,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "versions": [
                    {"name": "v1", "served": true, "storage": false, "schema": schema},
                    {"name": "v1beta1", "served": true, "storage": true, "schema": schema},
                ],
                "conversion": {"strategy": "Webhook", "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {"url": "https://127.0.0.1:1/convert"},
                }},
            }})),
        )
        .await
        .unwrap();
    let widgets = kube::api::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("example.com", "v1beta1", "Widget"),
        "widgets",
    );
    let stored: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1beta1", "kind": "Widget",
        "metadata": {"name": "sprocket", "namespace": "shop"}, "spec": {"teeth": 9}
    }))
    .unwrap();
    let mut created = false;
    for _ in 0..50 {
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(world.client.clone(), "shop", &widgets);
        if api.create(&Default::default(), &stored).await.is_ok() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created, "a widget stored as v1beta1");
    let server = serve_plain_location(&world, "default").await;

    create_backup(&world, "partial", json!({"includedNamespaces": ["shop"]})).await;
    let backup = wait_phase(
        &world,
        "partial",
        BackupPhase::PartiallyFailed,
        Duration::from_secs(60),
    )
    .await;
    let status = backup.status.clone().unwrap();
    assert_eq!(status.errors, Some(1), "{status:?}");
    // The namespace, two ConfigMaps, two Secrets and the Deployment, and the kube-root-ca.crt
    // ConfigMap and default ServiceAccount kube-controller-manager made: all but the widgets.
    let progress = status.progress.clone().unwrap();
    assert_eq!(progress.items_backed_up, Some(8), "{progress:?}");
    assert!(status.completion_timestamp.is_some());

    let dir = "default/backups/partial/";
    let keys = list_keys(&world, dir);
    assert!(
        keys.contains(&format!("{dir}velero-backup.json")),
        "a partially failed backup is complete and restorable: {keys:?}"
    );
    let entries = untar(&download(&world, &format!("{dir}partial.tar.gz")));
    assert!(entries.contains_key("resources/configmaps/namespaces/shop/settings-1.json"));
    assert!(entries.contains_key("resources/deployments.apps/namespaces/shop/web.json"));
    assert!(
        !entries.keys().any(|k| k.contains("widgets.example.com")),
        "nothing of the unlistable resource: {:?}",
        entries.keys().collect::<Vec<_>>()
    );

    let results: Value = serde_json::from_slice(&gunzip(&download(
        &world,
        &format!("{dir}partial-results.gz"),
    )))
    .unwrap();
    let errors = results["errors"]["namespaces"]["shop"].to_string();
    assert!(
        errors.contains("widgets.example.com") && errors.contains("conversion webhook"),
        "the results name the resource and the API's answer: {results}"
    );
    let log =
        String::from_utf8(gunzip(&download(&world, &format!("{dir}partial-logs.gz")))).unwrap();
    assert!(
        log.contains("level=error") && log.contains("widgets.example.com"),
        "{log}"
    );

    let metrics = server.metrics().await;
    let s = [("schedule", "")];
    assert_eq!(
        sample(&metrics, "velero_backup_partial_failure_total", &s),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "velero_backup_failure_total", &s),
        Some(0.0)
    );
}
