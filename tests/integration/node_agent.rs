//! `veloxide node-agent` as a process against a real control plane and moto over TLS
//! (SSE-S3): it takes the PodVolumeBackups naming its node and no other, backs the pod's volume
//! up from the kubelet's pods directory (here a directory laid out as the kubelet lays it out,
//! `<pods dir>/<pod uid>/volumes/kubernetes.io~empty-dir/<volume>`, for a pod bound to the
//! agent's node name) into the namespace's repository, and `restic` (the independent peer)
//! checks the repository and restores the snapshot equal to the volume; a location with the
//! wrong CA fails the backup with `X509UnknownAuthority` and the fix; an agent killed
//! mid-backup leaves it InProgress, and the next agent's start-up sweep fails it, after which a
//! new backup of the volume succeeds.
//!
//! The agent runs with the admin kubeconfig: the chart's node-agent identity is not built yet.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::agent_support::{AgentProc, NODE, PASSWORD, create_namespace, pod_with_volume};
use crate::peers;
use crate::repository_support::{Restic, differences, inventory, known_tree, noise};
use crate::server_support::{BUCKET, NS, World};
use veloxide::api::{PodVolumeBackup, PodVolumePhase};

fn pvbs(world: &World) -> Api<PodVolumeBackup> {
    Api::namespaced(world.client.clone(), NS)
}

/// A PodVolumeBackup as Velero's backupper writes it, for `pod`'s volume `data`.
async fn request(world: &World, name: &str, pod: &Pod, node: &str, location: &str) {
    let ns = pod.namespace().unwrap();
    let pvb: PodVolumeBackup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
        // As Velero labels the backup of a claim's volume (here a stand-in claim uid): the agent
        // compares with the claim's last snapshot.
        "metadata": {"name": name, "namespace": NS, "labels": {"velero.io/pvc-uid": "claim-1"}},
        "spec": {
            "node": node,
            "pod": {"kind": "Pod", "namespace": ns, "name": pod.name_any(), "uid": pod.uid().unwrap()},
            "volume": "data",
            "backupStorageLocation": location,
            "repoIdentifier": format!("s3:{}/{BUCKET}/{location}/restic/{ns}", world.moto.url()),
            "uploaderType": "restic",
            "tags": {"backup": name, "ns": ns, "pod": pod.name_any(), "volume": "data"},
        }
    }))
    .unwrap();
    pvbs(world)
        .create(&PostParams::default(), &pvb)
        .await
        .unwrap();
}

fn phase(pvb: &PodVolumeBackup) -> Option<PodVolumePhase> {
    pvb.status.as_ref().and_then(|s| s.phase)
}

/// Wait until `name` satisfies `done`, at most `timeout`.
async fn wait_for(
    world: &World,
    name: &str,
    timeout: Duration,
    done: impl Fn(&PodVolumeBackup) -> bool,
) -> PodVolumeBackup {
    let deadline = Instant::now() + timeout;
    loop {
        let pvb = pvbs(world).get(name).await.unwrap();
        if done(&pvb) {
            return pvb;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not there within {timeout:?}: {:?}",
            pvb.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ended(world: &World, name: &str) -> PodVolumeBackup {
    wait_for(world, name, Duration::from_secs(180), |p| {
        matches!(
            phase(p),
            Some(PodVolumePhase::Completed | PodVolumePhase::Failed)
        )
    })
    .await
}

#[tokio::test]
async fn agent_backs_up_its_node_s_volumes_and_restic_restores_them_equal() {
    let world = World::start().await;
    let sse = json!({"serverSideEncryption": "AES256"});
    world
        .create_location("default", sse.clone(), json!({}))
        .await;
    // Trusts a CA that did not sign the store's certificate.
    let stranger = peers::certs::Pki::new("some other CA");
    world
        .put_secret("stranger-ca", &[("ca.crt", &stranger.ca.cert_pem())], None)
        .await;
    world
        .create_location(
            "wrong-ca",
            sse,
            json!({"caCertRef": {"name": "stranger-ca", "key": "ca.crt"}}),
        )
        .await;
    world
        .put_secret(
            veloxide::repository::SECRET_NAME,
            &[(veloxide::repository::SECRET_KEY, PASSWORD.as_bytes())],
            None,
        )
        .await;
    create_namespace(&world, "shop").await;
    let work = peers::TempDir::new("node-agent");
    let pods_dir = work.path().join("pods");
    let (app, volume) = pod_with_volume(&world, "shop", "app", NODE, &pods_dir).await;
    known_tree(&volume);
    let want = inventory(&volume);
    let (other, _) = pod_with_volume(&world, "shop", "elsewhere", "node-b", &pods_dir).await;

    // Made before the agent starts: the one for node-b is never taken.
    request(&world, "on-node-b", &other, "node-b", "default").await;
    request(&world, "app-1", &app, NODE, "default").await;
    let agent = AgentProc::start(&world, &pods_dir);

    let done = ended(&world, "app-1").await;
    let status = done.status.clone().unwrap();
    assert_eq!(phase(&done), Some(PodVolumePhase::Completed), "{status:?}");
    let snapshot = status.snapshot_id.clone().expect("snapshotID");
    assert_eq!(status.path.as_deref(), Some(volume.to_str().unwrap()));
    let progress = status.progress.clone().expect("progress");
    // The sparse file alone is 16 MiB long.
    assert!(progress.total_bytes.unwrap() > 16 << 20, "{progress:?}");
    assert_eq!(progress.bytes_done, progress.total_bytes, "{progress:?}");
    assert!(status.start_timestamp.is_some() && status.completion_timestamp.is_some());

    // restic, from the store: the repository is whole and the snapshot is the volume.
    let restic = Restic::new(&world.moto, BUCKET, "default/restic/shop", PASSWORD);
    let checked = restic.ok(work.path(), &["check", "--read-data"]);
    assert!(checked.contains("no errors were found"), "{checked}");
    let listed = restic.ok(work.path(), &["snapshots", "--json"]);
    assert!(listed.contains(&snapshot), "{listed}");
    assert!(
        listed.contains("\"backup=app-1\""),
        "Velero's tags: {listed}"
    );
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

    // The wrong CA: Failed, with the reason and the fix.
    request(&world, "app-wrong-ca", &app, NODE, "wrong-ca").await;
    let failed = ended(&world, "app-wrong-ca").await;
    assert_eq!(phase(&failed), Some(PodVolumePhase::Failed));
    let message = failed.status.unwrap().message.unwrap_or_default();
    assert!(message.contains("X509UnknownAuthority"), "{message}");
    assert!(
        message.contains("spec.objectStorage.caCertRef"),
        "{message}"
    );

    // Still untouched: another node's work.
    let elsewhere = pvbs(&world).get("on-node-b").await.unwrap();
    assert_eq!(
        elsewhere.status, None,
        "another node's PodVolumeBackup was touched"
    );

    // Killed mid-backup: a volume big enough to be read for a while.
    std::fs::write(volume.join("large.bin"), noise(9, 256 << 20)).unwrap();
    request(&world, "app-killed", &app, NODE, "default").await;
    let seen = wait_for(&world, "app-killed", Duration::from_secs(120), |p| {
        let progress = p.status.as_ref().and_then(|s| s.progress.clone());
        phase(p) == Some(PodVolumePhase::InProgress)
            && progress.is_some_and(|g| g.bytes_done.unwrap_or(0) > 0)
    })
    .await;
    let progress = seen.status.unwrap().progress.unwrap();
    assert!(progress.bytes_done < progress.total_bytes, "{progress:?}");
    agent.kill();
    let stuck = pvbs(&world).get("app-killed").await.unwrap();
    assert_eq!(phase(&stuck), Some(PodVolumePhase::InProgress));

    let _agent = AgentProc::start(&world, &pods_dir);
    let swept = pvbs(&world).get("app-killed").await.unwrap();
    assert_eq!(
        phase(&swept),
        Some(PodVolumePhase::Failed),
        "{:?}",
        swept.status
    );
    let message = swept.status.unwrap().message.unwrap_or_default();
    assert!(
        message.contains("stopped while backing this volume up"),
        "{message}"
    );

    request(&world, "app-2", &app, NODE, "default").await;
    let again = ended(&world, "app-2").await;
    assert_eq!(
        phase(&again),
        Some(PodVolumePhase::Completed),
        "{:?}",
        again.status
    );
    let checked = restic.ok(work.path(), &["check"]);
    assert!(checked.contains("no errors were found"), "{checked}");
    // Incremental: app-2's snapshot has app-1's as its parent (the claim's last Completed
    // backup; the failed ones in between are passed over).
    let second = again.status.unwrap().snapshot_id.unwrap();
    let listed: serde_json::Value =
        serde_json::from_str(&restic.ok(work.path(), &["snapshots", "--json"])).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == second.as_str())
        .unwrap_or_else(|| panic!("{second} in {listed}"));
    assert_eq!(entry["parent"], snapshot.as_str(), "{entry}");
    let elsewhere = pvbs(&world).get("on-node-b").await.unwrap();
    assert_eq!(
        elsewhere.status, None,
        "another node's PodVolumeBackup was touched"
    );
}
