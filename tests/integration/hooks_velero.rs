//! Velero beside us: a namespace whose pod carries Velero's restore hook annotations
//! (`init.hook.restore.velero.io/*`, `post.hook.restore.velero.io/*`), backed up by veloxide,
//! restored by Velero on a cluster with a node: the annotations are carried in the archive
//! unchanged, so Velero adds the same init container and runs the same exec hook.

use std::time::Duration;

use serde_json::json;
use veloxide::api::BackupPhase;

use crate::backup_support::{create_backup, wait_phase};
use crate::node_support::{kubectl, wait_ready};
use crate::restore_support::base64_of;
use crate::server_support::{BUCKET, Server, World};
use crate::velero_support::VeleroSide;

const WAIT: Duration = Duration::from_secs(120);
const NS: &str = "hooks-interop";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_runs_the_restore_hooks_of_a_veloxide_backup() {
    let x = World::start().await;
    let mut v = VeleroSide::start_with_node(x.moto.clone()).await;
    // The pod needs no node on veloxide's side: the backup takes the object.
    x.cluster
        .kubectl(&["create", "namespace", NS], None)
        .unwrap();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": NS, "annotations": {
            "init.hook.restore.velero.io/container-image": e2e::images::BUSYBOX,
            "init.hook.restore.velero.io/container-name": "seed",
            // An annotation's init container mounts nothing: it only has to succeed.
            "init.hook.restore.velero.io/command": "[\"sh\", \"-c\", \"echo seeded\"]",
            "post.hook.restore.velero.io/command": "[\"sh\", \"-c\", \"echo exec-ran > /data/exec-saw\"]",
        }},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": e2e::images::BUSYBOX,
                            "command": ["sh", "-c", "sleep 100000"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    });
    let out = x
        .cluster
        .kubectl(&["apply", "-f", "-"], Some(&pod.to_string()))
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&x.server_kubeconfig, "interop");
    server.wait_ready().await;
    x.create_available_location("default", json!({}), json!({}))
        .await;
    create_backup(&x, "annotated", json!({"includedNamespaces": [NS]})).await;
    wait_phase(&x, "annotated", BackupPhase::Completed, WAIT).await;

    // Velero reads the same bucket and prefix.
    v.apply(&[json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": "velero"},
        "spec": {
            "provider": "aws", "default": true,
            "objectStorage": {"bucket": BUCKET, "prefix": "default",
                              "caCert": base64_of(&x.moto.pki.ca.cert_pem())},
            "credential": {"name": "cloud-credentials", "key": "cloud"},
            "config": {"region": "us-east-1", "s3Url": x.moto.url(), "s3ForcePathStyle": "true"},
        },
    })])
    .await;
    v.start_server(&["--backup-sync-period=2s"]);
    v.wait_location_available("default", WAIT).await;
    let mut synced = false;
    for _ in 0..(WAIT.as_millis() / 250) {
        if v.get("backups", "annotated").await.is_some() {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        synced,
        "Velero's sync never found the backup:\n{}",
        v.server_log()
    );
    v.velero_ok(&[
        "restore",
        "create",
        "back",
        "--from-backup",
        "annotated",
        "--wait",
    ])
    .await;
    let restore = v.get("restores", "back").await.unwrap();
    assert_eq!(
        restore["status"]["phase"], "Completed",
        "{}",
        restore["status"]
    );
    assert_eq!(
        restore["status"]["hookStatus"],
        json!({"hooksAttempted": 1}),
        "{}",
        restore["status"]
    );
    wait_ready(&v.cluster, NS, "web");
    let inits = kubectl(
        &v.cluster,
        &[
            "-n",
            NS,
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.spec.initContainers[*].name}",
        ],
    );
    assert_eq!(inits, "seed");
    let init_exit = kubectl(
        &v.cluster,
        &[
            "-n",
            NS,
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.status.initContainerStatuses[0].state.terminated.exitCode}",
        ],
    );
    assert_eq!(init_exit, "0", "the init hook ran and succeeded");
    let saw = kubectl(
        &v.cluster,
        &["-n", NS, "exec", "web", "--", "cat", "/data/exec-saw"],
    );
    assert_eq!(saw, "exec-ran\n", "Velero ran the exec hook");
}
