//! `veloxide server` backs up namespaces of a real kube-apiserver into moto over HTTPS under each
//! encryption mode: the backup completes, the archive downloaded with an independent client
//! (awscli) has Velero's layout and the objects' content, every object's encryption is what
//! a HEAD from awscli reports and what the status records, and Velero's metrics count it.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use serde_json::{Value, json};
use server_support::{Server, World, sample};
use veloxide::api::{Backup, BackupPhase};

const WAIT: Duration = Duration::from_secs(60);

/// Three backups of the same namespaces, one per encryption mode, then steps that each check
/// one part of the result and are named for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_complete_in_velero_layout_under_each_encryption_mode() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    for (ns, n) in [("app-a", 3), ("app-b", 2), ("other", 1)] {
        create_workload(&world, ns, n).await;
    }
    world.moto.create_kms_key("alias/velero-backups").await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    world.create_location("plain", json!({}), json!({})).await;
    world
        .create_location(
            "sse-s3",
            json!({"serverSideEncryption": "AES256"}),
            json!({}),
        )
        .await;
    world
        .create_location(
            "kms",
            json!({"kmsKeyId": "alias/velero-backups", "bucketKeyEnabled": "true"}),
            json!({}),
        )
        .await;
    for location in ["plain", "sse-s3", "kms"] {
        world
            .wait_ready_reason(location, "Available", Duration::from_secs(30))
            .await;
    }

    let spec = |location: &str| json!({"includedNamespaces": ["app-*"], "storageLocation": location, "ttl": "24h"});
    create_backup(&world, "b-none", spec("plain")).await;
    create_backup(&world, "b-aes", spec("sse-s3")).await;
    create_backup(&world, "b-kms", spec("kms")).await;
    let none = wait_phase(&world, "b-none", BackupPhase::Completed, WAIT).await;

    let keys = the_files_are_in_velero_layout(&world);
    the_archive_holds_both_copies_of_the_included_items_only(&world);
    the_side_files_list_the_items_and_say_it_completed(&world);
    let items = the_status_counts_items_and_confirms_no_encryption(&world, &none, &keys);
    sse_s3_is_on_every_object(&world).await;
    sse_kms_with_a_bucket_key_is_on_every_object(&world).await;
    velero_s_metrics_count_three_manual_backups(&server, items).await;
}

/// Where the plain backup's files are.
const PLAIN: &str = "plain/backups/b-none/";

/// The files, in Velero's layout under the location's prefix.
fn the_files_are_in_velero_layout(world: &World) -> Vec<String> {
    let dir = PLAIN;
    let keys = list_keys(world, dir);
    let expected: Vec<String> = [
        "b-none-itemoperations.json.gz",
        "b-none-logs.gz",
        "b-none-resource-list.json.gz",
        "b-none-results.gz",
        "b-none-volumeinfo.json.gz",
        "b-none.tar.gz",
        "velero-backup.json",
        "veloxide-owner.json",
    ]
    .iter()
    .map(|f| format!("{dir}{f}"))
    .collect();
    assert_eq!(keys, expected);
    keys
}

/// The archive: version, both copies of each item, only the included namespaces.
fn the_archive_holds_both_copies_of_the_included_items_only(world: &World) {
    let dir = PLAIN;
    let entries = untar(&download(world, &format!("{dir}b-none.tar.gz")));
    assert_eq!(entries["metadata/version"], b"1.1.0\n");
    for path in [
        "resources/configmaps/namespaces/app-a/settings-0.json",
        "resources/configmaps/v1-preferredversion/namespaces/app-a/settings-0.json",
        "resources/configmaps/namespaces/app-b/settings-1.json",
        "resources/secrets/namespaces/app-a/db-password.json",
        "resources/deployments.apps/namespaces/app-b/web.json",
        "resources/deployments.apps/v1-preferredversion/namespaces/app-b/web.json",
        "resources/widgets.example.com/namespaces/app-a/gear.json",
        "resources/widgets.example.com/v1-preferredversion/namespaces/app-a/gear.json",
        "resources/namespaces/cluster/app-a.json",
        "resources/namespaces/v1-preferredversion/cluster/app-b.json",
    ] {
        assert!(
            entries.contains_key(path),
            "{path} missing from {:#?}",
            entries.keys()
        );
    }
    assert!(
        !entries
            .keys()
            .any(|p| p.contains("/other/") || p.ends_with("/other.json")),
        "the excluded namespace was backed up: {:#?}",
        entries.keys()
    );
    // Some namespaces and includeClusterResources unset: no cluster-scoped resources besides
    // the namespaces themselves and the CRD of the custom resources taken (Velero's rules;
    // tests/integration/velero_interop.rs shows Velero's own backup adding the CRD).
    let crd =
        "resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.example.com.json";
    assert!(
        !entries.keys().any(|p| p.contains("/cluster/")
            && !p.starts_with("resources/namespaces/")
            && !p.starts_with("resources/customresourcedefinitions.apiextensions.k8s.io/")),
        "{:#?}",
        entries.keys()
    );
    let crd: Value = serde_json::from_slice(&entries[crd]).unwrap();
    assert_eq!(crd["kind"], "CustomResourceDefinition");
    assert_eq!(crd["metadata"]["name"], "widgets.example.com");
    let item: Value =
        serde_json::from_slice(&entries["resources/configmaps/namespaces/app-a/settings-0.json"])
            .unwrap();
    assert_eq!(item["apiVersion"], "v1");
    assert_eq!(item["kind"], "ConfigMap");
    assert_eq!(item["data"]["value"], "app-a-0");
    let widget: Value = serde_json::from_slice(
        &entries["resources/widgets.example.com/namespaces/app-b/gear.json"],
    )
    .unwrap();
    assert_eq!(widget["apiVersion"], "example.com/v1");
    assert_eq!(widget["spec"]["teeth"], 12);
    let copies = |p: &str| {
        entries[p] == entries[&p.replace("configmaps/", "configmaps/v1-preferredversion/")]
    };
    assert!(copies(
        "resources/configmaps/namespaces/app-b/settings-0.json"
    ));
}

/// Side files: the resource list, results, log and velero-backup.json.
fn the_side_files_list_the_items_and_say_it_completed(world: &World) {
    let dir = PLAIN;
    let list: Value = serde_json::from_slice(&gunzip(&download(
        world,
        &format!("{dir}b-none-resource-list.json.gz"),
    )))
    .unwrap();
    assert_eq!(
        list["v1/ConfigMap"],
        // kube-root-ca.crt: kube-controller-manager's root-ca-cert-publisher puts one in
        // every namespace, and a backup of a namespace takes it too (as Velero's does).
        json!([
            "app-a/kube-root-ca.crt",
            "app-a/settings-0",
            "app-a/settings-1",
            "app-a/settings-2",
            "app-b/kube-root-ca.crt",
            "app-b/settings-0",
            "app-b/settings-1"
        ])
    );
    assert_eq!(
        list["apps/v1/Deployment"],
        json!(["app-a/web", "app-b/web"])
    );
    assert_eq!(
        list["example.com/v1/Widget"],
        json!(["app-a/gear", "app-b/gear"])
    );
    assert_eq!(
        list["apiextensions.k8s.io/v1/CustomResourceDefinition"],
        json!(["widgets.example.com"])
    );
    let results: Value = serde_json::from_slice(&gunzip(&download(
        world,
        &format!("{dir}b-none-results.gz"),
    )))
    .unwrap();
    assert!(
        results["errors"].as_object().unwrap().is_empty(),
        "{results}"
    );
    let log = String::from_utf8(gunzip(&download(world, &format!("{dir}b-none-logs.gz")))).unwrap();
    assert!(
        log.contains("level=info msg=\"Backed up a total of"),
        "{log}"
    );
    let metadata: Value =
        serde_json::from_slice(&download(world, &format!("{dir}velero-backup.json"))).unwrap();
    assert_eq!(metadata["kind"], "Backup");
    assert_eq!(metadata["status"]["phase"], "Completed");
    assert_eq!(metadata["status"]["formatVersion"], "1.1.0");
    assert_eq!(metadata["spec"]["storageLocation"], "plain");
}

/// Status: Velero's fields, progress, the location label, and what the store confirmed.
/// Returns the number of items backed up.
fn the_status_counts_items_and_confirms_no_encryption(
    world: &World,
    none: &Backup,
    keys: &[String],
) -> i64 {
    let status = none.status.as_ref().unwrap();
    // app-a: 3 ConfigMaps, 2 Secrets, a Deployment, a Widget; app-b: 2 + 2 + 1 + 1; and the
    // two Namespace objects; and in each namespace what kube-controller-manager puts there
    // (the kube-root-ca.crt ConfigMap and the default ServiceAccount); and the widgets' CRD.
    let items = 7 + 6 + 2 + 2 * 2 + 1;
    assert_eq!(
        status.progress.as_ref().unwrap().items_backed_up,
        Some(items)
    );
    assert!(status.start_timestamp.is_some() && status.completion_timestamp.is_some());
    assert!(status.expiration.is_some());
    assert_eq!(
        none.metadata.labels.as_ref().unwrap()["velero.io/storage-location"],
        "plain"
    );
    let enc = status.encryption.as_ref().unwrap();
    assert_eq!(enc.mode.as_deref(), Some("None"));
    assert_eq!(enc.verified, Some(true));
    assert_eq!(enc.objects, Some(8));
    for key in keys {
        assert!(
            head(world, key).get("ServerSideEncryption").is_none(),
            "{key}"
        );
    }
    items
}

/// SSE-S3: every object, by an independent HEAD.
async fn sse_s3_is_on_every_object(world: &World) {
    let aes = wait_phase(world, "b-aes", BackupPhase::Completed, WAIT).await;
    let enc = aes.status.as_ref().unwrap().encryption.clone().unwrap();
    assert_eq!(enc.mode.as_deref(), Some("SSE-S3"));
    assert_eq!(enc.verified, Some(true));
    let aes_keys = list_keys(world, "sse-s3/backups/b-aes/");
    assert_eq!(aes_keys.len(), 8);
    for key in &aes_keys {
        assert_eq!(head(world, key)["ServerSideEncryption"], "AES256", "{key}");
    }
}

/// SSE-KMS with a bucket key: every object, with the key the status records.
async fn sse_kms_with_a_bucket_key_is_on_every_object(world: &World) {
    let kms = wait_phase(world, "b-kms", BackupPhase::Completed, WAIT).await;
    let enc = kms.status.as_ref().unwrap().encryption.clone().unwrap();
    assert_eq!(enc.mode.as_deref(), Some("SSE-KMS"));
    assert_eq!(enc.bucket_key, Some(true));
    assert_eq!(enc.verified, Some(true));
    let recorded_key = enc.kms_key_id.clone().unwrap();
    let kms_keys = list_keys(world, "kms/backups/b-kms/");
    assert_eq!(kms_keys.len(), 8);
    for key in &kms_keys {
        let h = head(world, key);
        assert_eq!(h["ServerSideEncryption"], "aws:kms", "{key}");
        assert_eq!(h["BucketKeyEnabled"], true, "{key}");
        assert_eq!(
            h["SSEKMSKeyId"].as_str(),
            Some(recorded_key.as_str()),
            "{key}"
        );
    }
    let ready = kms
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "EncryptionVerified")
        .unwrap();
    assert_eq!(ready.status, "True");
}

/// Velero's metrics, schedule "" for manual backups.
async fn velero_s_metrics_count_three_manual_backups(server: &Server, items: i64) {
    let metrics = server.metrics().await;
    let s = [("schedule", "")];
    assert_eq!(
        sample(&metrics, "velero_backup_attempt_total", &s),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "velero_backup_success_total", &s),
        Some(3.0)
    );
    assert_eq!(
        sample(&metrics, "velero_backup_failure_total", &s),
        Some(0.0)
    );
    assert_eq!(sample(&metrics, "velero_backup_last_status", &s), Some(1.0));
    assert_eq!(
        sample(&metrics, "velero_backup_items_total", &s),
        Some(items as f64)
    );
    assert!(sample(&metrics, "velero_backup_last_successful_timestamp", &s).unwrap() > 1.7e9);
    assert!(sample(&metrics, "velero_backup_tarball_size_bytes", &s).unwrap() > 100.0);
    assert_eq!(
        sample(&metrics, "velero_backup_duration_seconds_count", &s),
        Some(3.0)
    );
    assert!(sample(&metrics, "velero_backup_total", &[]).unwrap() >= 3.0);
}

/// Filters: label selectors (any of), resources by short name and kind, cluster resources on;
/// a schedule's label reaches the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_choose_what_is_backed_up() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 2).await;
    let server = serve_plain_location(&world, "default").await;

    // No storageLocation: the default name; a schedule's backup.
    create_backup_labelled(
        &world,
        "picked",
        json!({"includedNamespaces": ["shop"], "includedResources": ["cm", "Deployment", "wd"],
               "orLabelSelectors": [{"matchLabels": {"index": "1"}}, {"matchLabels": {"app": "web", "index": "0"}}]}),
        json!({"velero.io/schedule-name": "nightly"}),
    )
    .await;
    let picked = wait_phase(&world, "picked", BackupPhase::Completed, WAIT).await;
    assert_eq!(picked.spec.storage_location.as_deref(), Some("default"));
    let entries = untar(&download(&world, "default/backups/picked/picked.tar.gz"));
    let items: Vec<&str> = entries
        .keys()
        .map(String::as_str)
        .filter(|p| p.starts_with("resources/") && !p.contains("-preferredversion/"))
        .collect();
    assert_eq!(
        items,
        [
            "resources/configmaps/namespaces/shop/settings-0.json",
            "resources/configmaps/namespaces/shop/settings-1.json",
        ],
        "the Deployment has no index label; Widgets have no labels"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "velero_backup_success_total",
            &[("schedule", "nightly")]
        ),
        Some(1.0)
    );

    // Everything, with cluster-scoped resources.
    backed_up(
        &world,
        "all",
        json!({"includeClusterResources": true, "excludedNamespaces": ["kube-*"]}),
        WAIT,
    )
    .await;
    let entries = untar(&download(&world, "default/backups/all/all.tar.gz"));
    assert!(entries.contains_key(
        "resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.example.com.json"
    ));
    assert!(
        entries.contains_key(
            "resources/backupstoragelocations.velero.io/namespaces/velero/default.json"
        )
    );

    // A refused spec: FailedValidation naming the field, counted.
    create_backup(
        &world,
        "bad",
        json!({"ttl": "3 days", "storageLocation": "nowhere"}),
    )
    .await;
    let bad = wait_phase(&world, "bad", BackupPhase::FailedValidation, WAIT).await;
    let errors = bad.status.unwrap().validation_errors.unwrap();
    assert!(
        errors.iter().any(|e| e.starts_with("spec.ttl")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("\"nowhere\" does not exist")),
        "{errors:?}"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "velero_backup_validation_failure_total",
            &[("schedule", "")]
        ),
        Some(1.0)
    );
}
