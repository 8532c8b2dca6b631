//! A backup takes pod volumes file by file: `veloxide server` and `veloxide node-agent` as
//! processes, a real control plane, moto over TLS with SSE-S3. For each pod it takes, the
//! volumes Velero's annotation (or `defaultVolumesToFsBackup`) chooses get a PodVolumeBackup,
//! the agent of the pod's node carries it out, the backup waits for them and records them in
//! `<backup>-podvolumebackups.json.gz`; the volume is in the repository, equal (restic restores
//! it); no "not in the backup" warning is left. A PodVolumeBackup that fails makes the backup
//! PartiallyFailed, naming the pod, the volume and why.
//!
//! The pods are bound to the agent's node name and marked Running with no kubelet running
//! them; their volume directories are laid out under the agent's `--kubelet-pods-dir` as the
//! kubelet lays them out (agent_support).

use std::time::Duration;

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::agent_support::*;
use crate::backup_support::*;
use crate::peers;
use crate::repository_support::{Restic, differences, inventory, known_tree};
use crate::server_support::{BUCKET, NS, Server, World};
use veloxide::api::{BackupPhase, PodVolumeBackup, PodVolumePhase};

const WAIT: Duration = Duration::from_secs(120);

fn results_of(world: &World, name: &str) -> Value {
    serde_json::from_slice(&gunzip(&download(
        world,
        &format!("default/backups/{name}/{name}-results.gz"),
    )))
    .unwrap()
}

fn all_messages(results: &Value, kind: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in [&results[kind]["velero"], &results[kind]["cluster"]] {
        out.extend(
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned)),
        );
    }
    if let Some(namespaces) = results[kind]["namespaces"].as_object() {
        for list in namespaces.values() {
            out.extend(
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
        }
    }
    out
}

async fn pvbs_of(world: &World, backup: &str) -> Vec<PodVolumeBackup> {
    let api: Api<PodVolumeBackup> = Api::namespaced(world.client.clone(), NS);
    api.list(&ListParams::default().labels(&format!("velero.io/backup-name={backup}")))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_takes_annotated_volumes_through_the_node_agent() {
    let world = World::start().await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    world
        .create_available_location(
            "default",
            json!({"serverSideEncryption": "AES256"}),
            json!({}),
        )
        .await;
    put_repository_password(&world).await;
    let work = peers::TempDir::new("backup-fsb");
    let pods_dir = work.path().join("pods");
    for ns in ["shop", "broken", "everything", "policy"] {
        create_namespace(&world, ns).await;
    }
    // The namespaces' default ServiceAccounts come from the controller manager; pods need them.
    for ns in ["shop", "broken", "everything", "policy"] {
        eventually("the default ServiceAccount exists", WAIT, || async {
            crate::restore_support::get(&world, "v1", "serviceaccounts", ns, "default")
                .await
                .is_some()
        })
        .await;
    }
    let _agent = AgentProc::start(&world, &pods_dir);

    // Opted in by Velero's annotation: the volume `data`, not the ConfigMap volume.
    let (app, volume) = pod_with_volume(&world, "shop", "app", NODE, &pods_dir).await;
    annotate(&world, &app, "data").await;
    set_running(&world, &app).await;
    known_tree(&volume);
    let want = inventory(&volume);

    let backup = backed_up(
        &world,
        "fsb-1",
        json!({"includedNamespaces": ["shop"]}),
        WAIT,
    )
    .await;
    let status = backup.status.clone().unwrap();
    assert_eq!(status.errors.unwrap_or(0), 0, "{status:?}");
    let warnings = all_messages(&results_of(&world, "fsb-1"), "warnings");
    assert!(
        !warnings.iter().any(|w| w.contains("file by file")),
        "{warnings:#?}"
    );
    let made = pvbs_of(&world, "fsb-1").await;
    assert_eq!(made.len(), 1, "{made:#?}");
    let pvb = &made[0];
    assert_eq!(pvb.spec.volume, "data");
    assert_eq!(pvb.spec.node, NODE);
    assert_eq!(pvb.spec.backup_storage_location, "default");
    assert!(pvb.name_any().starts_with("fsb-1-"), "{}", pvb.name_any());
    let pvb_status = pvb.status.clone().unwrap();
    assert_eq!(pvb_status.phase, Some(PodVolumePhase::Completed));
    let snapshot = pvb_status.snapshot_id.clone().unwrap();

    // Recorded where Velero keeps them.
    let recorded: Vec<PodVolumeBackup> = serde_json::from_slice(&gunzip(&download(
        &world,
        "default/backups/fsb-1/fsb-1-podvolumebackups.json.gz",
    )))
    .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].name_any(), pvb.name_any());
    assert_eq!(
        recorded[0].status.as_ref().unwrap().snapshot_id.as_deref(),
        Some(snapshot.as_str())
    );

    // Velero's volume info lists it (an emptyDir: no claim named).
    let info: Vec<Value> = serde_json::from_slice(&gunzip(&download(
        &world,
        "default/backups/fsb-1/fsb-1-volumeinfo.json.gz",
    )))
    .unwrap();
    let entry = info
        .iter()
        .find(|v| v["backupMethod"] == "PodVolumeBackup")
        .unwrap_or_else(|| panic!("no file-system entry: {info:#?}"));
    assert_eq!(entry["pvbInfo"]["snapshotHandle"], snapshot.as_str());
    assert_eq!(entry["pvbInfo"]["volumeName"], "data");
    assert_eq!(entry["pvbInfo"]["podName"], "app");
    assert_eq!(entry["result"], "succeeded");

    // `backup describe`: Velero's "Pod Volume Backups" section, from the cluster.
    let said = describe(&world, "fsb-1", true);
    assert!(
        said.contains("Pod Volume Backups - restic:\n  Completed:\n    shop/app: data\n"),
        "{said}"
    );
    let said = describe(&world, "fsb-1", false);
    assert!(
        said.contains(
            "Pod Volume Backups - restic (specify --details for more information):\n  Completed:  1\n"
        ),
        "{said}"
    );

    // The volume is in the store, equal.
    let restic = Restic::new(&world.moto, BUCKET, "default/restic/shop", PASSWORD);
    let checked = restic.ok(work.path(), &["check", "--read-data"]);
    assert!(checked.contains("no errors were found"), "{checked}");
    let restored = work.path().join("restored");
    restic.ok(
        work.path(),
        &["restore", &snapshot, "--target", restored.to_str().unwrap()],
    );
    let diff = differences(&want, &inventory(&restored));
    assert!(
        diff.is_empty(),
        "restic's restore differs:\n{}",
        diff.join("\n")
    );

    // A volume the agent cannot find: the backup is PartiallyFailed, naming it and why.
    let (lost, dir) = pod_with_volume(&world, "broken", "lost", NODE, &pods_dir).await;
    std::fs::remove_dir_all(&dir).unwrap();
    annotate(&world, &lost, "data").await;
    set_running(&world, &lost).await;
    create_backup(&world, "fsb-2", json!({"includedNamespaces": ["broken"]})).await;
    let partial = wait_phase(&world, "fsb-2", BackupPhase::PartiallyFailed, WAIT).await;
    assert!(partial.status.unwrap().errors.unwrap_or(0) >= 1);
    let errors = all_messages(&results_of(&world, "fsb-2"), "errors");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("pod broken/lost, volume data")
                && e.contains("Failed")
                && e.contains("no volume directory matches")),
        "{errors:#?}"
    );

    let said = describe(&world, "fsb-2", true);
    assert!(
        said.contains("  Failed:\n    broken/lost: data\n"),
        "{said}"
    );

    // defaultVolumesToFsBackup: every volume but those from the cluster's objects.
    let (all, volume) = pod_with_volume(&world, "everything", "all", NODE, &pods_dir).await;
    set_running(&world, &all).await;
    std::fs::write(volume.join("note.txt"), b"taken by default\n").unwrap();
    backed_up(
        &world,
        "fsb-3",
        json!({"includedNamespaces": ["everything"], "defaultVolumesToFsBackup": true}),
        WAIT,
    )
    .await;
    let made = pvbs_of(&world, "fsb-3").await;
    let volumes: Vec<&str> = made.iter().map(|p| p.spec.volume.as_str()).collect();
    assert_eq!(
        volumes,
        ["data"],
        "the ConfigMap volume is not backed up file by file"
    );

    // A resource policy's fs-backup action takes a volume no annotation names, as Velero's
    // volume helper does (a ConfigMap's volume still not).
    let (chosen, volume) = pod_with_volume(&world, "policy", "chosen", NODE, &pods_dir).await;
    set_running(&world, &chosen).await;
    std::fs::write(volume.join("note.txt"), b"taken by the policy\n").unwrap();
    let policies: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(world.client.clone(), NS);
    let document = "version: v1\nvolumePolicies:\n- conditions: {}\n  action: {type: fs-backup}\n";
    let policy: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "fs-everything"},
        "data": {"policy.yaml": document},
    }))
    .unwrap();
    policies
        .create(&kube::api::PostParams::default(), &policy)
        .await
        .unwrap();
    backed_up(
        &world,
        "fsb-4",
        json!({
            "includedNamespaces": ["policy"],
            "resourcePolicy": {"kind": "configmap", "name": "fs-everything"},
        }),
        WAIT,
    )
    .await;
    let made = pvbs_of(&world, "fsb-4").await;
    let volumes: Vec<&str> = made.iter().map(|p| p.spec.volume.as_str()).collect();
    assert_eq!(volumes, ["data"], "{made:#?}");
    assert_eq!(
        made[0].status.as_ref().and_then(|s| s.phase),
        Some(PodVolumePhase::Completed)
    );
}

async fn annotate(world: &World, pod: &k8s_openapi::api::core::v1::Pod, volumes: &str) {
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(world.client.clone(), &pod.namespace().unwrap());
    let patch = json!({"metadata": {"annotations": {"backup.velero.io/backup-volumes": volumes}}});
    pods.patch(
        &pod.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
}

/// `veloxide backup describe NAME [--details]` as a user runs it (the admin kubeconfig).
fn describe(world: &World, name: &str, details: bool) -> String {
    let mut args = vec!["backup", "describe", name];
    if details {
        args.push("--details");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(&args)
        .env("KUBECONFIG", world.kubeconfig())
        .env_remove("VELERO_NAMESPACE")
        .output()
        .expect("veloxide runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
