//! A restored pod's PodVolumeRestores (Velero's `newPodVolumeRestore` and
//! `RestorePodVolumes`): one per volume with a snapshot, in the server's namespace, owned by
//! the Restore, for the node agent of the pod's node; then the wait for them to end, bounded by
//! the server's `--fs-backup-timeout` (Velero's restorer waits on the same setting).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use super::FsVolume;
use crate::api::label::valid_name;
use crate::api::uploader::UploaderConfigForRestore;
use crate::api::{PodVolumePhase, PodVolumeRestore};

pub const RESTORE_NAME_LABEL: &str = "velero.io/restore-name";
pub const RESTORE_UID_LABEL: &str = "velero.io/restore-uid";
pub const POD_UID_LABEL: &str = "velero.io/pod-uid";

/// How often the wait reads the PodVolumeRestores.
const POLL: Duration = Duration::from_secs(1);

/// The Restore that makes the PodVolumeRestores, and how they are made.
#[derive(Clone, Debug)]
pub struct Maker {
    /// The server's namespace (the Restore's; the agents read their work there).
    pub namespace: String,
    pub restore: String,
    pub restore_uid: String,
    /// The backup's location (`spec.backupStorageLocation`).
    pub location: String,
    /// The Restore's `spec.uploaderConfig`, as Velero stores it in `uploaderSettings`.
    pub uploader_config: Option<UploaderConfigForRestore>,
    /// How long the restore waits for a pod's volumes (`--fs-backup-timeout`).
    pub timeout: Duration,
}

/// One ended (or given up) PodVolumeRestore: `Err` is an error for the restore's results.
pub type Ended = Result<String, String>;

/// Velero's `uploaderSettings` for a restore (`StoreRestoreConfig`).
pub fn uploader_settings(config: &UploaderConfigForRestore) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(sparse) = config.write_sparse_files {
        out.insert("WriteSparseFiles".to_owned(), sparse.to_string());
    }
    if let Some(n) = config.parallel_files_download.filter(|n| *n > 0) {
        out.insert("ParallelFilesDownload".to_owned(), n.to_string());
    }
    out
}

/// The PodVolumeRestore for `volume` of the created pod (`namespace/name`, `pod_uid`).
pub fn build(maker: &Maker, namespace: &str, name: &str, pod_uid: &str, v: &FsVolume) -> Value {
    let mut spec = json!({
        "pod": {"kind": "Pod", "namespace": namespace, "name": name, "uid": pod_uid},
        "volume": v.volume,
        "snapshotID": v.snapshot_id,
        "backupStorageLocation": maker.location,
        "repoIdentifier": v.repo_identifier,
        "uploaderType": v.uploader_type,
        "sourceNamespace": v.source_namespace,
    });
    if let Some(size) = v.snapshot_size {
        spec["snapshotSize"] = json!(size);
    }
    if let Some(config) = &maker.uploader_config {
        spec["uploaderSettings"] = json!(uploader_settings(config));
    }
    json!({
        "apiVersion": "velero.io/v1",
        "kind": "PodVolumeRestore",
        "metadata": {
            "namespace": maker.namespace,
            "generateName": format!("{}-", maker.restore),
            "ownerReferences": [{
                "apiVersion": "velero.io/v1", "kind": "Restore", "name": maker.restore,
                "uid": maker.restore_uid, "controller": true,
            }],
            "labels": {
                RESTORE_NAME_LABEL: valid_name(&maker.restore),
                RESTORE_UID_LABEL: maker.restore_uid,
                POD_UID_LABEL: pod_uid,
            },
        },
        "spec": spec,
    })
}

/// What a PodVolumeRestore's status says, once it ended: `None` while it runs.
pub fn ended(pvr: &PodVolumeRestore, what: &str) -> Option<Ended> {
    let status = pvr.status.as_ref()?;
    match status.phase? {
        PodVolumePhase::Completed => Some(Ok(format!("{what}: restored"))),
        PodVolumePhase::Failed | PodVolumePhase::Canceled => Some(Err(format!(
            "{what}: {:?}: {}",
            status.phase.expect("matched"),
            status.message.as_deref().unwrap_or("no message")
        ))),
        _ => None,
    }
}

/// Create the PodVolumeRestores of the created pod `namespace/name` for `volumes`, then wait
/// for them to end. Each volume gives one line: `Ok` when restored, `Err` naming the pod, the
/// volume, the PodVolumeRestore and why.
pub async fn restore_pod(
    client: &Client,
    maker: &Maker,
    namespace: &str,
    name: &str,
    volumes: &[FsVolume],
) -> Vec<Ended> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let uid = match pods.get(name).await {
        Ok(pod) => pod.uid().unwrap_or_default(),
        Err(e) => {
            return volumes
                .iter()
                .map(|v| {
                    Err(format!(
                        "pod {namespace}/{name}, volume {}: its PodVolumeRestore was not made: \
                         reading the created pod failed: {e}",
                        v.volume
                    ))
                })
                .collect();
        }
    };
    let api: Api<PodVolumeRestore> = Api::namespaced(client.clone(), &maker.namespace);
    let mut waiting: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for v in volumes {
        let what = format!("pod {namespace}/{name}, volume {}", v.volume);
        let object: PodVolumeRestore =
            serde_json::from_value(build(maker, namespace, name, &uid, v))
                .expect("a PodVolumeRestore we build decodes");
        match api.create(&PostParams::default(), &object).await {
            Ok(made) => waiting.push((made.name_any(), what)),
            Err(e) => out.push(Err(format!(
                "{what}: creating its PodVolumeRestore failed: {e} (the server needs create on \
                 podvolumerestores.velero.io)"
            ))),
        }
    }
    let deadline = tokio::time::Instant::now() + maker.timeout;
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for (pvr, what) in waiting {
            let what_named = format!("{what} (PodVolumeRestore {pvr})");
            match api.get_opt(&pvr).await {
                Ok(Some(found)) => match ended(&found, &what_named) {
                    Some(done) => out.push(done),
                    None => still.push((pvr, what)),
                },
                Ok(None) => out.push(Err(format!("{what_named}: deleted before it ended"))),
                // A failed read is tried again next time, within the deadline.
                Err(e) => {
                    tracing::debug!(pvr = %pvr, error = %e, "reading a PodVolumeRestore failed");
                    still.push((pvr, what));
                }
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            for (pvr, what) in waiting {
                out.push(Err(format!(
                    "{what} (PodVolumeRestore {pvr}): did not end within the server's \
                     --fs-backup-timeout of {:?} (is a node agent running on the pod's node?)",
                    maker.timeout
                )));
            }
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UploaderType;

    fn maker() -> Maker {
        Maker {
            namespace: "velero".into(),
            restore: "r1".into(),
            restore_uid: "ru".into(),
            location: "default".into(),
            uploader_config: Some(UploaderConfigForRestore {
                write_sparse_files: Some(true),
                parallel_files_download: Some(4),
            }),
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_object_is_velero_s() {
        let v = FsVolume {
            volume: "data".into(),
            snapshot_id: "s1".into(),
            source_namespace: "app".into(),
            repo_identifier: "s3:x/restic/app".into(),
            uploader_type: UploaderType::Restic,
            snapshot_size: Some(42),
            backup_name: "b-1".into(),
        };
        let o = build(&maker(), "app-copy", "web", "pu", &v);
        assert_eq!(o["metadata"]["generateName"], "r1-");
        assert_eq!(o["metadata"]["ownerReferences"][0]["uid"], "ru");
        assert_eq!(o["metadata"]["labels"]["velero.io/restore-uid"], "ru");
        assert_eq!(o["metadata"]["labels"]["velero.io/pod-uid"], "pu");
        let spec = &o["spec"];
        assert_eq!(spec["pod"]["namespace"], "app-copy");
        assert_eq!(spec["pod"]["uid"], "pu");
        assert_eq!(spec["sourceNamespace"], "app");
        assert_eq!(spec["snapshotID"], "s1");
        assert_eq!(spec["uploaderType"], "restic");
        assert_eq!(spec["snapshotSize"], 42);
        assert_eq!(
            spec["uploaderSettings"],
            json!({"WriteSparseFiles": "true", "ParallelFilesDownload": "4"})
        );
        let typed: PodVolumeRestore = serde_json::from_value(o).unwrap();
        assert_eq!(typed.spec.backup_storage_location, "default");
    }

    #[test]
    fn failures_are_errors_naming_why() {
        let mut p: PodVolumeRestore = serde_json::from_value(json!({
            "metadata": {"name": "r1-x"},
            "spec": {"pod": {}, "volume": "v", "backupStorageLocation": "d", "repoIdentifier": "r",
                     "snapshotID": "s", "sourceNamespace": "n"},
        }))
        .unwrap();
        assert_eq!(ended(&p, "w"), None);
        p.status = serde_json::from_value(json!({"phase": "InProgress"})).unwrap();
        assert_eq!(ended(&p, "w"), None);
        p.status =
            serde_json::from_value(json!({"phase": "Failed", "message": "no snapshot"})).unwrap();
        assert_eq!(ended(&p, "w"), Some(Err("w: Failed: no snapshot".into())));
        p.status = serde_json::from_value(json!({"phase": "Completed"})).unwrap();
        assert!(matches!(ended(&p, "w"), Some(Ok(_))));
    }
}
