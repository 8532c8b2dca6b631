//! A round trip under each server-side encryption mode moto implements, with `veloxide server`
//! against moto over HTTPS (the location trusts the run's CA through caCertRef): back up a
//! namespace, delete it, restore it, and find every object as it was (server-set fields aside),
//! ConfigMap and Secret data byte for byte. An independent HEAD (awscli) of every object the
//! backup and the restore wrote reports the location's encryption: SSE-S3 (`AES256`) or
//! SSE-KMS with a key made in moto's KMS and a bucket key.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use restore_support::*;
use serde_json::{Value, json};
use server_support::{Server, World};
use veloxide::api::RestorePhase;

/// What the namespace holds, by (apiVersion, plural): every object of these is compared.
const RESOURCES: [(&str, &str); 6] = [
    ("v1", "configmaps"),
    ("v1", "secrets"),
    ("v1", "serviceaccounts"),
    ("v1", "services"),
    ("apps/v1", "deployments"),
    ("example.com/v1", "widgets"),
];

/// What an independent HEAD must report for every object a mode writes.
struct Expected {
    location_config: Value,
    /// `status.encryption.mode` of the backup.
    mode: &'static str,
    /// HEAD's `ServerSideEncryption`.
    sse: &'static str,
    /// For SSE-KMS: the id of the key moto's KMS made (HEAD's key id must name it).
    kms_key: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_sse_s3() {
    let world = World::start().await;
    let expected = Expected {
        location_config: json!({"serverSideEncryption": "AES256"}),
        mode: "SSE-S3",
        sse: "AES256",
        kms_key: None,
    };
    round_trip(&world, expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_sse_kms_and_a_bucket_key() {
    let world = World::start().await;
    let key = world.moto.create_kms_key("alias/veloxide-restore").await;
    let expected = Expected {
        location_config: json!({"serverSideEncryption": "aws:kms",
            "kmsKeyId": "alias/veloxide-restore", "bucketKeyEnabled": "true"}),
        mode: "SSE-KMS",
        sse: "aws:kms",
        kms_key: Some(key),
    };
    round_trip(&world, expected).await;
}

async fn round_trip(world: &World, expected: Expected) {
    let ns = "ledger";
    create_widget_crd(world).await;
    create_workload(world, ns, 2).await;
    // Every byte value, in a ConfigMap's binaryData and in a Secret: not UTF-8, so any
    // re-encoding on the way through the archive would show.
    let all_bytes: Vec<u8> = (0..=255u8).rev().collect();
    let invalid_utf8 = [0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x0a];
    create(
        world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "blobs", "namespace": ns, "annotations": {"note": "binary"}},
        "data": {"text": "naïve café\n\ttabs and ✓"},
        "binaryData": {"all": base64_of(&all_bytes), "invalid": base64_of(&invalid_utf8)}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "opaque", "namespace": ns, "labels": {"tier": "db"}}, "type": "Opaque",
        "data": {"all": base64_of(&all_bytes), "invalid": base64_of(&invalid_utf8), "empty": ""}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "web", "namespace": ns}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await;
    let before = snapshot_namespace(world, ns, &RESOURCES).await;
    let namespace_before = get_namespace(world, ns).await.unwrap();
    // Nothing left out by a helper that changed: the objects made above, and only those, with
    // what kube-controller-manager puts in every namespace (kube-root-ca.crt, default).
    assert_eq!(
        before.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "configmaps/blobs",
            "configmaps/kube-root-ca.crt",
            "configmaps/settings-0",
            "configmaps/settings-1",
            "deployments/web",
            "secrets/api-token",
            "secrets/db-password",
            "secrets/opaque",
            "serviceaccounts/default",
            "serviceaccounts/web",
            "services/web",
            "widgets/gear",
        ]
    );

    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    world
        .create_available_location("vault", expected.location_config.clone(), json!({}))
        .await;
    let backup = backed_up(
        world,
        "b1",
        json!({"includedNamespaces": [ns], "storageLocation": "vault"}),
        Duration::from_secs(60),
    )
    .await;
    let encryption = backup.status.unwrap().encryption.unwrap();
    assert_eq!(encryption.mode.as_deref(), Some(expected.mode));
    assert_eq!(encryption.verified, Some(true));
    let backup_keys = list_keys(world, "vault/backups/b1/");
    assert_eq!(backup_keys.len(), 8, "{backup_keys:?}");
    assert_encrypted(world, &backup_keys, &expected).await;

    delete_namespace(world, ns).await;
    assert!(
        snapshot_namespace(world, ns, &RESOURCES).await.is_empty(),
        "the namespace's objects went with it"
    );

    // Restore into the namespace it came from, which the restore creates again.
    create_restore(world, "r1", json!({"backupName": "b1"})).await;
    let restore = wait_restore(world, "r1", RestorePhase::Completed).await;
    let status = restore.status.unwrap();
    assert_eq!(status.errors, None, "{status:?}");
    assert_eq!(status.warnings, None, "{status:?}");
    let progress = status.progress.unwrap();
    assert_eq!(progress.total_items, progress.items_restored);

    let after = snapshot_namespace(world, ns, &RESOURCES).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (id, original) in &before {
        let copy = &after[id];
        assert_eq!(comparable(copy), comparable(original), "{id}");
        assert_ne!(copy["metadata"]["uid"], original["metadata"]["uid"], "{id}");
        // What kube-controller-manager makes in a new namespace is there before the restore
        // reaches it (equal, so left alone); everything else is the restore's.
        if !MADE_BY_THE_CLUSTER.contains(&id.as_str()) {
            assert_eq!(copy["metadata"]["labels"]["velero.io/restore-name"], "r1");
        }
    }
    let blobs = &after["configmaps/blobs"];
    assert_eq!(bytes_of(&blobs["binaryData"]["all"]), all_bytes);
    assert_eq!(bytes_of(&blobs["binaryData"]["invalid"]), invalid_utf8);
    assert_eq!(blobs["data"]["text"], "naïve café\n\ttabs and ✓");
    let opaque = &after["secrets/opaque"];
    assert_eq!(bytes_of(&opaque["data"]["all"]), all_bytes);
    assert_eq!(bytes_of(&opaque["data"]["invalid"]), invalid_utf8);
    assert_eq!(bytes_of(&opaque["data"]["empty"]), b"");
    for secret in ["secrets/db-password", "secrets/api-token"] {
        assert_eq!(bytes_of(&after[secret]["data"]["value"]), b"secret");
    }
    let namespace_after = get_namespace(world, ns).await.unwrap();
    assert_eq!(
        namespace_after["metadata"]["labels"]["team"],
        namespace_before["metadata"]["labels"]["team"]
    );

    // The restore's own files went to the store with the same encryption.
    let restore_keys = list_keys(world, "vault/restores/r1/");
    assert_eq!(
        restore_keys,
        [
            "restore-r1-logs.gz",
            "restore-r1-resource-list.json.gz",
            "restore-r1-results.gz",
            "veloxide-owner.json"
        ]
        .map(|f| format!("vault/restores/r1/{f}"))
    );
    assert_encrypted(world, &restore_keys, &expected).await;
}

/// HEAD every key with awscli and check the store kept it under the expected encryption.
async fn assert_encrypted(world: &World, keys: &[String], expected: &Expected) {
    for key in keys {
        let h = head(world, key);
        assert_eq!(h["ServerSideEncryption"], expected.sse, "{key}: {h}");
        match &expected.kms_key {
            Some(id) => {
                // S3 reports the key's ARN, moto whatever it was given (here the alias):
                // KMS itself says which key that names.
                let used = h["SSEKMSKeyId"].as_str().unwrap_or_default();
                assert!(!used.is_empty(), "{key}: no KMS key id: {h}");
                let named = world.moto.kms("DescribeKey", json!({"KeyId": used})).await;
                assert_eq!(
                    named["KeyMetadata"]["KeyId"].as_str(),
                    Some(id.as_str()),
                    "{key}: encrypted under {used:?}, not the key {id}: {h}"
                );
                assert_eq!(h["BucketKeyEnabled"], true, "{key}: {h}");
            }
            None => {
                assert!(h.get("SSEKMSKeyId").is_none(), "{key}: {h}");
                assert!(h.get("SSECustomerAlgorithm").is_none(), "{key}: {h}");
            }
        }
    }
}

async fn get_namespace(world: &World, name: &str) -> Option<Value> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    api.get_opt(name)
        .await
        .unwrap()
        .map(|n| serde_json::to_value(n).unwrap())
}
