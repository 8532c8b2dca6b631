//! Restore hooks on the real node (busybox pods, execs through the real kube-apiserver and
//! kubelet), with `veloxide server` running as the chart's ServiceAccount with `hooks.enabled`
//! and the restored namespace in `hooks.namespaces`: init containers from the spec go first and
//! run before the application, exec hooks wait for readiness and their output is in the
//! restore log, a `Continue` failure is a warning.

use std::time::{Duration, Instant};

use serde_json::json;
use veloxide::api::BackupPhase;

use crate::backup_support::{create_backup, download, gunzip, wait_phase};
use crate::hooks::{WAIT, cat};
use crate::node_support::{apply, kubectl, wait_ready};
use crate::server_support::{Server, World};

/// A restore with an init hook and exec hooks: the init container runs before the
/// application (which reads what it wrote), the exec hook with `waitForReady` runs once the
/// pod is Ready and its output is in the restore log, and a failing hook with `onError:
/// Continue` leaves a warning (the restore still Completes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_hooks_add_init_containers_and_exec_once_ready() {
    const SRC: &str = "hooks-src";
    const COPY: &str = "hooks-copy";
    let world = World::start_with_node().await;
    let cluster = &world.cluster;
    for ns in [SRC, COPY] {
        kubectl(cluster, &["create", "namespace", ns]);
    }
    world
        .apply_rbac(&[
            "rbac.secretsScope=cluster",
            crate::server_support::RESTORE_WIDGETS,
            "hooks.enabled=true",
            "hooks.namespaces={hooks-copy}",
        ])
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster
        .kubectl(&["-n", SRC, "get", "serviceaccount", "default"], None)
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "no default ServiceAccount");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The application records what it finds at start, and becomes Ready a few seconds later.
    let app = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": e2e::images::BUSYBOX,
                "command": ["sh", "-c",
                    "cat /data/init > /data/app-saw 2>/dev/null; sleep 4; touch /tmp/ready; sleep 100000"],
                "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    });
    apply(cluster, SRC, &app.to_string());
    wait_ready(cluster, SRC, "web");

    let server = Server::start_with(&world.server_kubeconfig, "hooks", &["--hooks-enabled"]);
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    create_backup(&world, "src", json!({"includedNamespaces": [SRC]})).await;
    wait_phase(&world, "src", BackupPhase::Completed, WAIT).await;

    let started = Instant::now();
    crate::restore_support::create_restore(
        &world,
        "hooked",
        json!({
            "backupName": "src", "namespaceMapping": {SRC: COPY},
            "hooks": {"resources": [{"name": "warm-up", "includedNamespaces": [COPY],
                "postHooks": [
                    {"init": {"initContainers": [{"name": "seed", "image": e2e::images::BUSYBOX,
                        "command": ["sh", "-c", "echo init-ran > /data/init"],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                    {"exec": {"command": ["sh", "-c", "cat /data/app-saw; test -f /tmp/ready && echo was-ready"],
                              "waitForReady": true, "waitTimeout": "2m", "execTimeout": "10s"}},
                    {"exec": {"command": ["sh", "-c", "echo going-wrong >&2; exit 5"],
                              "onError": "Continue"}},
                ]}]},
        }),
    )
    .await;
    let restore = crate::restore_support::wait_restore(
        &world,
        "hooked",
        veloxide::api::RestorePhase::Completed,
    )
    .await;
    let status = restore.status.unwrap();
    assert_eq!(
        status
            .hook_status
            .map(|h| (h.hooks_attempted, h.hooks_failed)),
        Some((Some(2), Some(1))),
    );
    assert!(status.warnings.unwrap_or(0) >= 1, "{:?}", status.warnings);
    // The restore waited for the pod to become Ready (it takes 4 s after starting).
    assert!(started.elapsed() > Duration::from_secs(4));

    // The init container is first, and ran before the application.
    let inits = kubectl(
        cluster,
        &[
            "-n",
            COPY,
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.spec.initContainers[*].name}",
        ],
    );
    assert_eq!(inits, "seed");
    assert_eq!(cat(&world, COPY, "web", "/data/app-saw"), "init-ran\n");

    let log = String::from_utf8(gunzip(&download(
        &world,
        "default/restores/hooked/restore-hooked-logs.gz",
    )))
    .unwrap();
    for want in [
        r#"post-restore hook \"warm-up\" (spec) in pod hooks-copy/web container \"main\": succeeded"#,
        r#"stdout=\"init-ran\\nwas-ready\""#,
        r#"failed (onError Continue): the command exited with code 5"#,
        r#"stderr=\"going-wrong\""#,
    ] {
        assert!(log.contains(want), "no {want:?} in the restore log:\n{log}");
    }
    let results = crate::restore_support::restore_results(&world, "default", "hooked");
    assert!(
        results["warnings"]["namespaces"][COPY]
            .to_string()
            .contains("exited with code 5"),
        "{results}"
    );
}
