//! Deleting a backup forgets its file-system backups and no other's: `veloxide server` and
//! `veloxide node-agent` as processes, a real control plane, moto over TLS with SSE-S3, and
//! the `restic` CLI as the outside check. Two backups of one volume (the second incremental
//! on the first); the second's list of PodVolumeBackups is made to name the first's snapshot
//! too, as a damaged or planted list could; deleting the second forgets its own snapshot
//! only (the first's tags carry the first backup's uid), and the first still restores equal
//! and `restic check --read-data` passes. A kopia snapshot in the list (a Velero backup's,
//! which veloxide cannot open) does not keep the Backup from being deleted.

use std::io::Write as _;
use std::time::Duration;

use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::agent_support::*;
use crate::backup_support::*;
use crate::peers;
use crate::repository_support::{Restic, differences, inventory};
use crate::server_support::{BUCKET, NS, Server, World};
use veloxide::api::{DeleteBackupRequest, PodVolumeBackup};

const WAIT: Duration = Duration::from_secs(120);

async fn snapshot_of(world: &World, backup: &str) -> String {
    let api: Api<PodVolumeBackup> = Api::namespaced(world.client.clone(), NS);
    let made = api
        .list(&ListParams::default().labels(&format!("velero.io/backup-name={backup}")))
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 1, "{made:#?}");
    made[0].status.clone().unwrap().snapshot_id.unwrap()
}

/// `restic snapshots --json`: every snapshot's full id.
fn restic_ids(restic: &Restic, dir: &std::path::Path) -> Vec<String> {
    let out: Value = serde_json::from_str(&restic.ok(dir, &["snapshots", "--json"])).unwrap();
    out.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_backup_forgets_its_volume_snapshots_and_no_other() {
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
    let work = peers::TempDir::new("delete-fsb");
    let pods_dir = work.path().join("pods");
    create_namespace(&world, "shop").await;
    eventually("the default ServiceAccount exists", WAIT, || async {
        crate::restore_support::get(&world, "v1", "serviceaccounts", "shop", "default")
            .await
            .is_some()
    })
    .await;
    let _agent = AgentProc::start(&world, &pods_dir);
    let (app, volume) = pod_with_volume(&world, "shop", "app", NODE, &pods_dir).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(world.client.clone(), "shop");
    pods.patch(
        &app.name_any(),
        &PatchParams::default(),
        &Patch::Merge(
            &json!({"metadata": {"annotations": {"backup.velero.io/backup-volumes": "data"}}}),
        ),
    )
    .await
    .unwrap();
    set_running(&world, &app).await;

    std::fs::write(volume.join("first.txt"), vec![b'1'; 300_000]).unwrap();
    let want_first = inventory(&volume);
    backed_up(
        &world,
        "keep-1",
        json!({"includedNamespaces": ["shop"]}),
        WAIT,
    )
    .await;
    let first = snapshot_of(&world, "keep-1").await;
    std::fs::write(volume.join("second.txt"), vec![b'2'; 300_000]).unwrap();
    backed_up(
        &world,
        "gone-2",
        json!({"includedNamespaces": ["shop"]}),
        WAIT,
    )
    .await;
    let second = snapshot_of(&world, "gone-2").await;
    assert_ne!(first, second);

    let restic = Restic::new(&world.moto, BUCKET, "default/restic/shop", PASSWORD);
    let mut both = restic_ids(&restic, work.path());
    both.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(both, want, "restic lists both backups' snapshots");

    // The second backup's list names the first's snapshot too.
    let key = "default/backups/gone-2/gone-2-podvolumebackups.json.gz";
    let mut listed: Vec<Value> = serde_json::from_slice(&gunzip(&download(&world, key))).unwrap();
    let mut planted = listed[0].clone();
    planted["metadata"]["name"] = json!("gone-2-planted");
    planted["status"]["snapshotID"] = json!(first);
    listed.push(planted);
    // And a volume Velero backed up with kopia, whose repository veloxide cannot open: left
    // with a warning, not a reason to keep the Backup forever.
    let mut kopia = listed[0].clone();
    kopia["metadata"]["name"] = json!("gone-2-kopia");
    kopia["spec"]["uploaderType"] = json!("kopia");
    kopia["status"]["snapshotID"] = json!("0123456789abcdef0123456789abcdef");
    listed.push(kopia);
    let file = work.path().join("pvbs.json.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(&listed).unwrap()).unwrap();
    std::fs::write(&file, gz.finish().unwrap()).unwrap();
    let put = aws(
        &world,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{BUCKET}/{key}"),
            "--sse",
            "AES256",
        ],
    );
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );

    let done = backups(&world).get("gone-2").await.unwrap();
    let requests: Api<DeleteBackupRequest> = Api::namespaced(world.client.clone(), NS);
    requests
        .create(
            &PostParams::default(),
            &DeleteBackupRequest::for_backup(&done),
        )
        .await
        .unwrap();
    eventually("the Backup is gone", WAIT, || async {
        backups(&world).get_opt("gone-2").await.unwrap().is_none()
    })
    .await;

    // Only the deleted backup's snapshot went; the other restores equal.
    assert_eq!(
        restic_ids(&restic, work.path()),
        std::slice::from_ref(&first)
    );
    let checked = restic.ok(work.path(), &["check", "--read-data"]);
    assert!(checked.contains("no errors were found"), "{checked}");
    let restored = work.path().join("restored");
    restic.ok(
        work.path(),
        &["restore", &first, "--target", restored.to_str().unwrap()],
    );
    let diff = differences(&want_first, &inventory(&restored));
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    assert!(backups(&world).get_opt("keep-1").await.unwrap().is_some());
    drop(server);
}
