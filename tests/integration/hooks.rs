//! Hooks on the real node (busybox pods, execs through the real kube-apiserver and kubelet),
//! with `veloxide server` running as the chart's ServiceAccount with `hooks.enabled` and the
//! hooks' namespace in `hooks.namespaces`: pre and post hooks run in order around each pod,
//! annotations win over the spec, a failing `onError: Fail` pre hook keeps its pod out and
//! ends the backup PartiallyFailed naming the hook, a hanging hook ends at its timeout, pods
//! the backup does not select run nothing, and the log and `backup describe --details` show
//! each hook. Without hooks enabled, a Backup with hooks fails validation saying how to
//! enable them.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use veloxide::api::BackupPhase;

use crate::backup_support::{create_backup, download, gunzip, untar, wait_phase};
use crate::node_support::{apply, kubectl, wait_ready};
use crate::server_support::{Server, World};

pub(crate) const WAIT: Duration = Duration::from_secs(120);
/// The namespace hooks may exec in (`hooks.namespaces`) and the backup takes.
const APP: &str = "hooks-app";
/// A namespace the backup does not take (its pods' hooks must not run).
const ELSEWHERE: &str = "hooks-elsewhere";

/// A busybox pod with an emptyDir at /data, waiting.
fn pod(name: &str, labels: serde_json::Value, annotations: serde_json::Value) -> String {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": e2e::images::BUSYBOX,
                            "command": ["sh", "-c", "sleep 100000"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    });
    serde_json::to_string(&pod).unwrap()
}

/// `cat FILE` in a pod, or "" when it is not there.
pub(crate) fn cat(world: &World, ns: &str, pod: &str, file: &str) -> String {
    let out = world
        .cluster
        .kubectl(&["-n", ns, "exec", pod, "--", "cat", file], None)
        .expect("kubectl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A shell hook appending `word` to /data/order.
fn append(word: &str) -> serde_json::Value {
    json!([
        "/bin/sh",
        "-c",
        format!("echo {word} >> /data/order; echo {word}-out")
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_hooks_run_around_each_pod_as_velero_runs_them() {
    let values = [
        "rbac.secretsScope=cluster",
        "hooks.enabled=true",
        "hooks.namespaces={hooks-app}",
    ];
    let world = World::start_with_node().await;
    let cluster = &world.cluster;
    for ns in [APP, ELSEWHERE] {
        kubectl(cluster, &["create", "namespace", ns]);
    }
    // The Roles of hooks.namespaces go into namespaces that exist.
    world.apply_rbac(&values).await;
    // Pods need their namespace's default ServiceAccount.
    for ns in [APP, ELSEWHERE] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster
            .kubectl(&["-n", ns, "get", "serviceaccount", "default"], None)
            .unwrap()
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "no default ServiceAccount in {ns}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let s = |v: serde_json::Value| v.to_string();
    // db: annotations for both phases (they replace the spec's hooks).
    apply(
        cluster,
        APP,
        &pod(
            "db",
            json!({"app": "db"}),
            json!({
                "pre.hook.backup.velero.io/command": s(append("pre-annotation")),
                "post.hook.backup.velero.io/command": s(append("post-annotation")),
            }),
        ),
    );
    // web: only the spec's hooks.
    apply(cluster, APP, &pod("web", json!({"app": "web"}), json!({})));
    // bad: a Fail pre hook that fails.
    apply(cluster, APP, &pod("bad", json!({"app": "bad"}), json!({})));
    // slow: a pre hook that hangs, with a 2 s timeout, Continue.
    apply(
        cluster,
        APP,
        &pod(
            "slow",
            json!({"app": "slow"}),
            json!({
                "pre.hook.backup.velero.io/command": "[\"sleep\",\"60\"]",
                "pre.hook.backup.velero.io/timeout": "2s",
                "pre.hook.backup.velero.io/on-error": "Continue",
            }),
        ),
    );
    // elsewhere: annotations on a pod the backup does not take.
    apply(
        cluster,
        ELSEWHERE,
        &pod(
            "other",
            json!({"app": "other"}),
            json!({"pre.hook.backup.velero.io/command": s(append("never"))}),
        ),
    );
    for (ns, p) in [
        (APP, "db"),
        (APP, "web"),
        (APP, "bad"),
        (APP, "slow"),
        (ELSEWHERE, "other"),
    ] {
        wait_ready(cluster, ns, p);
    }

    let server = Server::start_with(&world.server_kubeconfig, "hooks", &["--hooks-enabled"]);
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    let started = Instant::now();
    create_backup(
        &world,
        "hooked",
        json!({
            "includedNamespaces": [APP],
            "hooks": {"resources": [
                {"name": "order", "labelSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["db", "web"]}]},
                 "pre": [{"exec": {"command": append("pre-spec")}}],
                 "post": [{"exec": {"command": append("post-spec")}},
                          {"exec": {"command": ["/bin/sh", "-c", "echo nope >&2; exit 4"],
                                    "onError": "Continue"}}]},
                {"name": "must-pass", "labelSelector": {"matchLabels": {"app": "bad"}},
                 "pre": [{"exec": {"command": ["/bin/sh", "-c", "echo broken >&2; exit 3"]}}],
                 "post": [{"exec": {"command": append("post-bad")}}]},
            ]},
        }),
    )
    .await;
    let backup = wait_phase(&world, "hooked", BackupPhase::PartiallyFailed, WAIT).await;
    let took = started.elapsed();
    let status = backup.status.clone().unwrap();

    // Pre before post, in each pod; the annotations replaced the spec's hooks on db.
    assert_eq!(
        cat(&world, APP, "db", "/data/order"),
        "pre-annotation\npost-annotation\n"
    );
    assert_eq!(
        cat(&world, APP, "web", "/data/order"),
        "pre-spec\npost-spec\n"
    );
    // A failed Fail pre hook: no post hook on that pod.
    assert_eq!(cat(&world, APP, "bad", "/data/order"), "");
    // Pods the backup does not take run nothing.
    assert_eq!(cat(&world, ELSEWHERE, "other", "/data/order"), "");

    // db pre+post, web pre+post+failing post, bad pre, slow pre: 7 tried, 3 failed.
    let hooks = status.hook_status.clone().unwrap();
    assert_eq!(
        (hooks.hooks_attempted, hooks.hooks_failed),
        (Some(7), Some(3)),
        "{status:#?}"
    );
    // The hanging hook ended at its 2 s timeout, not after its 60 s.
    assert!(took < Duration::from_secs(55), "the backup took {took:?}");

    // The pod whose Fail pre hook failed is not in the archive; the others are.
    let entries = untar(&download(&world, "default/backups/hooked/hooked.tar.gz"));
    for (p, want) in [("db", true), ("web", true), ("slow", true), ("bad", false)] {
        let key = format!("resources/pods/namespaces/{APP}/{p}.json");
        assert_eq!(entries.contains_key(&key), want, "{key}");
    }

    // The log: each hook with its outcome and output; the error names the hook.
    let log = String::from_utf8(gunzip(&download(
        &world,
        "default/backups/hooked/hooked-logs.gz",
    )))
    .unwrap();
    for want in [
        r#"pre hook \"<from-annotation>\" (annotation) in pod hooks-app/db container \"main\": succeeded"#,
        r#"stdout=\"pre-annotation-out\""#,
        r#"post hook \"order\" (spec) in pod hooks-app/web container \"main\": failed (onError Continue): the command exited with code 4"#,
        r#"stderr=\"nope\""#,
        r#"pre hook \"must-pass\" (spec) in pod hooks-app/bad container \"main\": failed (onError Fail): the command exited with code 3"#,
        r#"pod hooks-app/bad not backed up: its pre hook \"must-pass\" failed with onError Fail"#,
        r#"pod hooks-app/slow container \"main\": failed (onError Continue): timed out after 2s"#,
    ] {
        assert!(log.contains(want), "no {want:?} in the log:\n{log}");
    }
    assert!(!log.contains("never"), "{log}");
    assert_eq!(
        status.errors,
        Some(2),
        "the Fail hook and the pod left out: {status:#?}"
    );

    // `backup describe --details` lists each hook and its outcome.
    let describe = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["backup", "describe", "hooked", "--details", "-n", "velero"])
        .env("KUBECONFIG", world.kubeconfig())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&describe.stdout);
    assert!(
        describe.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&describe.stderr)
    );
    for want in [
        "HooksAttempted:  7",
        "HooksFailed:     3",
        "Hooks:",
        "pre hook \"must-pass\" (spec) in pod hooks-app/bad container \"main\": failed (onError Fail)",
        "post hook \"<from-annotation>\" (annotation) in pod hooks-app/db container \"main\": succeeded",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}

/// A server without `--hooks-enabled` (the chart's default) refuses a Backup with hooks, saying
/// how to enable them, and holds no exec right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_hooks_enabled_a_backup_with_hooks_fails_validation() {
    let world = World::start().await;
    let server = Server::start(&world.server_kubeconfig, "no-hooks");
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    create_backup(
        &world,
        "asks-hooks",
        json!({"hooks": {"resources": [{"name": "freeze",
            "pre": [{"exec": {"command": ["/sbin/fsfreeze", "--freeze", "/data"]}}]}]}}),
    )
    .await;
    let backup = wait_phase(&world, "asks-hooks", BackupPhase::FailedValidation, WAIT).await;
    let errors = backup.status.unwrap().validation_errors.unwrap();
    assert!(
        errors.iter().any(
            |e| e.starts_with("spec.hooks: this server runs without hooks")
                && e.contains("hooks.enabled=true")
        ),
        "{errors:?}"
    );
    let can_i = world
        .cluster
        .kubectl(
            &[
                "auth",
                "can-i",
                "create",
                "pods",
                "--subresource=exec",
                "-n",
                "default",
                "--as",
                "system:serviceaccount:velero:veloxide",
            ],
            None,
        )
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&can_i.stdout).trim(), "no");
}

/// A StatefulSet whose pod writes nothing itself: the backup's pre hook writes a marker into
/// its CSI volume and syncs, the post hook writes another after the snapshot. Restored into
/// another namespace, the volume holds the pre hook's marker and not the post hook's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_hook_s_marker_is_in_the_snapshot_and_the_post_hook_s_is_not() {
    const DB: &str = "hooks-db";
    let world = World::start_with_node().await;
    let cluster = &world.cluster;
    kubectl(cluster, &["create", "namespace", DB]);
    world
        .apply_rbac(&[
            "rbac.secretsScope=cluster",
            crate::server_support::RESTORE_WIDGETS,
            "hooks.enabled=true",
            "hooks.namespaces={hooks-db}",
        ])
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster
        .kubectl(&["-n", DB, "get", "serviceaccount", "default"], None)
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "no default ServiceAccount");
        std::thread::sleep(Duration::from_millis(200));
    }
    let statefulset = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db", "replicas": 1,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "main", "image": e2e::images::BUSYBOX,
                                    "command": ["sh", "-c", "sleep 100000"],
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "storageClassName": "veloxide-csi", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "16Mi"}}}}],
        },
    });
    apply(cluster, DB, &statefulset.to_string());
    wait_ready(cluster, DB, "db-0");

    let server = Server::start_with(&world.server_kubeconfig, "hooks", &["--hooks-enabled"]);
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    create_backup(
        &world,
        "frozen",
        json!({
            "includedNamespaces": [DB],
            // The chart's hooks Role and RoleBinding live in the namespace: a restore may not
            // grant pods/exec (it holds it only where the chart says), so leave them out.
            "excludedResources": ["roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io"],
            "hooks": {"resources": [{"name": "freeze",
                "pre": [{"exec": {"command": ["/bin/sh", "-c", "echo before-snapshot > /data/marker; sync"]}}],
                "post": [{"exec": {"command": ["/bin/sh", "-c", "echo after-snapshot > /data/after; sync"]}}],
            }]},
        }),
    )
    .await;
    let backup = loop {
        let b = crate::backup_support::backups(&world)
            .get("frozen")
            .await
            .unwrap();
        if b.phase().is_terminal() {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let results = gunzip(&download(
        &world,
        "default/backups/frozen/frozen-results.gz",
    ));
    assert_eq!(
        backup.phase(),
        BackupPhase::Completed,
        "{}",
        String::from_utf8_lossy(&results)
    );
    let status = backup.status.unwrap();
    assert_eq!(status.csi_volume_snapshots_completed, Some(1), "{status:?}");
    assert_eq!(
        status
            .hook_status
            .map(|h| (h.hooks_attempted, h.hooks_failed)),
        Some((Some(2), Some(0)))
    );
    // Both hooks ran in the running pod.
    assert_eq!(cat(&world, DB, "db-0", "/data/after"), "after-snapshot\n");

    crate::restore_support::create_restore(
        &world,
        "thawed",
        json!({"backupName": "frozen", "namespaceMapping": {DB: "hooks-db-copy"}}),
    )
    .await;
    let thawed = crate::restore_support::wait_restore_ended(&world, "thawed").await;
    assert_eq!(
        thawed.phase(),
        veloxide::api::RestorePhase::Completed,
        "{}",
        crate::restore_support::restore_results(&world, "default", "thawed")
    );
    wait_ready(cluster, "hooks-db-copy", "db-0");
    assert_eq!(
        cat(&world, "hooks-db-copy", "db-0", "/data/marker"),
        "before-snapshot\n",
        "the pre hook's marker is in the snapshot"
    );
    assert_eq!(
        cat(&world, "hooks-db-copy", "db-0", "/data/after"),
        "",
        "the post hook ran after the snapshot"
    );
}
