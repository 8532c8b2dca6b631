//! Velero and veloxide taking turns on one cluster (`csi_velero.rs`): both serve the
//! `velero.io` CRD names, so only one of them is installed at a time. A side leaves as its
//! uninstall does (`veloxide uninstall --crds`, `velero uninstall`): its server stopped first,
//! then the finalizers off its objects (so deleting them touches no bucket), then its CRDs and
//! with them every Backup and Restore object. The chart's RBAC, the `velero` namespace and its
//! Secrets stay for the next turn. The bucket keeps every backup: the side coming in finds them
//! by its backup sync.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};

use super::WAIT;
use crate::backup_support::eventually;
use crate::node_support::kubectl;
use crate::restore_support::base64_of;
use crate::server_support::{BUCKET, NS, Server, World, install_crds};
use crate::velero_support::{
    CLI_TIMEOUT, VeleroServer, apply, create_crds, plugin_dir, resource, restore_helper_deployment,
    tail, velero_bin, velero_crds,
};

/// How often the side in turn syncs its location (both default to a minute).
pub const SYNC: &str = "2s";

/// The CSI feature flag Velero 1.18 still needs, on its server and on its CLI for
/// `backup describe` (`pkg/apis/velero/v1/constants.go`, `CSIFeatureFlag`; checked with
/// `features.IsEnabled` in `pkg/backup/item_backupper.go`, `pkg/restore/restore.go` and the
/// describers): "built in since 1.14" means the plugin moved into Velero, not that the flag went.
pub const CSI_FEATURE: &str = "--features=EnableCSI";

/// veloxide's turn: its CRDs, its server (the chart's identity) and location `default`.
pub async fn veloxide_comes(world: &World) -> Server {
    if !crd_served(world, "backups.velero.io") {
        install_crds(&world.client).await;
    }
    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &["--backup-sync-period", SYNC],
    );
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    server
}

/// veloxide leaves: its server stopped (SIGTERM, as a Deployment's pod is), its objects'
/// finalizers dropped, its CRDs deleted.
pub fn veloxide_leaves(world: &World, server: Server) {
    server.terminate();
    let names: Vec<String> = veloxide::crds::all()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    leave(world, &names);
}

/// Velero in its turn: `velero server` out of cluster with CSI enabled, and its CLI.
pub struct VeleroTurn {
    /// Declared first: stopped before anything else goes.
    server: Option<VeleroServer>,
    kubeconfig: PathBuf,
    home: PathBuf,
    client: kube::Client,
    crds: Vec<String>,
}

/// Velero's turn: its CRDs, what `velero install` leaves beside them (the Deployment restores
/// read), a location `default` on the same bucket and prefix as veloxide's, and its server
/// with [`CSI_FEATURE`]; returns once the location is Available.
pub async fn velero_comes(world: &World) -> VeleroTurn {
    let cluster = &world.cluster;
    let crds = velero_crds(&cluster.kubeconfig);
    create_crds(&world.client, &crds).await;
    apply(
        &world.client,
        &[
            restore_helper_deployment(),
            json!({
                "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                "metadata": {"name": "default", "namespace": NS},
                "spec": {
                    "provider": "aws", "default": true,
                    "objectStorage": {"bucket": BUCKET, "prefix": "default",
                                      "caCert": base64_of(&world.moto.pki.ca.cert_pem())},
                    "credential": {"name": "cloud-credentials", "key": "cloud"},
                    "config": {"region": "us-east-1", "s3Url": world.moto.url(),
                               "s3ForcePathStyle": "true"},
                },
            }),
        ],
    )
    .await;
    let dir = cluster.dir().to_path_buf();
    let tmp = dir.join("velero-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let port = e2e::peers::free_port();
    let args: Vec<String> = vec![
        format!("TMPDIR={}", tmp.display()),
        "VELERO_CONTROLLER_RUNTIME_METRICS_ADDRESS=127.0.0.1:0".into(),
        velero_bin().display().to_string(),
        "server".into(),
        "--kubeconfig".into(),
        cluster.kubeconfig.display().to_string(),
        "--namespace".into(),
        NS.into(),
        "--plugin-dir".into(),
        plugin_dir().display().to_string(),
        "--uploader-type=kopia".into(),
        format!("--metrics-address=127.0.0.1:{port}"),
        "--profiler-address=".into(),
        format!("--backup-sync-period={SYNC}"),
        CSI_FEATURE.into(),
    ];
    let mut server = VeleroServer::start(&args, dir.join("velero-server.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !e2e::peers::process::port_open(port) {
        server.assert_running();
        assert!(
            Instant::now() < deadline,
            "velero server did not listen within 60 s:\n{}",
            tail(&server.log_text(), 80)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let turn = VeleroTurn {
        server: Some(server),
        kubeconfig: cluster.kubeconfig.clone(),
        home: dir,
        client: world.client.clone(),
        crds: crds
            .iter()
            .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_owned))
            .collect(),
    };
    eventually("Velero's location default is Available", WAIT, || async {
        turn.get("backupstoragelocations", "default")
            .await
            .is_some_and(|l| l["status"]["phase"] == "Available")
    })
    .await;
    turn
}

impl VeleroTurn {
    /// A Velero object (`velero.io/v1` `plural`) in the `velero` namespace.
    pub async fn get(&self, plural: &str, name: &str) -> Option<Value> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), NS, &resource("velero.io/v1", plural));
        api.get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// The `velero` CLI as a user runs it, with [`CSI_FEATURE`], bounded by [`CLI_TIMEOUT`];
    /// fails the test (with the server's log) unless it succeeds. Its stdout.
    pub async fn velero_ok(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("timeout");
        cmd.arg(CLI_TIMEOUT.as_secs().to_string())
            .arg(velero_bin())
            .args(args)
            .arg(CSI_FEATURE)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--namespace", NS])
            .env("HOME", &self.home)
            .env_remove("VELERO_NAMESPACE");
        let out: Output = tokio::task::spawn_blocking(move || cmd.output().expect("velero runs"))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "velero {}: {}\n{}\n--- velero server log (tail) ---\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 80)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        self.server
            .as_ref()
            .map(VeleroServer::log_text)
            .unwrap_or_default()
    }

    /// Velero leaves: its server stopped (its plugins with it), finalizers dropped, its CRDs
    /// deleted. Returns the server's log.
    pub fn leaves(mut self, world: &World) -> String {
        let log = self.log();
        drop(self.server.take());
        leave(world, &self.crds);
        log
    }
}

impl Drop for VeleroTurn {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- velero server log, last 200 lines ---\n{}",
                tail(&self.log(), 200)
            );
        }
    }
}

/// Whether the API server serves CRD `name`.
fn crd_served(world: &World, name: &str) -> bool {
    world
        .cluster
        .kubectl(&["get", "crd", name], None)
        .is_ok_and(|o| o.status.success())
}

/// Drop the finalizers of every object of these CRDs, then delete the CRDs and wait until they
/// are gone (their objects with them).
fn leave(world: &World, crds: &[String]) {
    let cluster = &world.cluster;
    for crd in crds {
        let listed = kubectl(cluster, &["get", crd, "-A", "-o", "json"]);
        let list: Value = serde_json::from_str(&listed).unwrap();
        for item in list["items"].as_array().into_iter().flatten() {
            if item["metadata"]["finalizers"].is_null() {
                continue;
            }
            let name = item["metadata"]["name"].as_str().unwrap();
            let mut args = vec!["patch", crd, name, "--type=merge"];
            let ns = item["metadata"]["namespace"].as_str();
            if let Some(ns) = ns {
                args.extend(["-n", ns]);
            }
            args.extend(["-p", r#"{"metadata":{"finalizers":null}}"#]);
            kubectl(cluster, &args);
        }
    }
    let mut args = vec!["delete", "crd", "--timeout=120s"];
    args.extend(crds.iter().map(String::as_str));
    kubectl(cluster, &args);
}
