//! SSE-C end to end, through a store that enforces customer keys (the recording proxy in
//! front of moto emulates S3: a read without the object's key is refused with 400, a read with
//! another key with 403; moto alone would serve the plaintext): a backup and a restore with the
//! key succeed; `veloxide backup logs`, `backup download` and `restore logs` work although a
//! presigned link cannot carry the key, because the server streams those objects through the
//! API server's service proxy; the link checks its token and dies with its request; a restore
//! with the wrong key or without the key's Secret fails saying so.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use e2e::peers::{Recorder, SseCMode};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use restore_support::*;
use serde_json::json;
use server_support::{NS, Server, World};
use veloxide::api::{DownloadRequest, RestorePhase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_restore_and_downloads_with_and_without_the_key() {
    let world = World::start().await;
    let store = Recorder::in_front_of(&world.moto, SseCMode::Emulate).await;
    world
        .put_secret("ssec-key", &[("key", &[7u8; 32])], None)
        .await;
    create_workload_cm(&world, "vault").await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    let _route = server_support::expose_server(&world, &server).await;
    world
        .create_available_location(
            "ssec",
            json!({"s3Url": store.url(), "customerKeyEncryptionSecret": "ssec-key/key"}),
            json!({}),
        )
        .await;
    let backup = backed_up(
        &world,
        "b-ssec",
        json!({"includedNamespaces": ["vault"], "storageLocation": "ssec"}),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        backup.status.unwrap().encryption.unwrap().mode.as_deref(),
        Some("SSE-C")
    );
    // The store really refuses the archive without the key.
    let keyless = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(&world.moto.pki.ca.cert_pem()).unwrap()])
        .build()
        .unwrap();
    let tarball = format!(
        "{}/velero-backups/ssec/backups/b-ssec/b-ssec.tar.gz",
        store.url()
    );
    let refused = keyless.get(&tarball).send().await.unwrap();
    assert_eq!(
        refused.status().as_u16(),
        400,
        "a read without the key must be refused"
    );

    // Restore with the key.
    create_restore(
        &world,
        "r-ssec",
        json!({"backupName": "b-ssec", "namespaceMapping": {"vault": "vault-copy"}}),
    )
    .await;
    wait_restore(&world, "r-ssec", RestorePhase::Completed).await;
    let original = get(&world, "v1", "configmaps", "vault", "creds")
        .await
        .unwrap();
    let copy = get(&world, "v1", "configmaps", "vault-copy", "creds")
        .await
        .unwrap();
    assert_eq!(comparable(&copy), comparable(&original));
    // Its files were written with the key too.
    let log_key = "/velero-backups/ssec/restores/r-ssec/restore-r-ssec-logs.gz";
    assert!(store.requests().iter().any(|r| r.method == "PUT"
        && r.target.starts_with(log_key)
        && r.header("x-amz-server-side-encryption-customer-algorithm") == Some("AES256")));

    // Logs and the archive through the CLI: streamed by the server, the key never leaves it.
    let logs = cli(&world, &["backup", "logs", "b-ssec"]).await;
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        stdout(&logs).contains("backup=velero/b-ssec"),
        "{}",
        stdout(&logs)
    );
    let restore_logs = cli(&world, &["restore", "logs", "r-ssec"]).await;
    assert!(restore_logs.status.success(), "{}", stderr(&restore_logs));
    assert!(
        stdout(&restore_logs).contains("Created configmaps vault-copy/creds"),
        "{}",
        stdout(&restore_logs)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.tar.gz");
    let fetched = cli(
        &world,
        &["backup", "download", "b-ssec", "-o", path.to_str().unwrap()],
    )
    .await;
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let entries = untar(&std::fs::read(&path).unwrap());
    assert!(entries.contains_key("resources/configmaps/namespaces/vault/creds.json"));

    // The link: a service-proxy path with a token; a wrong token and an expired request are refused.
    let requests: Api<DownloadRequest> = Api::namespaced(world.client.clone(), NS);
    let request: DownloadRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DownloadRequest",
        "metadata": {"name": "b-ssec-log"}, "spec": {"target": {"kind": "BackupLog", "name": "b-ssec"}}
    }))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    let url = wait_url(&requests, "b-ssec-log").await;
    assert!(
        url.starts_with(
            "/api/v1/namespaces/velero/services/veloxide:metrics/proxy/downloads/b-ssec-log?token="
        ),
        "{url}"
    );
    let get_path = |path: String| {
        let client = world.client.clone();
        async move {
            let request = kube::client::Body::empty();
            let request = axum::http::Request::get(path).body(request).unwrap();
            client.send(request).await.unwrap().status().as_u16()
        }
    };
    assert_eq!(get_path(url.clone()).await, 200);
    let forged = format!("{}{}", &url[..url.len() - 4], "0000");
    assert_eq!(get_path(forged).await, 403);
    requests
        .patch_status(
            "b-ssec-log",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"expiration": "2020-01-01T00:00:00Z"}})),
        )
        .await
        .unwrap();
    assert_eq!(get_path(url.clone()).await, 403);
    eventually(
        "the expired request is deleted",
        Duration::from_secs(10),
        || {
            let requests = requests.clone();
            async move { requests.get_opt("b-ssec-log").await.unwrap().is_none() }
        },
    )
    .await;

    // The wrong key: the store refuses the archive, and the restore says why.
    world
        .put_secret("ssec-key", &[("key", &[9u8; 32])], None)
        .await;
    create_restore(
        &world,
        "r-wrong",
        json!({"backupName": "b-ssec", "namespaceMapping": {"vault": "vault-wrong"}}),
    )
    .await;
    let wrong = wait_restore(&world, "r-wrong", RestorePhase::Failed).await;
    let reason = wrong.status.unwrap().failure_reason.unwrap();
    assert!(
        reason.contains("AccessDenied") && reason.contains("customer key"),
        "{reason}"
    );
    // No key at all.
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(world.client.clone(), NS)
        .delete("ssec-key", &DeleteParams::default())
        .await
        .unwrap();
    create_restore(
        &world,
        "r-missing",
        json!({"backupName": "b-ssec", "namespaceMapping": {"vault": "vault-missing"}}),
    )
    .await;
    let missing = wait_restore(&world, "r-missing", RestorePhase::Failed).await;
    let reason = missing.status.unwrap().failure_reason.unwrap();
    assert!(
        reason.contains("\"ssec-key\"") && reason.contains("not found"),
        "{reason}"
    );
    assert!(
        get(&world, "v1", "configmaps", "vault-missing", "creds")
            .await
            .is_none()
    );
}

/// A namespace with one ConfigMap of binary-ish data.
async fn create_workload_cm(world: &World, ns: &str) {
    create(
        world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "creds", "namespace": ns, "labels": {"app": "vault"}},
        "data": {"token": "s3cr3t\u{00e9}\n\tline"}}),
    )
    .await;
}

async fn wait_url(requests: &Api<DownloadRequest>, name: &str) -> String {
    for _ in 0..100 {
        let r = requests.get(name).await.unwrap();
        if let Some(u) = r.status.and_then(|s| s.download_url) {
            return u;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no download URL for {name}");
}
