//! SSE-C through a store that really enforces it: LocalStack over HTTPS, its certificate from
//! the run's CA (the location trusts it through caCertRef). moto ignores customer keys and the
//! recording proxy of `restore_sse_c.rs` only emulates S3's refusals; here the store itself
//! refuses every object the backup and the restore wrote to a reader without the key (400) or
//! with another key (403). With the key, a namespace backed up, deleted and restored comes back
//! object for object, ConfigMap and Secret data byte for byte; `veloxide backup logs` works
//! (the server streams the log through the service proxy, since a presigned link cannot carry
//! the key); a restore with the wrong key fails saying so and creates nothing.
//!
//! LocalStack starts in about a second but weighs ~500 MB: `e2e/tools/install-localstack.sh`.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use e2e::peers::LocalStack;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use reqwest::Method;
use restore_support::*;
use serde_json::json;
use server_support::{BUCKET, Server, World, expose_server};
use veloxide::api::RestorePhase;

const RESOURCES: [(&str, &str); 4] = [
    ("v1", "configmaps"),
    ("v1", "secrets"),
    ("v1", "serviceaccounts"),
    ("apps/v1", "deployments"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_round_trip_through_a_store_that_enforces_it() {
    let world = World::start().await;
    // The same CA as moto's, so the location's caCertRef Secret already trusts LocalStack.
    let store = LocalStack::start_with(world.moto.pki.clone());
    store.create_bucket(BUCKET).await;
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key).unwrap();
    world.put_secret("ssec-key", &[("key", &key)], None).await;

    let ns = "vault";
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"team": "vault"}}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "creds", "namespace": ns, "labels": {"app": "vault"}},
        "data": {"token": "s3cr3t\u{00e9}\n\tline"},
        "binaryData": {"raw": base64_of(&[0xff, 0x00, 0xfe, 0xc3, 0x28])}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "master", "namespace": ns}, "type": "Opaque",
        "data": {"bytes": base64_of(&all_bytes)}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "vault", "namespace": ns}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "vault", "namespace": ns, "labels": {"app": "vault"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "vault"}},
                 "template": {"metadata": {"labels": {"app": "vault"}},
                              "spec": {"serviceAccountName": "vault",
                                       "containers": [{"name": "vault", "image": "vault:1.13"}]}}}}),
    )
    .await;
    let before = snapshot_namespace(&world, ns, &RESOURCES).await;
    // The four made above, and the kube-root-ca.crt ConfigMap and default ServiceAccount that
    // kube-controller-manager puts in every namespace.
    assert_eq!(before.len(), 6, "{:?}", before.keys());

    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    let _route = expose_server(&world, &server).await;
    world
        .create_available_location(
            "ls",
            json!({"s3Url": store.url(), "customerKeyEncryptionSecret": "ssec-key/key"}),
            json!({}),
        )
        .await;
    let backup = backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": [ns], "storageLocation": "ls"}),
        Duration::from_secs(60),
    )
    .await;
    let encryption = backup.status.unwrap().encryption.unwrap();
    assert_eq!(encryption.mode.as_deref(), Some("SSE-C"));

    // The store itself refuses every object the backup wrote to a reader without the key, and
    // to one with another key; with the key, the archive holds the namespace.
    let backup_keys = store.list_keys(BUCKET, "ls/backups/b1/").await;
    assert_eq!(backup_keys.len(), 8, "{backup_keys:?}");
    assert_enforced(&store, &backup_keys, &key).await;
    let (status, archive) = store
        .object(Method::GET, BUCKET, "ls/backups/b1/b1.tar.gz", Some(&key))
        .await;
    assert_eq!(status, 200);
    let entries = untar(&archive);
    let item: serde_json::Value =
        serde_json::from_slice(&entries["resources/secrets/namespaces/vault/master.json"]).unwrap();
    assert_eq!(bytes_of(&item["data"]["bytes"]), all_bytes);

    delete_namespace(&world, ns).await;
    create_restore(&world, "r1", json!({"backupName": "b1"})).await;
    let restore = wait_restore(&world, "r1", RestorePhase::Completed).await;
    let status = restore.status.unwrap();
    assert_eq!(status.errors, None, "{status:?}");
    let after = snapshot_namespace(&world, ns, &RESOURCES).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (id, original) in &before {
        assert_eq!(comparable(&after[id]), comparable(original), "{id}");
    }
    assert_eq!(
        bytes_of(&after["secrets/master"]["data"]["bytes"]),
        all_bytes
    );
    assert_eq!(
        bytes_of(&after["configmaps/creds"]["binaryData"]["raw"]),
        [0xff, 0x00, 0xfe, 0xc3, 0x28]
    );
    assert_eq!(
        after["configmaps/creds"]["data"]["token"],
        "s3cr3t\u{00e9}\n\tline"
    );
    // The restore's own files are under the key too.
    let restore_keys = store.list_keys(BUCKET, "ls/restores/r1/").await;
    assert_eq!(restore_keys.len(), 4, "{restore_keys:?}");
    assert_enforced(&store, &restore_keys, &key).await;

    // Logs through the CLI: the server reads them with the key and streams them.
    let logs = cli(&world, &["backup", "logs", "b1"]).await;
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        stdout(&logs).contains("backup=velero/b1"),
        "{}",
        stdout(&logs)
    );
    let restore_logs = cli(&world, &["restore", "logs", "r1"]).await;
    assert!(restore_logs.status.success(), "{}", stderr(&restore_logs));
    assert!(
        stdout(&restore_logs).contains("Created secrets vault/master"),
        "{}",
        stdout(&restore_logs)
    );

    // Another key: LocalStack answers 403, the restore fails saying the key is wrong, and
    // nothing of the namespace is created.
    let mut wrong = [0u8; 32];
    openssl::rand::rand_bytes(&mut wrong).unwrap();
    world.put_secret("ssec-key", &[("key", &wrong)], None).await;
    create_restore(
        &world,
        "r-wrong",
        json!({"backupName": "b1", "namespaceMapping": {ns: "vault-wrong"}}),
    )
    .await;
    let failed = wait_restore(&world, "r-wrong", RestorePhase::Failed).await;
    let reason = failed.status.unwrap().failure_reason.unwrap();
    assert!(
        reason.contains("AccessDenied")
            && reason.contains("customer key")
            && reason.contains("must be the one the backup was written with"),
        "{reason}"
    );
    assert!(
        Api::<Namespace>::all(world.client.clone())
            .get_opt("vault-wrong")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        snapshot_namespace(&world, "vault-wrong", &RESOURCES)
            .await
            .is_empty()
    );
    assert!(
        store.log().contains("s3.GetObject => 403 (AccessDenied)"),
        "{}",
        store.log()
    );
}

/// Every object: HEAD and GET without the key are refused with 400, GET with another key with
/// 403, GET with the key succeeds.
async fn assert_enforced(store: &LocalStack, keys: &[String], key: &[u8]) {
    let mut other = [0u8; 32];
    openssl::rand::rand_bytes(&mut other).unwrap();
    for object in keys {
        let head = store.object(Method::HEAD, BUCKET, object, None).await.0;
        assert_eq!(head, 400, "HEAD {object} without the key");
        let (status, body) = store.object(Method::GET, BUCKET, object, None).await;
        assert_eq!(status, 400, "GET {object} without the key");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("<Code>InvalidRequest</Code>"), "{body}");
        let wrong = store
            .object(Method::GET, BUCKET, object, Some(&other))
            .await;
        assert_eq!(wrong.0, 403, "GET {object} with another key");
        let right = store.object(Method::GET, BUCKET, object, Some(key)).await;
        assert_eq!(right.0, 200, "GET {object} with the key");
    }
}
