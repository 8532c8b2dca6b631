//! Restores cannot be steered or sunk by the archive. A real backup's tarball in moto is
//! replaced by crafted ones: an item whose JSON names another namespace (or another name, or
//! another API group) than its path is an item error and nothing is created outside what the
//! filters chose; a gzip bomb, an over-long path, and a backup larger than the restore spool
//! (`--restore-spool-limit`) each end the restore Failed, the bound named, and the server
//! keeps running.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::process::Stdio;
use std::time::Duration;

use backup_support::*;
use restore_support::*;
use serde_json::{Value, json};
use server_support::{BUCKET, Server, World};
use veloxide::api::RestorePhase;

/// The /tmp volume the server is told it has: items may take 1Mi less a quarter = 768 KiB.
const SPOOL: &str = "1Mi";

/// A tar.gz of (path, bytes) entries, as an attacker would write it.
fn crafted(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
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

fn cm(name: &str, namespace: Option<&str>) -> Vec<u8> {
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
        "data": {"planted": "yes"}}),
    )
    .unwrap()
}

/// Replace backup `b`'s tarball (location "crafted") with `bytes`.
async fn plant(world: &World, backup: &str, bytes: Vec<u8>) {
    world
        .moto
        .s3(
            reqwest::Method::PUT,
            &format!("/{BUCKET}/crafted/backups/{backup}/{backup}.tar.gz"),
            bytes,
        )
        .await;
}

async fn restore_of(world: &World, name: &str, spec: Value, phase: RestorePhase) -> String {
    create_restore(world, name, spec).await;
    let restore = wait_restore(world, name, phase).await;
    serde_json::to_string(&restore.status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_archives_cannot_steer_or_sink_a_restore() {
    let world = World::start().await;
    for ns in ["app", "victim"] {
        create(
            &world,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "real", "namespace": "app"}, "data": {"k": "v"}}),
    )
    .await;
    let server = Server::start_logged(
        &world.server_kubeconfig,
        "server-a",
        "info,veloxide=debug",
        Stdio::inherit(),
        &["--restore-spool-limit", SPOOL],
    );
    server.wait_ready().await;
    world
        .create_available_location("crafted", json!({}), json!({}))
        .await;
    for b in ["steer", "bomb", "long", "big"] {
        backed_up(
            &world,
            b,
            json!({"includedNamespaces": ["app"], "storageLocation": "crafted"}),
            Duration::from_secs(60),
        )
        .await;
    }

    // Steering: each planted item names somewhere its path does not.
    let path = |ns: &str, name: &str| format!("resources/configmaps/namespaces/{ns}/{name}.json");
    plant(
        &world,
        "steer",
        crafted(&[
            // Path says app (which the filter takes), JSON says victim.
            (path("app", "to-victim"), cm("to-victim", Some("victim"))),
            // Path says app, JSON renames the object.
            (path("app", "alias"), cm("overwrite-me", Some("app"))),
            // A cluster-scoped path carrying a namespaced object.
            (
                "resources/configmaps/cluster/sneaky.json".into(),
                cm("sneaky", Some("victim")),
            ),
            // An RBAC object filed under configmaps.
            (
                path("app", "admin"),
                serde_json::to_vec(&json!({"apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding", "metadata": {"name": "admin", "namespace": "app"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": "cluster-admin"},
                    "subjects": [{"kind": "User", "name": "mallory"}]}))
                .unwrap(),
            ),
            // An honest item, with no namespace in its JSON: it lands in the path's.
            (path("app", "honest"), cm("honest", None)),
        ]),
    )
    .await;
    let status = restore_of(
        &world,
        "r-steer",
        json!({"backupName": "steer", "includedNamespaces": ["app"],
               "namespaceMapping": {"app": "app-copy"}}),
        RestorePhase::PartiallyFailed,
    )
    .await;
    assert!(status.contains("\"errors\":4"), "{status}");
    assert!(
        get(&world, "v1", "configmaps", "app-copy", "honest")
            .await
            .is_some(),
        "the honest item is restored into the mapped path namespace"
    );
    for (ns, name) in [
        ("victim", "to-victim"),
        ("app-copy", "to-victim"),
        ("app-copy", "overwrite-me"),
        ("app", "overwrite-me"),
        ("victim", "sneaky"),
        ("app-copy", "alias"),
    ] {
        assert!(
            get(&world, "v1", "configmaps", ns, name).await.is_none(),
            "{ns}/{name} must not exist"
        );
    }
    assert!(
        get(
            &world,
            "rbac.authorization.k8s.io/v1",
            "rolebindings",
            "app-copy",
            "admin"
        )
        .await
        .is_none()
    );
    let logs = cli(&world, &["restore", "logs", "r-steer"]).await;
    let logs = stdout(&logs);
    assert!(
        logs.contains("metadata.namespace \\\"victim\\\" differs"),
        "{logs}"
    );
    assert!(logs.contains("not in the group of its path"), "{logs}");

    // A gzip bomb: 100 MiB of zeros in one entry, about 100 KiB on the wire.
    plant(
        &world,
        "bomb",
        crafted(&[("padding/zeros".into(), vec![0u8; 100 << 20])]),
    )
    .await;
    let status = restore_of(
        &world,
        "r-bomb",
        json!({"backupName": "bomb"}),
        RestorePhase::Failed,
    )
    .await;
    assert!(status.contains("bound on decompressed size"), "{status}");

    // A path over the bound.
    let long = format!(
        "resources/configmaps/namespaces/app/{}.json",
        "n".repeat(2000)
    );
    plant(&world, "long", crafted(&[(long, cm("n", None))])).await;
    let status = restore_of(
        &world,
        "r-long",
        json!({"backupName": "long"}),
        RestorePhase::Failed,
    )
    .await;
    assert!(status.contains("over the bound of 1024 bytes"), "{status}");

    // Items larger than the spool: refused before the volume fills.
    let blob = |i: usize| {
        (
            path("app", &format!("blob-{i}")),
            serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("blob-{i}")},
                "data": {"blob": "x".repeat(300 * 1024)}}))
            .unwrap(),
        )
    };
    plant(
        &world,
        "big",
        crafted(&(0..4).map(blob).collect::<Vec<_>>()),
    )
    .await;
    let status = restore_of(
        &world,
        "r-big",
        json!({"backupName": "big"}),
        RestorePhase::Failed,
    )
    .await;
    assert!(status.contains("restore spool's 786432 bytes"), "{status}");
    assert!(status.contains("restoreSpool.sizeLimit"), "{status}");
    assert!(server.ready().await, "the server is still serving");
}
