//! Shared by the restore and download end-to-end tests: Restores to create and wait for, the
//! `veloxide` CLI run as a user runs it (KUBECONFIG at the control plane), and object comparison.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use veloxide::api::{Restore, RestorePhase};

use super::server_support::{NS, World};

/// What kube-controller-manager puts in every new namespace (by `snapshot_namespace` id).
pub const MADE_BY_THE_CLUSTER: [&str; 2] =
    ["configmaps/kube-root-ca.crt", "serviceaccounts/default"];

pub fn restores(world: &World) -> Api<Restore> {
    Api::namespaced(world.client.clone(), NS)
}

pub async fn create_restore(world: &World, name: &str, spec: Value) {
    let restore: Restore = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }))
    .unwrap();
    restores(world)
        .create(&PostParams::default(), &restore)
        .await
        .unwrap();
}

/// Wait until the restore reaches a terminal phase and check it is `phase`.
pub async fn wait_restore(world: &World, name: &str, phase: RestorePhase) -> Restore {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let restore = restores(world).get(name).await.unwrap();
        let now = restore.phase();
        if now.is_terminal() || Instant::now() > deadline {
            assert_eq!(
                now,
                phase,
                "{name}: status {}\nresults: {}",
                serde_json::to_string_pretty(&restore.status).unwrap(),
                results(world, name)
            );
            return restore;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The restore's results file from the store (Velero's `restore-<name>-results.gz`), for
/// failure messages.
fn results(world: &World, name: &str) -> String {
    let suffix = format!("restores/{name}/restore-{name}-results.gz");
    match crate::backup_support::list_keys(world, "")
        .into_iter()
        .find(|k| k.ends_with(&suffix))
    {
        Some(key) => {
            let bytes =
                crate::backup_support::gunzip(&crate::backup_support::download(world, &key));
            String::from_utf8_lossy(&bytes).into_owned()
        }
        None => format!("(no {suffix} in the bucket)"),
    }
}

/// Run `veloxide ARGS` against the control plane; the CLI blocks, so it runs off the runtime.
pub async fn cli(world: &World, args: &[&str]) -> Output {
    let kubeconfig = world.cluster.kubeconfig.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_veloxide"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("VELERO_NAMESPACE")
            .env("RUST_LOG", "warn")
            .output()
            .expect("veloxide runs")
    })
    .await
    .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An object through the dynamic API (`None` when missing).
pub async fn get(
    world: &World,
    api_version: &str,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: String::new(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(world.client.clone(), ns, &ar);
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

/// What a restore must reproduce: the object without server-set fields, Velero's restore
/// labels, or its namespace.
pub fn comparable(object: &Value) -> Value {
    let mut o = object.clone();
    let root = o.as_object_mut().unwrap();
    root.remove("status");
    let mut meta = root.remove("metadata").unwrap();
    let labels = meta
        .get_mut("labels")
        .and_then(Value::as_object_mut)
        .map(|l| {
            l.remove("velero.io/backup-name");
            l.remove("velero.io/restore-name");
            l.clone()
        })
        .unwrap_or_default();
    root.insert(
        "metadata".into(),
        json!({"name": meta["name"], "labels": labels, "annotations": meta.get("annotations")}),
    );
    o
}

/// Every object of each `(apiVersion, plural)` in namespace `ns`, keyed `plural/name`: what a
/// round trip must bring back, listed rather than named so nothing is left out.
pub async fn snapshot_namespace(
    world: &World,
    ns: &str,
    resources: &[(&str, &str)],
) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    for (api_version, plural) in resources {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: (*api_version).into(),
            kind: String::new(),
            plural: (*plural).into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(world.client.clone(), ns, &ar);
        for o in api.list(&Default::default()).await.unwrap().items {
            let name = o.metadata.name.clone().unwrap();
            out.insert(format!("{plural}/{name}"), serde_json::to_value(o).unwrap());
        }
    }
    out
}

/// Delete namespace `ns` and wait until it, and so everything in it, is gone.
pub async fn delete_namespace(world: &World, ns: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(world.client.clone());
    api.delete(ns, &Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get_opt(ns).await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "namespace {ns} was never removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Decode a base64 field (Secret `data`, ConfigMap `binaryData`) to its bytes.
pub fn bytes_of(field: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(
            field
                .as_str()
                .unwrap_or_else(|| panic!("not base64 text: {field}")),
        )
        .unwrap()
}

/// Standard base64, as Kubernetes writes `data` and `binaryData`.
pub fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A tar.gz of (path, bytes) entries, written by hand as a planted archive would be.
pub fn crafted_archive(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Replace backup `backup`'s tarball (in location `location`, whose prefix is its name) with
/// `bytes`: what whoever may write to a shared bucket can do.
pub async fn plant_archive(world: &World, location: &str, backup: &str, bytes: Vec<u8>) {
    world
        .moto
        .s3(
            reqwest::Method::PUT,
            &format!(
                "/{}/{location}/backups/{backup}/{backup}.tar.gz",
                super::server_support::BUCKET
            ),
            bytes,
        )
        .await;
}

/// An archive entry for `object`: `resources/<gr>/namespaces/<ns>/<name>.json`, or
/// `resources/<gr>/cluster/<name>.json` without a namespace.
pub fn entry(group_resource: &str, ns: Option<&str>, object: &Value) -> (String, Vec<u8>) {
    let name = object["metadata"]["name"].as_str().unwrap();
    let path = match ns {
        Some(ns) => format!("resources/{group_resource}/namespaces/{ns}/{name}.json"),
        None => format!("resources/{group_resource}/cluster/{name}.json"),
    };
    (path, serde_json::to_vec(object).unwrap())
}

/// Wait until the restore reaches any terminal phase (at most 60 s).
pub async fn wait_restore_ended(world: &World, name: &str) -> Restore {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let restore = restores(world).get(name).await.unwrap();
        if restore.phase().is_terminal() || Instant::now() > deadline {
            return restore;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The restore's results file (Velero's `restore-<name>-results.gz`) in location `location`.
pub fn restore_results(world: &World, location: &str, name: &str) -> Value {
    let key = format!("{location}/restores/{name}/restore-{name}-results.gz");
    serde_json::from_slice(&crate::backup_support::gunzip(
        &crate::backup_support::download(world, &key),
    ))
    .unwrap()
}

/// The restore's log, from the store.
pub fn restore_log(world: &World, name: &str) -> String {
    let suffix = format!("restores/{name}/restore-{name}-logs.gz");
    let key = crate::backup_support::list_keys(world, "")
        .into_iter()
        .find(|k| k.ends_with(&suffix))
        .unwrap_or_else(|| panic!("no {suffix}"));
    String::from_utf8(crate::backup_support::gunzip(
        &crate::backup_support::download(world, &key),
    ))
    .unwrap()
}

/// Each object of `plural` in `ns`: name → (uid, resourceVersion).
pub async fn versions(
    world: &World,
    api_version: &str,
    plural: &str,
    ns: &str,
) -> BTreeMap<String, (String, String)> {
    let ar = crate::backup_support::resource(api_version, "", plural);
    let api: Api<DynamicObject> = Api::namespaced_with(world.client.clone(), ns, &ar);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| {
            (
                o.metadata.name.clone().unwrap(),
                (
                    o.metadata.uid.unwrap(),
                    o.metadata.resource_version.unwrap(),
                ),
            )
        })
        .collect()
}
