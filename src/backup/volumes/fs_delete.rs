//! Forgetting a deleted backup's file-system backups, as Velero's deletion forgets the restic
//! snapshots of the backup's PodVolumeBackups: the snapshots its
//! `<backup>-podvolumebackups.json.gz` lists, in each volume namespace's repository, and only
//! those whose tags carry the backup's uid (`backup-uid`, which every snapshot of ours and of
//! Velero's carries), so an id that somehow names another backup's snapshot deletes nothing.
//! The data only those snapshots used stays in the repository until it is pruned.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::api::{PodVolumeBackup, PodVolumePhase, UploaderType};
use crate::repository::{self, Create, RepoAddress, RepoPassword, RepositoryError, Uploader};
use crate::storage::ObjectStore;

/// The side file's key.
pub fn pvbs_key(backup: &str) -> String {
    crate::backup::backup_key(backup, &format!("{backup}-podvolumebackups.json.gz"))
}

/// The snapshots of one repository: the uploader's format and the volumes' namespace.
pub type ByRepository = BTreeMap<(Uploader, String), BTreeSet<String>>;

/// The snapshot ids of the PodVolumeBackups that completed with one, by repository (pure).
pub fn snapshots(pvbs: &[PodVolumeBackup]) -> ByRepository {
    let mut out = ByRepository::new();
    for pvb in pvbs {
        let Some(status) = &pvb.status else { continue };
        let id = status.snapshot_id.as_deref().unwrap_or_default();
        if status.phase != Some(PodVolumePhase::Completed) || id.is_empty() {
            continue;
        }
        let uploader = match pvb.spec.uploader_type {
            UploaderType::Kopia => Uploader::Kopia,
            UploaderType::Restic | UploaderType::Unset => Uploader::Restic,
        };
        let ns = pvb.spec.pod.namespace.clone().unwrap_or_default();
        out.entry((uploader, ns)).or_default().insert(id.to_owned());
    }
    out
}

/// The backup's recorded PodVolumeBackups' snapshots; none when it has no such file.
pub async fn recorded(store: &ObjectStore, backup: &str) -> Result<ByRepository, String> {
    let key = pvbs_key(backup);
    let body = match store.get(&key).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(ByRepository::new()),
        Err(e) => return Err(format!("reading {key} failed: {e}")),
    };
    let gz = body
        .read_all()
        .await
        .map_err(|e| format!("reading {key} failed: {e}"))?;
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut json)
        .map_err(|e| format!("{key} is not gzip: {e}"))?;
    let pvbs: Vec<PodVolumeBackup> = serde_json::from_slice(&json)
        .map_err(|e| format!("{key} is not a list of PodVolumeBackups: {e}"))?;
    Ok(snapshots(&pvbs))
}

/// Forget `snapshots` tagged with `backup_uid` in their repositories. A repository that does
/// not exist has nothing to forget; a snapshot without the tag is kept and logged. The error
/// names the repository and what failed.
pub async fn forget(
    store: Arc<ObjectStore>,
    password: &RepoPassword,
    backup: &str,
    backup_uid: &str,
    snapshots: &ByRepository,
) -> Result<usize, String> {
    let tags = BTreeMap::from([("backup-uid".to_owned(), backup_uid.to_owned())]);
    let mut forgotten = 0;
    for ((uploader, ns), ids) in snapshots {
        let address = RepoAddress::new(*uploader, ns).map_err(|e| e.to_string())?;
        let root = address.root();
        let repo: Arc<dyn repository::VolumeRepository> = match repository::open(
            store.clone(),
            address,
            password.clone(),
            Create::Never,
        )
        .await
        {
            Ok(repo) => repo.into(),
            Err(RepositoryError::Missing { .. }) => {
                tracing::warn!(backup, repository = %root, "the repository of the backup's file-system backups does not exist; nothing to forget there");
                continue;
            }
            // A Velero backup made with kopia: veloxide cannot open its repository, and
            // refusing would keep the Backup forever. Its snapshots stay, said here.
            Err(RepositoryError::Unsupported(why)) => {
                tracing::warn!(backup, repository = %root, snapshots = ids.len(), "the backup's file-system backups in this repository are not forgotten (they stay in the bucket): {why}");
                continue;
            }
            Err(e) => return Err(format!("forgetting file-system backups: {e}")),
        };
        let ids: Vec<String> = ids.iter().cloned().collect();
        let tags = tags.clone();
        let done = tokio::task::spawn_blocking(move || repo.forget(&ids, &tags))
            .await
            .map_err(|e| {
                format!("repository {root}: the forget task ended without an answer: {e}")
            })?
            .map_err(|e| format!("forgetting file-system backups: {e}"))?;
        for id in &done.kept {
            tracing::warn!(backup, repository = %root, snapshot = %id, "snapshot kept: its tags do not name this backup's uid (or the id is ambiguous)");
        }
        tracing::info!(backup, repository = %root, forgotten = done.forgotten.len(), missing = done.missing.len(), kept = done.kept.len(), "file-system backup snapshots forgotten");
        forgotten += done.forgotten.len();
    }
    Ok(forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pvb(ns: &str, phase: &str, id: Option<&str>, uploader: &str) -> PodVolumeBackup {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": "b-x", "namespace": "velero"},
            "spec": {"node": "n", "pod": {"kind": "Pod", "namespace": ns, "name": "p"},
                     "volume": "data", "backupStorageLocation": "default",
                     "repoIdentifier": "", "uploaderType": uploader},
            "status": {"phase": phase, "snapshotID": id},
        }))
        .unwrap()
    }

    /// Completed ones with an id, by namespace and format; failed and id-less ones are not.
    #[test]
    fn completed_snapshots_by_repository() {
        let got = snapshots(&[
            pvb("shop", "Completed", Some("s1"), "restic"),
            pvb("shop", "Completed", Some("s2"), "restic"),
            pvb("db", "Completed", Some("s3"), "restic"),
            pvb("db", "Completed", Some("s4"), "kopia"),
            pvb("db", "Failed", Some("s5"), "restic"),
            pvb("db", "Completed", None, "restic"),
        ]);
        let ids = |u, ns: &str| got[&(u, ns.to_owned())].iter().cloned().collect::<Vec<_>>();
        assert_eq!(ids(Uploader::Restic, "shop"), ["s1", "s2"]);
        assert_eq!(ids(Uploader::Restic, "db"), ["s3"]);
        assert_eq!(ids(Uploader::Kopia, "db"), ["s4"]);
        assert_eq!(got.len(), 3);
    }
}
