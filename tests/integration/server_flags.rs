//! Velero's server flags that tune backups, as a Velero user sets them on the server's
//! Deployment: `--default-backup-ttl`, `--default-backup-storage-location` and
//! `--client-page-size` (before, the docs named them and the server refused them).

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use serde_json::json;
use server_support::{Server, World};
use veloxide::api::RestorePhase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_server_flags_set_the_ttl_location_and_page_size() {
    let world = World::start().await;
    create_widget_crd(&world).await;
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

/// A server with `extra` flags, no `RUST_LOG`, its log in `file`.
fn server_logging_to(
    world: &World,
    identity: &str,
    file: &std::path::Path,
    extra: &[&str],
) -> Server {
    let log = std::fs::File::create(file).unwrap();
    Server::start_logged(&world.server_kubeconfig, identity, "", log.into(), extra)
}

async fn request_status(world: &World, name: &str) {
    create(
        world,
        json!({"apiVersion": "velero.io/v1", "kind": "ServerStatusRequest",
               "metadata": {"name": name, "namespace": server_support::NS}, "spec": {}}),
    )
    .await;
}

async fn status_phase(world: &World, name: &str) -> Option<String> {
    let requests: kube::Api<veloxide::api::ServerStatusRequest> =
        kube::Api::namespaced(world.client.clone(), server_support::NS);
    let request = requests.get(name).await.unwrap();
    request
        .status
        .and_then(|s| s.phase)
        .map(|p| format!("{p:?}"))
}

/// Velero's `--restore-only`, `--disable-controllers`, `--log-level`, `--log-format`,
/// `--profiler-address` and `--terminating-resource-timeout`, as a Velero user sets them on the
/// server: restore-only leaves a new backup New while the rest of the server answers; disabling
/// server-status-request leaves `velero version`'s request unanswered while backups run; the
/// log comes at the level and in the format asked; a restore into a namespace still being
/// deleted waits for it (and gives up after the timeout, naming the flag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_server_flags_choose_controllers_logging_and_the_terminating_wait() {
    let world = World::start().await;
    let dir = world.cluster.dir().to_owned();
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "prices", "namespace": "shop"}, "data": {"tea": "3"}}),
    )
    .await;

    // --restore-only, debug, JSON.
    let first_log = dir.join("restore-only.log");
    let first = server_logging_to(
        &world,
        "server-a",
        &first_log,
        &[
            "--restore-only",
            "--log-level",
            "debug",
            "--log-format",
            "json",
        ],
    );
    first.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    create_backup(&world, "held", json!({"includedNamespaces": ["shop"]})).await;
    request_status(&world, "ping-1").await;
    eventually("ping-1 is answered", Duration::from_secs(30), || async {
        status_phase(&world, "ping-1").await.as_deref() == Some("Processed")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        backups(&world).get("held").await.unwrap().phase(),
        veloxide::api::BackupPhase::New,
        "--restore-only: the backup is not started"
    );
    assert!(first.terminate().success());
    let text = std::fs::read_to_string(&first_log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.starts_with("veloxide "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"), "{text}");
    assert!(text.contains("--restore-only is deprecated"), "{text}");

    // Backups again; no answers to ServerStatusRequests; warnings only; a short wait for
    // terminating namespaces.
    let second_log = dir.join("disabled.log");
    let second = server_logging_to(
        &world,
        "server-b",
        &second_log,
        &[
            "--disable-controllers",
            "server-status-request,gc",
            "--log-level",
            "warning",
            "--profiler-address",
            "localhost:6060",
            "--terminating-resource-timeout",
            "20s",
        ],
    );
    second.wait_ready().await;
    wait_phase(
        &world,
        "held",
        veloxide::api::BackupPhase::Completed,
        Duration::from_secs(60),
    )
    .await;
    request_status(&world, "ping-2").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        status_phase(&world, "ping-2").await,
        None,
        "server-status-request is disabled"
    );

    // `kubectl delete namespace shop` and a restore at once: the namespace is still being
    // deleted (a finalizer holds it here) when the restore reaches it. The restore waits, and
    // once it is gone makes it anew (before, the restore failed at once: "namespace shop is
    // being deleted; restore after it is gone").
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), "shop");
    let hold_and_delete = || async {
        create(
            &world,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "pin", "namespace": "shop",
                                "finalizers": ["example.com/hold"]}}),
        )
        .await;
        namespaces
            .delete("shop", &Default::default())
            .await
            .unwrap();
        eventually("shop is terminating", Duration::from_secs(10), || async {
            let ns = namespaces.get("shop").await.unwrap();
            ns.status.and_then(|s| s.phase).as_deref() == Some("Terminating")
        })
        .await;
    };
    let release = || async {
        configmaps
            .patch(
                "pin",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .unwrap();
    };
    hold_and_delete().await;
    restore_support::create_restore(&world, "in-time", json!({"backupName": "held"})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    release().await;
    restore_support::wait_restore(&world, "in-time", RestorePhase::Completed).await;
    let prices = configmaps.get("prices").await.unwrap();
    assert_eq!(prices.data.unwrap()["tea"], "3");
    assert!(configmaps.get_opt("pin").await.unwrap().is_none());

    // Held past the timeout: the restore gives up on that namespace, naming the flag.
    hold_and_delete().await;
    restore_support::create_restore(&world, "too-soon", json!({"backupName": "held"})).await;
    let too_soon = restore_support::wait_restore_ended(&world, "too-soon").await;
    release().await;
    assert_eq!(too_soon.phase(), RestorePhase::PartiallyFailed);
    let results = restore_support::restore_results(&world, "default", "too-soon").to_string();
    assert!(
        results.contains("namespace shop is still being deleted after 20s")
            && results.contains("--terminating-resource-timeout"),
        "{results}"
    );

    drop(second);
    let text = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        text.contains("--profiler-address: veloxide has no profiler endpoint"),
        "{text}"
    );
    assert!(!text.contains(" INFO "), "--log-level warning: {text}");
}

/// A controller name Velero does not know stops the server, with Velero's message.
#[test]
fn an_unknown_controller_name_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["server", "--disable-controllers", "backup-storage-location"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Invalid value for --disable-controllers flag provided: backup-storage-location. Valid values are: backup-queue,backup,"),
        "{stderr}"
    );
}
