//! Shared by the backup end-to-end tests: workloads to back up, Backups to create and wait
//! for, and an independent S3 client (awscli from the test venv) to download and HEAD what
//! the server wrote.
#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use veloxide::api::{Backup, BackupPhase};

use super::server_support::{BUCKET, NS, Server, World};

/// The custom resource the tests back up.
pub const WIDGETS: &str = "widgets.example.com";

pub fn backups(world: &World) -> Api<Backup> {
    Api::namespaced(world.client.clone(), NS)
}

/// Create any object from JSON through the dynamic API.
pub async fn create(world: &World, object: Value) {
    let api_version = object["apiVersion"].as_str().unwrap().to_owned();
    let kind = object["kind"].as_str().unwrap().to_owned();
    let (group, version) = api_version
        .split_once('/')
        .map_or(("", api_version.as_str()), |(g, v)| (g, v));
    let plural = match kind.as_str() {
        "Namespace" => "namespaces".to_owned(),
        "Widget" => "widgets".to_owned(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.clone(),
        kind: kind.clone(),
        plural,
    };
    let obj: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    let api: Api<DynamicObject> = match obj.metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(world.client.clone(), ns, &ar),
        None => Api::all_with(world.client.clone(), &ar),
    };
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {kind}: {e}"));
}

/// The widgets CRD, namespaced, served at v1 (the storage version).
pub async fn create_widget_crd(world: &World) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": WIDGETS},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    let crds = Api::<CustomResourceDefinition>::all(world.client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let established = kube::runtime::conditions::is_crd_established();
    let wait = kube::runtime::wait::await_condition(crds, WIDGETS, established);
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the widget CRD is established within 30 s")
        .unwrap();
}

/// A namespace with `configmaps` ConfigMaps, two Secrets, a Deployment and a Widget.
pub async fn create_workload(world: &World, ns: &str, configmaps: usize) {
    create(world, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": "shop"}}})).await;
    for i in 0..configmaps {
        create(world, json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("settings-{i}"), "namespace": ns, "labels": {"app": "web", "index": i.to_string()}},
            "data": {"value": format!("{ns}-{i}")}})).await;
    }
    for name in ["db-password", "api-token"] {
        create(
            world,
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns}, "type": "Opaque",
            "data": {"value": "c2VjcmV0"}}),
        )
        .await;
    }
    create(
        world,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "gear", "namespace": ns}, "spec": {"teeth": 12}}),
    )
    .await;
}

/// Create a Backup from its spec.
pub async fn create_backup(world: &World, name: &str, spec: Value) {
    create_backup_labelled(world, name, spec, json!({})).await;
}

pub async fn create_backup_labelled(world: &World, name: &str, spec: Value, labels: Value) {
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": spec,
    }))
    .unwrap();
    backups(world)
        .create(&PostParams::default(), &backup)
        .await
        .unwrap();
}

/// Wait until the backup reaches `phase`; panics (with its status) on timeout or on another
/// terminal phase.
pub async fn wait_phase(
    world: &World,
    name: &str,
    phase: BackupPhase,
    timeout: Duration,
) -> Backup {
    let deadline = Instant::now() + timeout;
    loop {
        let backup = backups(world).get(name).await.unwrap();
        let now = backup.phase();
        if now == phase {
            return backup;
        }
        if (now.is_terminal() && now != phase) || Instant::now() > deadline {
            panic!(
                "{name}: phase {now:?}, expected {phase:?}; status: {}",
                serde_json::to_string_pretty(&backup.status).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Create a Backup from its spec and wait, at most `timeout`, until it has Completed.
pub async fn backed_up(world: &World, name: &str, spec: Value, timeout: Duration) -> Backup {
    create_backup(world, name, spec).await;
    wait_phase(world, name, BackupPhase::Completed, timeout).await
}

/// Wait until `check` holds, or panic with `what`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// awscli (from the test venv), pointed at moto with the run's CA: an S3 client that shares
/// no code with veloxide.
pub fn aws(world: &World, args: &[&str]) -> std::process::Output {
    let aws = e2e::peers::venv_bin("aws");
    Command::new(aws)
        .args(args)
        .args(["--endpoint-url", &world.moto.url(), "--region", "us-east-1"])
        .env("AWS_CA_BUNDLE", &world.moto.ca_file)
        .env("AWS_ACCESS_KEY_ID", "veloxide")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-0123")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("awscli runs")
}

/// Every key under `prefix` in the bucket (awscli's list-objects-v2).
pub fn list_keys(world: &World, prefix: &str) -> Vec<String> {
    let out = aws(
        world,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--prefix",
            prefix,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<String> = v["Contents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["Key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

/// HEAD an object with awscli.
pub fn head(world: &World, key: &str) -> Value {
    let out = aws(
        world,
        &["s3api", "head-object", "--bucket", BUCKET, "--key", key],
    );
    assert!(
        out.status.success(),
        "HEAD {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Download an object's bytes with awscli.
pub fn download(world: &World, key: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object");
    let out = aws(
        world,
        &[
            "s3",
            "cp",
            &format!("s3://{BUCKET}/{key}"),
            path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "GET {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(path).unwrap()
}

/// A tar.gz's entries: path → content.
pub fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A namespace with `count` ConfigMaps of `size` bytes of random base64 (barely compressible),
/// so the archive spans several multipart parts.
pub async fn create_big_configmaps(world: &World, ns: &str, count: usize, size: usize) {
    use base64::Engine as _;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    for i in 0..count {
        let mut random = vec![0u8; size * 3 / 4];
        openssl::rand::rand_bytes(&mut random).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(&random);
        create(
            world,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("blob-{i}"), "namespace": ns},
            "data": {"blob": data}}),
        )
        .await;
    }
}

/// The status of a backup's condition `kind`, with its reason.
pub fn condition(backup: &Backup, kind: &str) -> Option<(String, String, String)> {
    backup
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// `veloxide server` ("server-a") running, with location `name` (no encryption, the world's
/// CA) Available.
pub async fn serve_plain_location(world: &World, name: &str) -> Server {
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    world
        .create_available_location(name, json!({}), json!({}))
        .await;
    server
}

/// About 9 MiB of ConfigMaps in namespace `big`, and location `slow` reaching moto through
/// `proxy` (a few seconds of upload at 3 MB/s), Available under `server`.
pub async fn slow_location(world: &World, proxy: &proxy::Proxy, server: &Server) {
    create_big_configmaps(world, "big", 30, 400 * 1024).await;
    server.wait_ready().await;
    world
        .create_available_location("slow", json!({"s3Url": proxy.url()}), json!({}))
        .await;
}

/// [`slow_location`], then Backup `big` of namespace `big` to it.
pub async fn back_up_big_slowly(world: &World, proxy: &proxy::Proxy, server: &Server) {
    slow_location(world, proxy, server).await;
    create_backup(
        world,
        "big",
        json!({"includedNamespaces": ["big"], "storageLocation": "slow"}),
    )
    .await;
}

/// Waits until a multipart upload is open in the bucket: the backup's parts are in flight.
pub async fn upload_in_flight(world: &World) {
    eventually(
        "a multipart upload in progress",
        Duration::from_secs(60),
        || async { world.moto.multipart_uploads(BUCKET).await >= 1 },
    )
    .await;
}

/// Waits until the backup's `StoreCleaned` condition is True (a sweep writes `Failed` first
/// and records the clean-up after it) and returns the backup.
pub async fn wait_store_cleaned(world: &World, name: &str) -> Backup {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let backup = backups(world).get(name).await.unwrap();
        match condition(&backup, "StoreCleaned") {
            Some((status, _, _)) if status == "True" => return backup,
            other => assert!(
                Instant::now() < deadline,
                "{name}: StoreCleaned never True (last: {other:?})"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The dynamic API of a resource.
pub fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub fn api_for(world: &World, object: &Value, plural: &str) -> Api<DynamicObject> {
    let ar = resource(
        object["apiVersion"].as_str().unwrap(),
        object["kind"].as_str().unwrap(),
        plural,
    );
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => Api::namespaced_with(world.client.clone(), ns, &ar),
        None => Api::all_with(world.client.clone(), &ar),
    }
}

/// Create an object of `plural` as the admin.
pub async fn put(world: &World, plural: &str, object: Value) {
    let obj: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    api_for(world, &object, plural)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {plural}: {e}"));
}
