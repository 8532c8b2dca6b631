//! File-system backup on a real node: kubelet and containerd run a busybox pod that writes known
//! bytes into its emptyDir (a sparse file, a hard link, a symlink, modes, an empty directory, a
//! long name); `veloxide node-agent` (a host process, as the server) reads the kubelet's pods
//! directory of that node; a backup with Velero's annotation ends Completed, its
//! PodVolumeBackup Completed; `restic check --read-data` passes on the repository in moto (TLS,
//! SSE-S3) and `restic restore` of the snapshot gives a tree equal, entry by entry, to the
//! volume as the kubelet holds it.

use std::time::{Duration, Instant};

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::agent_support::{AgentProc, PASSWORD, put_repository_password};
use crate::backup_support::backed_up;
use crate::node_support::{apply, kubectl, namespace, wait_ready};
use crate::peers;
use crate::repository_support::{Restic, differences, inventory};
use crate::server_support::{BUCKET, NS, Server, World};
use e2e::images::BUSYBOX;
use veloxide::api::{PodVolumeBackup, PodVolumePhase};

/// Writes every kind of entry, then says so (`.ready`) and idles.
const SCRIPT: &str = "set -e; cd /data; \
    dd if=/dev/urandom of=big.bin bs=1024 count=3000 2>/dev/null; \
    printf 'hello volume\\n' > small.txt; chmod 600 small.txt; \
    dd if=/dev/urandom of=sparse.img bs=4096 count=1 seek=4096 2>/dev/null; \
    ln big.bin hard.bin; ln -s small.txt link; ln -s /nowhere dangling; \
    printf '#!/bin/sh\\n' > run.sh; chmod 4755 run.sh; \
    mkdir -p empty deep/a/b/c; chmod 700 deep; \
    touch deep/a/b/c/$(printf 'n%.0s' $(seq 1 200)); \
    touch .ready; exec sleep 3600";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_volume_on_a_real_node_is_backed_up_and_restic_restores_it_equal() {
    let world = World::start_with_node().await;
    let cluster = &world.cluster;
    let node = cluster.node_names()[0].clone();
    let pods_dir = cluster.node_dir(&node).join("kubelet/pods");
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
    let _agent = AgentProc::start_on(&world, &pods_dir, &node);

    let ns = namespace(cluster);
    apply(
        cluster,
        &ns,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: app
  annotations: {{"backup.velero.io/backup-volumes": "data"}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {SCRIPT:?}]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, emptyDir: {{}}}}]
"#
        ),
    );
    wait_ready(cluster, &ns, "app");
    let uid = kubectl(
        cluster,
        &[
            "-n",
            &ns,
            "get",
            "pod",
            "app",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let volume = pods_dir
        .join(&uid)
        .join("volumes/kubernetes.io~empty-dir/data");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !volume.join(".ready").exists() {
        assert!(
            Instant::now() < deadline,
            "the pod never wrote {}",
            volume.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let want = inventory(&volume);
    // What the pod wrote is what is compared: every kind of entry is there.
    for path in [
        "big.bin",
        "hard.bin",
        "link",
        "dangling",
        "sparse.img",
        "run.sh",
        "empty",
    ] {
        assert!(
            want.entries.contains_key(std::path::Path::new(path)),
            "{path}: {want:#?}"
        );
    }
    assert_eq!(want.hard_links.len(), 1, "{:?}", want.hard_links);

    let backup = backed_up(
        &world,
        "node-fsb",
        json!({"includedNamespaces": [ns]}),
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(backup.status.unwrap().errors.unwrap_or(0), 0);
    let api: Api<PodVolumeBackup> = Api::namespaced(world.client.clone(), NS);
    let made = api
        .list(&ListParams::default().labels("velero.io/backup-name=node-fsb"))
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 1, "{made:#?}");
    let status = made[0].status.clone().unwrap();
    assert_eq!(status.phase, Some(PodVolumePhase::Completed), "{status:?}");
    assert_eq!(made[0].spec.node, node);
    assert_eq!(status.path.as_deref(), Some(volume.to_str().unwrap()));
    let snapshot = status.snapshot_id.unwrap();
    assert!(made[0].name_any().starts_with("node-fsb-"));

    let work = peers::TempDir::new("node-fsb");
    let restic = Restic::new(
        &world.moto,
        BUCKET,
        &format!("default/restic/{ns}"),
        PASSWORD,
    );
    let checked = restic.ok(work.path(), &["check", "--read-data"]);
    assert!(checked.contains("no errors were found"), "{checked}");
    let restored = work.path().join("restored");
    restic.ok(
        work.path(),
        &["restore", &snapshot, "--target", restored.to_str().unwrap()],
    );
    let got = inventory(&restored);
    let diff = differences(&want, &got);
    assert!(
        diff.is_empty(),
        "restic's restore differs:\n{}",
        diff.join("\n")
    );
}
