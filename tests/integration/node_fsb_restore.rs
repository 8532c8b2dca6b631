//! File-system restore on a real node: a busybox pod writes known bytes into its emptyDir
//! (files, a hard link, a sparse file, symlinks, modes, an empty directory, a long name) and
//! prints a manifest of the tree (type, mode, size, links, owner, SHA-256, symlink targets); a
//! backup takes the volume by file-system backup; the namespace is deleted; a restore brings
//! the pod back with Velero's `restore-wait` init container (the veloxide image running
//! `veloxide restore-helper`), a PodVolumeRestore is made, `veloxide node-agent` (a host
//! process reading and writing that node's kubelet pods directory) writes the snapshot into the
//! new pod's volume with the done file, the init container ends and the application container
//! prints the same manifest. Then the snapshot is forgotten in the repository and a second
//! restore (into another namespace) ends PartiallyFailed, its PodVolumeRestore Failed naming the
//! snapshot.

use std::time::{Duration, Instant};

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::agent_support::{AgentProc, PASSWORD, put_repository_password};
use crate::backup_support::backed_up;
use crate::node_support::{apply, kubectl, namespace, wait_ready};
use crate::peers;
use crate::repository_support::{Restic, differences, inventory};
use crate::restore_support::{create_restore, delete_namespace, restore_results, restores};
use crate::server_support::{BUCKET, NS, Server, World};
use e2e::images::{BUSYBOX, VELOXIDE};
use veloxide::api::{PodVolumeBackup, PodVolumePhase, PodVolumeRestore, Restore, RestorePhase};

/// Writes every kind of entry once (a restored volume already holds `.ready`), prints the
/// manifest between markers, then idles.
const SCRIPT: &str = "set -e; cd /data; \
    if [ ! -e .ready ]; then \
    dd if=/dev/urandom of=big.bin bs=1024 count=3000 2>/dev/null; \
    printf 'hello volume\\n' > small.txt; chmod 600 small.txt; \
    dd if=/dev/urandom of=sparse.img bs=4096 count=1 seek=4096 2>/dev/null; \
    ln big.bin hard.bin; ln -s small.txt link; ln -s /nowhere dangling; \
    printf '#!/bin/sh\\n' > run.sh; chmod 4755 run.sh; \
    mkdir -p empty deep/a/b/c; chmod 700 deep; \
    touch deep/a/b/c/$(printf 'n%.0s' $(seq 1 200)); \
    touch .ready; fi; \
    echo MANIFEST-BEGIN; \
    find . -mindepth 1 | sort | while read -r f; do \
      if [ -L \"$f\" ]; then echo \"$f L $(readlink \"$f\")\"; \
      elif [ -d \"$f\" ]; then echo \"$f D $(stat -c '%a %u:%g' \"$f\")\"; \
      else echo \"$f F $(stat -c '%a %s %h %u:%g' \"$f\") $(sha256sum < \"$f\" | cut -c1-64)\"; fi; \
    done; \
    echo MANIFEST-END; exec sleep 3600";

fn pod_yaml() -> String {
    format!(
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
    )
}

/// The manifest the pod's application container printed (waits for it, at most a minute).
fn manifest(cluster: &e2e::cluster::Cluster, ns: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = kubectl(cluster, &["-n", ns, "logs", "app", "-c", "main"]);
        if let Some((_, rest)) = logs.split_once("MANIFEST-BEGIN\n")
            && let Some((body, _)) = rest.split_once("MANIFEST-END")
        {
            return body.to_owned();
        }
        assert!(Instant::now() < deadline, "no manifest in {ns}/app: {logs}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The restore once it ended (the volumes included: a few minutes at most here).
async fn ended(world: &World, name: &str) -> Restore {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let restore = restores(world).get(name).await.unwrap();
        if restore.phase().is_terminal() {
            return restore;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never ended: {:?}",
            restore.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn restores_of(world: &World, restore: &str) -> Vec<PodVolumeRestore> {
    let api: Api<PodVolumeRestore> = Api::namespaced(world.client.clone(), NS);
    api.list(&ListParams::default().labels(&format!("velero.io/restore-name={restore}")))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_backed_up_file_by_file_is_restored_into_the_new_pod_before_it_starts() {
    let world = World::start_with_node().await;
    let cluster = &world.cluster;
    let node = cluster.node_names()[0].clone();
    let pods_dir = cluster.node_dir(&node).join("kubelet/pods");
    let image = e2e::images::veloxide(std::path::Path::new(env!("CARGO_BIN_EXE_veloxide")))
        .expect("the veloxide image builds");
    cluster.load_image(&image).expect("the image loads");
    let server = Server::start_with(
        &world.server_kubeconfig,
        "server-a",
        &[
            "--restore-helper-image",
            VELOXIDE,
            "--fs-backup-timeout",
            "3m",
        ],
    );
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
    apply(cluster, &ns, &pod_yaml());
    wait_ready(cluster, &ns, "app");
    let want = manifest(cluster, &ns);
    for entry in [
        "./big.bin F",
        "./hard.bin F",
        "./link L small.txt",
        "./dangling L /nowhere",
        "./empty D",
        "./run.sh F 4755",
    ] {
        assert!(want.contains(entry), "{entry}: {want}");
    }
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
    let want_tree = inventory(&volume);

    let backup = backed_up(
        &world,
        "fsr",
        json!({"includedNamespaces": [ns]}),
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(backup.status.unwrap().errors.unwrap_or(0), 0);
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(world.client.clone(), NS);
    let made = pvbs
        .list(&ListParams::default().labels("velero.io/backup-name=fsr"))
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 1, "{made:#?}");
    let status = made[0].status.clone().unwrap();
    assert_eq!(status.phase, Some(PodVolumePhase::Completed), "{status:?}");
    let snapshot = status.snapshot_id.unwrap();

    delete_namespace(&world, &ns).await;
    create_restore(&world, "fsr-1", json!({"backupName": "fsr"})).await;
    let restore = ended(&world, "fsr-1").await;
    assert_eq!(
        restore.phase(),
        RestorePhase::Completed,
        "{:?}\n{}",
        restore.status,
        restore_results(&world, "default", "fsr-1")
    );
    // Velero's PodVolumeRestore, Completed by this node's agent.
    let pvrs = restores_of(&world, "fsr-1").await;
    assert_eq!(pvrs.len(), 1, "{pvrs:#?}");
    let pvr = &pvrs[0];
    let new_uid = kubectl(
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
    assert_eq!(pvr.spec.snapshot_id, snapshot);
    assert_eq!(pvr.spec.volume, "data");
    assert_eq!(pvr.spec.source_namespace, ns);
    assert_eq!(pvr.spec.backup_storage_location, "default");
    assert_eq!(pvr.spec.pod.uid.as_deref(), Some(new_uid.as_str()));
    assert_eq!(
        pvr.labels()["velero.io/restore-uid"],
        restore.uid().unwrap()
    );
    assert_eq!(pvr.owner_references()[0].name, "fsr-1");
    let pvr_status = pvr.status.clone().unwrap();
    assert_eq!(
        pvr_status.phase,
        Some(PodVolumePhase::Completed),
        "{pvr_status:?}"
    );
    assert_eq!(pvr_status.node.as_deref(), Some(node.as_str()));
    let progress = pvr_status.progress.unwrap();
    assert!(progress.bytes_done.unwrap() > 3_000_000, "{progress:?}");
    assert_eq!(progress.bytes_done, progress.total_bytes);

    // The restored pod: its wait container came first and ended; the application reads the
    // same tree (and the done file is gone, as Velero's helper removes it).
    let inits = kubectl(
        cluster,
        &[
            "-n",
            &ns,
            "get",
            "pod",
            "app",
            "-o",
            "jsonpath={.spec.initContainers[*].name}",
        ],
    );
    assert_eq!(inits, "restore-wait");
    wait_ready(cluster, &ns, "app");
    let got = manifest(cluster, &ns);
    assert_eq!(got, want, "the restored pod reads another tree");
    let restored_volume = pods_dir
        .join(&new_uid)
        .join("volumes/kubernetes.io~empty-dir/data");
    let diff = differences(&want_tree, &inventory(&restored_volume));
    assert!(
        diff.is_empty(),
        "the restored volume differs:\n{}",
        diff.join("\n")
    );
    let helper = kubectl(cluster, &["-n", &ns, "logs", "app", "-c", "restore-wait"]);
    assert!(
        helper.contains("All PodVolumeRestores are done"),
        "{helper}"
    );

    // The snapshot forgotten: a restore into another namespace fails that volume, naming it.
    let work = peers::TempDir::new("node-fsr");
    let restic = Restic::new(
        &world.moto,
        BUCKET,
        &format!("default/restic/{ns}"),
        PASSWORD,
    );
    restic.ok(work.path(), &["forget", &snapshot]);
    let other = format!("{ns}-b");
    create_restore(
        &world,
        "fsr-2",
        json!({"backupName": "fsr", "namespaceMapping": {ns.clone(): other.clone()}}),
    )
    .await;
    let restore = ended(&world, "fsr-2").await;
    assert_eq!(
        restore.phase(),
        RestorePhase::PartiallyFailed,
        "{:?}",
        restore.status
    );
    let pvrs = restores_of(&world, "fsr-2").await;
    assert_eq!(pvrs.len(), 1, "{pvrs:#?}");
    let failed = pvrs[0].status.clone().unwrap();
    assert_eq!(failed.phase, Some(PodVolumePhase::Failed), "{failed:?}");
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains(&format!(
            "snapshot {snapshot} is not in repository restic/{ns}/"
        )),
        "{message}"
    );
    assert_eq!(pvrs[0].spec.source_namespace, ns);
    let results = restore_results(&world, "default", "fsr-2");
    let errors = results["errors"]["namespaces"][&other].to_string();
    assert!(
        errors.contains(&snapshot) && errors.contains("volume data"),
        "{results}"
    );
    kubectl(
        cluster,
        &["delete", "namespace", &ns, &other, "--wait=false"],
    );
}
