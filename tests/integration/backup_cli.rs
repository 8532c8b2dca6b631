//! `veloxide backup create` and `backup get`, the real binary against `veloxide server`, the
//! real control plane and moto: `create --wait` returns once the archive is in the bucket (listed
//! with awscli, which shares no code with veloxide), `get` shows Velero's table with the
//! phase, an existing name is refused by name, and a backup to a missing location ends
//! FailedValidation with a non-zero exit. `describe --details` shows the status, the recorded
//! encryption, the results and the resource list read from the store.

use crate::backup_support;
use crate::server_support;

use std::process::{Command, Output};

use backup_support::{backups, create_widget_crd, create_workload, list_keys};
use serde_json::{Value, json};
use server_support::{NS, Server, World};

/// Runs the `veloxide` binary against the world's control plane.
fn veloxide(world: &World, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(args)
        .env("KUBECONFIG", &world.cluster.kubeconfig)
        .env_remove("VELERO_NAMESPACE")
        .output()
        .expect("veloxide runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_waits_get_lists_and_failures_exit_non_zero() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 2).await;
    create_workload(&world, "other", 1).await;
    let server = Server::start(&world.server_kubeconfig, "server-cli");
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;

    // create --wait: returns after the backup completed, with the archive in the bucket.
    let out = veloxide(
        &world,
        &[
            "backup",
            "create",
            "shop-1",
            "--include-namespaces",
            "shop",
            "--exclude-resources",
            "secrets",
            "--selector",
            "app=web",
            "--storage-location",
            "default",
            "--ttl",
            "24h",
            "--wait",
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("Backup request \"shop-1\" submitted successfully."),
        "{said}"
    );
    assert!(
        said.contains("Backup completed with status: Completed."),
        "{said}"
    );
    let keys = list_keys(&world, "default/backups/shop-1/");
    assert!(
        keys.contains(&"default/backups/shop-1/shop-1.tar.gz".to_owned()),
        "{keys:?}"
    );
    // The flags reached the spec as Velero's fields.
    let backup = backups(&world).get("shop-1").await.unwrap();
    let spec = serde_json::to_value(&backup.spec).unwrap();
    assert_eq!(spec["includedNamespaces"], json!(["shop"]));
    assert_eq!(spec["excludedResources"], json!(["secrets"]));
    assert_eq!(
        spec["labelSelector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(spec["ttl"], "24h0m0s");

    // get: Velero's columns, the phase, the location and the selector.
    let out = veloxide(&world, &["backup", "get"]);
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "STATUS", "ERRORS", "WARNINGS", "CREATED", "EXPIRES", "STORAGE", "LOCATION",
            "SELECTOR"
        ],
        "{table}"
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..4], ["shop-1", "Completed", "0", "0"], "{table}");
    assert_eq!(
        row[row.len() - 3..],
        ["23h", "default", "app=web"],
        "{table}"
    );
    let out = veloxide(&world, &["backup", "get", "shop-1", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["kind"], "Backup");
    assert_eq!(got["status"]["phase"], "Completed");
    let out = veloxide(&world, &["backup", "get", "missing-one"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("\"missing-one\" not found"),
        "{}",
        text(&out)
    );

    // describe --details: the status, the recorded encryption, and the results and resource
    // list fetched from the store (through a DownloadRequest the server answers, over the
    // location's own CA: no --cacert given).
    let out = veloxide(&world, &["backup", "describe", "shop-1", "--details"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let items = backup
        .status
        .as_ref()
        .and_then(|s| s.progress.as_ref())
        .and_then(|p| p.items_backed_up)
        .unwrap();
    for line in [
        "Phase:        Completed".to_string(),
        "Storage Location: default".to_string(),
        "Encryption:       None (verified by HEAD)".to_string(),
        format!("Items backed up:              {items}"),
        // Where the time went, every phase named (their values vary run to run).
        "Time per phase:".to_string(),
        "  discovery:".to_string(),
        "  volumes:".to_string(),
        "  listing:".to_string(),
        "  encoding+compression:".to_string(),
        "  upload:".to_string(),
        "  side files:".to_string(),
        "  status writes:".to_string(),
        "Results:".to_string(),
        "Resource List:".to_string(),
        "- shop/settings-0".to_string(),
        "- shop/web".to_string(),
        // Velero's line for a backup whose (empty) volume information says it took no claim.
        "CSI Snapshots: <none included>".to_string(),
    ] {
        assert!(said.contains(&line), "describe lacks {line:?}:\n{said}");
    }
    assert!(!said.contains("<error getting"), "{said}");
    assert!(
        !said.contains("secrets"),
        "excluded resources are not in the list: {said}"
    );

    // The same name again: a clear error naming it, and the first backup untouched.
    let out = veloxide(&world, &["backup", "create", "shop-1", "--wait"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("backup \"shop-1\" already exists in namespace velero"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    let again = backups(&world).get("shop-1").await.unwrap();
    assert_eq!(again.metadata.uid, backup.metadata.uid);

    // A location that does not exist: FailedValidation, said so, and a non-zero exit.
    let out = veloxide(
        &world,
        &[
            "backup",
            "create",
            "lost",
            "--storage-location",
            "nowhere",
            "--wait",
            "-n",
            NS,
        ],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("Backup completed with status: FailedValidation."),
        "{said}"
    );
    assert!(
        said.contains("backup storage location \"nowhere\" does not exist"),
        "{said}"
    );
    let out = veloxide(&world, &["backup", "get", "lost", "shop-1"]);
    let table = text(&out);
    assert!(table.contains("FailedValidation"), "{table}");
    assert!(list_keys(&world, "default/backups/lost/").is_empty());
    drop(server);
}
