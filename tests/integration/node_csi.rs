//! CSI storage on the real nodes (e2e/csi/README.md): our driver under the real
//! external-provisioner, snapshot-controller and csi-snapshotter, volumes mounted by the real
//! kubelet, all through the real kubectl. A PVC binds with the capacity it asked for and a pod
//! writes into it; a VolumeSnapshot becomes readyToUse; a PVC restored from it holds the file; a
//! claim beyond the node's capacity stays Pending with the driver's reason; a snapshot's copy is
//! kept (Retain) until its content is deleted with policy Delete, as Velero does on expiry; `down`
//! leaves no process or mount.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use e2e::images::BUSYBOX;

use crate::node_support::{apply, kubectl, namespace, processes_naming, wait_finished, wait_ready};

const DRIVER: &str = "csi.veloxide.dev";

fn pvc(name: &str, size: &str, from_snapshot: Option<&str>) -> String {
    let source = from_snapshot
        .map(|s| format!("\n  dataSource: {{apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: {s}}}"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  storageClassName: veloxide-csi
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: {size}}}}}{source}
"#
    )
}

/// A busybox pod with `claim` mounted at /data, running `script` to completion.
fn pod_with_claim(name: &str, claim: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]
"#
    )
}

fn snapshot(name: &str, claim: &str) -> String {
    format!(
        r#"apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {{name: {name}}}
spec:
  volumeSnapshotClassName: veloxide-csi
  source: {{persistentVolumeClaimName: {claim}}}
"#
    )
}

/// Polls `kubectl get ARGS -o jsonpath=PATH` until it prints `want`.
fn wait_for(cluster: &Cluster, args: &[&str], path: &str, want: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let jsonpath = format!("jsonpath={path}");
    let mut full: Vec<&str> = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", &jsonpath]);
    loop {
        let out = cluster.kubectl(&full, None).expect("kubectl runs");
        let got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {path} is {got:?}, not {want:?} after 120 s\nprovisioner:\n{}\nsnapshotter:\n{}\nsnapshot-controller:\n{}\ndriver:\n{}",
            cluster.log_tail("nodes/node-1/csi/provisioner", 15),
            cluster.log_tail("nodes/node-1/csi/snapshotter", 15),
            cluster.log_tail("csi/snapshot-controller", 15),
            cluster.log_tail("nodes/node-1/csi/driver", 15),
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The driver's state dir on node-1, where volumes and snapshots are directories.
fn state(cluster: &Cluster, kind: &str) -> PathBuf {
    cluster.node_dir("node-1").join("csi/state").join(kind)
}

/// The ids of the volumes or snapshots the driver holds (their records, `<id>.json`).
fn ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    e.ok()?
                        .file_name()
                        .to_str()?
                        .strip_suffix(".json")
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn a_pvc_binds_holds_a_file_and_a_pvc_restored_from_its_snapshot_holds_it_too() {
    let cluster = Cluster::shared_with_node();
    let ns = namespace(cluster);
    let n = ["-n", ns.as_str()];
    apply(cluster, &ns, &pvc("data", "16Mi", None));
    apply(
        cluster,
        &ns,
        &pod_with_claim(
            "writer",
            "data",
            "echo hello-from-the-node > /data/file && sync",
        ),
    );
    assert_eq!(wait_finished(cluster, &ns, "writer"), "Succeeded");
    // The PV the provisioner made: our driver's, the capacity asked for, pinned to the node.
    let pv = kubectl(
        cluster,
        &[
            &n[..],
            &["get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"],
        ]
        .concat(),
    );
    let pv_fields = kubectl(
        cluster,
        &[
            "get",
            "pv",
            &pv,
            "-o",
            "jsonpath={.spec.csi.driver} {.spec.capacity.storage} {.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}",
        ],
    );
    assert_eq!(pv_fields, format!("{DRIVER} 16Mi node-1"));
    let handle = kubectl(
        cluster,
        &["get", "pv", &pv, "-o", "jsonpath={.spec.csi.volumeHandle}"],
    );
    let on_disk = state(cluster, "volumes").join(&handle).join("data/file");
    assert_eq!(
        std::fs::read_to_string(&on_disk).expect("the pod's file is in the volume's directory"),
        "hello-from-the-node\n"
    );

    apply(cluster, &ns, &snapshot("snap", "data"));
    wait_for(
        cluster,
        &[&n[..], &["volumesnapshot", "snap"]].concat(),
        "{.status.readyToUse}",
        "true",
        "the snapshot",
    );
    let content = kubectl(
        cluster,
        &[
            &n[..],
            &[
                "get",
                "volumesnapshot",
                "snap",
                "-o",
                "jsonpath={.status.boundVolumeSnapshotContentName}",
            ],
        ]
        .concat(),
    );
    let fields = kubectl(
        cluster,
        &[
            "get",
            "volumesnapshotcontent",
            &content,
            "-o",
            "jsonpath={.spec.deletionPolicy} {.status.snapshotHandle} {.status.restoreSize}",
        ],
    );
    let mut fields = fields.split(' ');
    assert_eq!(fields.next(), Some("Retain"), "the class's deletionPolicy");
    let snapshot_id = fields.next().expect("a snapshot handle").to_owned();
    assert_eq!(
        fields.next(),
        Some(&*(16u64 << 20).to_string()),
        "restoreSize is the volume's capacity"
    );
    assert!(
        state(cluster, "snapshots")
            .join(&snapshot_id)
            .join("data/file")
            .exists(),
        "the copy holds the file"
    );

    // The original changes after the snapshot: the restored volume must hold the old content.
    apply(
        cluster,
        &ns,
        &pod_with_claim("changer", "data", "echo changed > /data/file"),
    );
    assert_eq!(wait_finished(cluster, &ns, "changer"), "Succeeded");
    apply(cluster, &ns, &pvc("restored", "16Mi", Some("snap")));
    apply(
        cluster,
        &ns,
        &pod_with_claim("reader", "restored", "cat /data/file"),
    );
    assert_eq!(wait_finished(cluster, &ns, "reader"), "Succeeded");
    assert_eq!(
        kubectl(cluster, &[&n[..], &["logs", "reader"]].concat()),
        "hello-from-the-node\n"
    );

    // Retain: the VolumeSnapshot goes, the content and the copy stay. Velero, when a backup
    // expires, sets the content to Delete and deletes it: then csi-snapshotter calls
    // DeleteSnapshot and the copy goes.
    kubectl(
        cluster,
        &[&n[..], &["delete", "volumesnapshot", "snap", "--wait=true"]].concat(),
    );
    assert!(
        ids(&state(cluster, "snapshots")).contains(&snapshot_id),
        "Retain keeps the copy"
    );
    kubectl(
        cluster,
        &[
            "patch",
            "volumesnapshotcontent",
            &content,
            "--type=merge",
            "-p",
            r#"{"spec":{"deletionPolicy":"Delete"}}"#,
        ],
    );
    kubectl(
        cluster,
        &["delete", "volumesnapshotcontent", &content, "--wait=true"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while ids(&state(cluster, "snapshots")).contains(&snapshot_id) {
        assert!(
            Instant::now() < deadline,
            "the copy of {snapshot_id} is still there\nsnapshotter:\n{}",
            cluster.log_tail("nodes/node-1/csi/snapshotter", 20)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !state(cluster, "snapshots").join(&snapshot_id).exists(),
        "the copy's directory is gone"
    );

    // Deleting the claims deletes the volumes (reclaimPolicy Delete) and their directories.
    kubectl(
        cluster,
        &[&n[..], &["delete", "pod", "--all", "--wait=true"]].concat(),
    );
    kubectl(
        cluster,
        &[&n[..], &["delete", "pvc", "--all", "--wait=true"]].concat(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while state(cluster, "volumes").join(&handle).exists() {
        assert!(Instant::now() < deadline, "volume {handle} is still there");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_claim_beyond_the_nodes_capacity_stays_pending_with_the_drivers_reason() {
    let cluster = Cluster::shared_with_node();
    let ns = namespace(cluster);
    // Each node has 1Gi (csi.sh's default): 2Gi can never fit.
    apply(cluster, &ns, &pvc("big", "2Gi", None));
    apply(cluster, &ns, &pod_with_claim("user", "big", "true"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let events = kubectl(
            cluster,
            &[
                "-n",
                &ns,
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=big",
                "-o",
                "jsonpath={.items[*].message}",
            ],
        );
        if events.contains("free on this node") {
            assert!(
                events.contains("2147483648 bytes requested"),
                "the event names the request: {events}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ProvisioningFailed event from the driver: {events}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let phase = kubectl(
        cluster,
        &[
            "-n",
            &ns,
            "get",
            "pvc",
            "big",
            "-o",
            "jsonpath={.status.phase}",
        ],
    );
    assert_eq!(phase, "Pending");
    assert!(
        !std::fs::read_to_string(cluster.node_dir("node-1").join("csi/driver.log"))
            .unwrap_or_default()
            .is_empty(),
        "the driver logs its calls"
    );
    kubectl(cluster, &["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn down_stops_the_csi_processes_and_leaves_no_volume_mounted() {
    let cluster = Cluster::start_with_nodes(1).expect("a cluster with a node starts");
    let ns = namespace(&cluster);
    apply(&cluster, &ns, &pvc("data", "8Mi", None));
    apply(
        &cluster,
        &ns,
        &pod_with_claim(
            "holder",
            "data",
            "trap '' TERM; while true; do sleep 1; done",
        )
        .replace("Never", "Always"),
    );
    wait_ready(&cluster, &ns, "holder");
    let dir = cluster.dir().to_path_buf();
    let csi_mounts = || -> Vec<String> {
        std::fs::read_to_string("/proc/mounts")
            .expect("/proc/mounts")
            .lines()
            .filter(|l| {
                l.split(' ').nth(1).is_some_and(|m| {
                    m.starts_with(&*dir.to_string_lossy()) && m.contains("kubernetes.io~csi")
                })
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        csi_mounts().len(),
        1,
        "the driver bind-mounted the volume for the pod"
    );
    let binaries = [
        "veloxide-csi",
        "csi-provisioner",
        "csi-snapshotter",
        "snapshot-controller",
    ];
    let ours = |b: &str| -> Vec<String> {
        processes_naming(b)
            .into_iter()
            .filter(|p| p.contains(&*dir.to_string_lossy()))
            .collect()
    };
    for b in binaries {
        assert!(!ours(b).is_empty(), "{b} runs for this cluster");
    }

    cluster.down().expect("down");

    assert_eq!(csi_mounts(), Vec::<String>::new(), "CSI mounts left");
    for b in binaries {
        assert_eq!(ours(b), Vec::<String>::new(), "{b} left running");
    }
}
