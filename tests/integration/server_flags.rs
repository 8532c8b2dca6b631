//! Velero's server flags that tune backups, as a Velero user sets them on the server's
//! Deployment: `--default-backup-ttl`, `--default-backup-storage-location` and
//! `--client-page-size` (before, the docs named them and the server refused them).

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use serde_json::json;
use server_support::{Server, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_server_flags_set_the_ttl_location_and_page_size() {
    let world = World::start().await;
    create_workload(&world, "shop", 5).await;
    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &[
            "--default-backup-ttl",
            "48h",
            "--default-backup-storage-location",
            "primary",
            "--client-page-size",
            "2",
        ],
    );
    server.wait_ready().await;
    // Not marked `default: true`, and not named `default`: only the flag makes it the default.
    world
        .create_available_location("primary", json!({}), json!({}))
        .await;
    let before = world.cluster.requests().unwrap().len();

    let backup = backed_up(
        &world,
        "plain",
        json!({"includedNamespaces": ["shop"]}),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(backup.spec.storage_location.as_deref(), Some("primary"));
    let created = backup.metadata.creation_timestamp.as_ref().unwrap().0;
    let expires = backup
        .status
        .as_ref()
        .unwrap()
        .expiration
        .as_ref()
        .unwrap()
        .0;
    let kept = expires.duration_since(created).as_secs();
    assert!(
        (48 * 3600 - 120..=48 * 3600 + 120).contains(&kept),
        "expiration {expires} is {kept} s after creation {created}, not 48h"
    );
    assert!(!list_keys(&world, "primary/backups/plain/").is_empty());

    // Six ConfigMaps in shop (five and kube-root-ca.crt), listed two at a time.
    let log = world.cluster.requests().unwrap().split_off(before);
    let lists: Vec<&str> = log
        .iter()
        .filter(|r| {
            r["verb"] == "list" && r["user"]["username"] == "system:serviceaccount:velero:veloxide"
        })
        .filter_map(|r| r["requestURI"].as_str())
        .filter(|uri| uri.contains("/namespaces/shop/configmaps?"))
        .collect();
    assert!(lists.len() >= 3, "{lists:?}");
    assert!(lists.iter().all(|uri| uri.contains("limit=2")), "{lists:?}");
}

/// `--client-page-size 0` means "no paging" to Velero; veloxide always pages, so it refuses
/// the value instead of reading it differently.
#[test]
fn a_page_size_of_zero_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["server", "--client-page-size", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--client-page-size"), "{stderr}");
}
