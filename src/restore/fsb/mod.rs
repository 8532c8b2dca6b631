//! File-system restore of pod volumes (Velero's `pkg/podvolume/restorer.go` and its
//! `velero.io/pod-volume-restore` action): the backup's `<backup>-podvolumebackups.json.gz`
//! says which pod volumes have a snapshot; each restored pod with such volumes gets the
//! `restore-wait` init container ([`wait_container`]); once the pod is created, one
//! PodVolumeRestore per volume is made for the node agent of the pod's node, and the restore
//! waits for them, bounded ([`pvr`]).

pub mod helper;
pub mod pvr;
pub mod started;
pub mod wait_container;

use std::collections::BTreeMap;
use std::io::Read as _;

use crate::api::{PodVolumeBackup, PodVolumePhase, UploaderType};
use crate::storage::ObjectStore;

/// Velero's name for the init container that waits for the volumes.
pub const WAIT_CONTAINER: &str = "restore-wait";
/// The name Velero used before 1.10 (removed from a pod as Velero removes it).
pub const WAIT_CONTAINER_LEGACY: &str = "restic-wait";
/// Where the init container mounts each volume (`/restores/<volume>`), as Velero's.
pub const RESTORES_DIR: &str = "/restores";
/// The image a server uses for the init container when it is not told one: the chart's.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/veloxide/veloxide:", env!("CARGO_PKG_VERSION"));
/// A side file larger than this once decompressed is refused (a backup's list of
/// PodVolumeBackups is a few KiB per volume).
const MAX_SIDE_FILE: u64 = 64 << 20;

/// One volume snapshot to write back into a restored pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsVolume {
    pub volume: String,
    pub snapshot_id: String,
    /// The pod's namespace in the backup (its repository's).
    pub source_namespace: String,
    pub repo_identifier: String,
    pub uploader_type: UploaderType,
    pub snapshot_size: Option<i64>,
    /// The PodVolumeBackup that made the snapshot (for messages).
    pub backup_name: String,
}

/// The volumes with a snapshot, by the restored pod's namespace (after `namespaceMapping`)
/// and name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsVolumes {
    by_pod: BTreeMap<(String, String), Vec<FsVolume>>,
}

impl FsVolumes {
    /// Velero's `GetVolumeBackupsForPod` over the whole list: a PodVolumeBackup that ended
    /// `Completed` with a snapshot id counts (a failed one, or one of an empty volume, has
    /// nothing to restore); `target` maps the backup's namespace to the restore's.
    pub fn from_backups(pvbs: &[PodVolumeBackup], target: impl Fn(&str) -> String) -> FsVolumes {
        let mut by_pod: BTreeMap<(String, String), Vec<FsVolume>> = BTreeMap::new();
        for pvb in pvbs {
            let status = pvb.status.clone().unwrap_or_default();
            let Some(snapshot_id) = status.snapshot_id.filter(|s| !s.is_empty()) else {
                continue;
            };
            if status.phase != Some(PodVolumePhase::Completed) {
                continue;
            }
            let (Some(ns), Some(pod)) = (&pvb.spec.pod.namespace, &pvb.spec.pod.name) else {
                continue;
            };
            let entry = by_pod.entry((target(ns), pod.clone())).or_default();
            // One snapshot per volume: a later list entry for the same volume is ignored.
            if entry.iter().any(|v| v.volume == pvb.spec.volume) {
                continue;
            }
            entry.push(FsVolume {
                volume: pvb.spec.volume.clone(),
                snapshot_id,
                source_namespace: ns.clone(),
                repo_identifier: pvb.spec.repo_identifier.clone(),
                uploader_type: pvb.spec.uploader_type,
                snapshot_size: status.progress.and_then(|p| p.total_bytes),
                backup_name: pvb.metadata.name.clone().unwrap_or_default(),
            });
        }
        FsVolumes { by_pod }
    }

    /// The snapshots of the restored pod `namespace/name`.
    pub fn for_pod(&self, namespace: &str, name: &str) -> &[FsVolume] {
        self.by_pod
            .get(&(namespace.to_owned(), name.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }
}

/// What a restore needs to write pod volumes back.
#[derive(Clone, Debug, Default)]
pub struct FsRestore {
    pub volumes: FsVolumes,
    /// The init container's image (the server's `--restore-helper-image`).
    pub image: String,
}

/// How a restore writes pod volumes back: the init container's image and how its
/// PodVolumeRestores are made and waited for.
#[derive(Clone, Debug)]
pub struct FsRun {
    pub image: String,
    pub maker: pvr::Maker,
}

/// The key of the backup's list of PodVolumeBackups.
pub fn side_file_key(backup: &str) -> String {
    crate::backup::backup_key(backup, &format!("{backup}-podvolumebackups.json.gz"))
}

/// The backup's PodVolumeBackups as it wrote them beside the archive; none when it has no such
/// file (it made none, or it is older).
pub async fn load(store: &ObjectStore, backup: &str) -> Result<Vec<PodVolumeBackup>, String> {
    let key = side_file_key(backup);
    let body = match store.get(&key).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {key} failed: {e}")),
    };
    let gz = body
        .read_all()
        .await
        .map_err(|e| format!("reading {key} failed: {e}"))?;
    parse(&key, &gz)
}

fn parse(key: &str, gz: &[u8]) -> Result<Vec<PodVolumeBackup>, String> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(MAX_SIDE_FILE + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("{key} is not gzip: {e}"))?;
    if json.len() as u64 > MAX_SIDE_FILE {
        return Err(format!("{key} is over {MAX_SIDE_FILE} bytes decompressed"));
    }
    // Velero writes `null` for a backup that made none (Go encodes its nil list so).
    serde_json::from_slice::<Option<Vec<PodVolumeBackup>>>(&json)
        .map(Option::unwrap_or_default)
        .map_err(|e| format!("{key} is not a list of PodVolumeBackups: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn velero_s_null_for_no_pod_volume_backups_is_an_empty_list() {
        let gz = |text: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut e, text).unwrap();
            e.finish().unwrap()
        };
        assert!(parse("k", &gz(b"null")).unwrap().is_empty());
        assert!(parse("k", &gz(b"[]")).unwrap().is_empty());
        let err = parse("k", &gz(b"{}")).unwrap_err();
        assert!(err.contains("k is not a list of PodVolumeBackups"), "{err}");
    }

    fn pvb(ns: &str, pod: &str, volume: &str, phase: &str, snapshot: &str) -> PodVolumeBackup {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": format!("b-{pod}-{volume}"), "namespace": "velero"},
            "spec": {"node": "n", "pod": {"namespace": ns, "name": pod}, "volume": volume,
                     "backupStorageLocation": "default", "repoIdentifier": "s3:x/restic/ns",
                     "uploaderType": "restic"},
            "status": {"phase": phase, "snapshotID": snapshot,
                       "progress": {"totalBytes": 7, "bytesDone": 7}},
        }))
        .unwrap()
    }

    #[test]
    fn completed_snapshots_are_found_by_the_restored_pod() {
        let list = vec![
            pvb("app", "web", "data", "Completed", "s1"),
            pvb("app", "web", "cache", "Failed", ""),
            pvb("app", "web", "logs", "Completed", ""),
            pvb("app", "db", "data", "Completed", "s2"),
            pvb("other", "web", "data", "Completed", "s3"),
        ];
        let map = |ns: &str| if ns == "app" { "app-copy" } else { ns }.to_owned();
        let volumes = FsVolumes::from_backups(&list, map);
        let web = volumes.for_pod("app-copy", "web");
        assert_eq!(web.len(), 1, "{web:?}");
        assert_eq!(web[0].volume, "data");
        assert_eq!(web[0].snapshot_id, "s1");
        assert_eq!(web[0].source_namespace, "app");
        assert_eq!(web[0].snapshot_size, Some(7));
        assert_eq!(volumes.for_pod("app-copy", "db")[0].snapshot_id, "s2");
        assert_eq!(volumes.for_pod("other", "web")[0].snapshot_id, "s3");
        assert!(volumes.for_pod("app", "web").is_empty());
    }

    #[test]
    fn the_side_file_parses_and_bad_ones_are_named() {
        let list = vec![pvb("app", "web", "data", "Completed", "s1")];
        let gz = crate::backup::sidefiles::gzip(&serde_json::to_vec(&list).unwrap()).unwrap();
        let back = parse("k", &gz).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].spec, list[0].spec);
        assert_eq!(back[0].status, list[0].status);
        assert!(
            parse("k", b"not gzip")
                .unwrap_err()
                .contains("k is not gzip")
        );
        let gz = crate::backup::sidefiles::gzip(b"{}").unwrap();
        assert!(
            parse("k", &gz)
                .unwrap_err()
                .contains("not a list of PodVolumeBackups")
        );
    }
}
