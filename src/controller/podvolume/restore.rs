//! One PodVolumeRestore on this node: claim it, find the new pod's volume, open the location's
//! store and the source namespace's repository, write the snapshot into the volume with its
//! progress in the status, then the done file `.velero/<restore uid>` the pod's `restore-wait`
//! init container waits for; end Completed, or Failed with a message naming what failed.
//!
//! Only that one volume directory is written: it must be a directory (not a symlink) holding
//! no symlink before the restore, so nothing the restore writes can be sent elsewhere on the
//! node; the snapshot's own symlinks are made as symlinks, never followed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::ResourceExt;
use serde_json::json;

use super::Agent;
use super::backup::{open_store, password, progress_json, repository_message};
use super::locate::pod_volume_path;
use super::restore_decide::{done_file_name, restore_uid};
use crate::api::{PodVolumePhase, PodVolumeRestore, UploaderType};
use crate::controller::claim::{Ended, Run, claim};
use crate::controller::now;
use crate::repository::{self, Create, Progress, RepoAddress, RepositoryError, Uploader};
use crate::storage::StorageError;

/// The most entries the symlink check looks at before the restore: a new volume holds a few.
const CHECK_ENTRIES: usize = 100_000;

/// Claim `pvr` (New → InProgress, `status.node` this node) and carry it out.
pub async fn run(agent: &Agent, pvr: &PodVolumeRestore) -> Result<(), kube::Error> {
    let api = agent.restores();
    let mut claimed = pvr.clone();
    let status = claimed.status.get_or_insert_with(Default::default);
    status.phase = Some(PodVolumePhase::InProgress);
    status.start_timestamp = Some(now());
    status.accepted_timestamp = Some(now());
    status.node = Some(agent.settings.node.clone());
    let Some(claimed) = claim(&api, &claimed).await? else {
        return Ok(());
    };
    let name = claimed.name_any();
    tracing::info!(name = %name, volume = %claimed.spec.volume, "restoring a pod volume");
    let mut run = Run::new(api, &claimed, &agent.shutdown);
    let progress = Progress::default();
    let mut reported = (0, 0);
    let ended = run
        .drive(
            write(agent, &claimed, progress.clone()),
            || {
                let now = (progress.done(), progress.total());
                (now != reported).then(|| {
                    reported = now;
                    json!({"progress": progress_json(&progress)})
                })
            },
            || None,
        )
        .await;
    let result = match ended {
        Ended::Finished(result) => result,
        // Shutdown: the next start's sweep fails this restore.
        Ended::Cancelled | Ended::Lost(_) => return Ok(()),
    };
    let status = match result {
        Ok(bytes) => {
            tracing::info!(name = %name, "pod volume restored");
            json!({
                "phase": "Completed",
                "completionTimestamp": now(),
                "progress": {"bytesDone": bytes, "totalBytes": bytes},
            })
        }
        Err(message) => {
            tracing::warn!(name = %name, error = %message, "pod volume restore failed");
            json!({
                "phase": "Failed",
                "message": message,
                "completionTimestamp": now(),
                "progress": progress_json(&progress),
            })
        }
    };
    run.finish(&status).await?;
    Ok(())
}

/// The restore itself; the error is the status message. Returns the bytes written.
async fn write(agent: &Agent, pvr: &PodVolumeRestore, progress: Progress) -> Result<u64, String> {
    let uid = restore_uid(pvr).ok_or(
        "no velero.io/restore-uid label and no owning Restore: the done file the pod waits for \
         cannot be named",
    )?;
    done_file_name(&uid)?;
    let path = pod_volume_path(
        &agent.client,
        &agent.settings.pods_dir,
        &pvr.spec.pod,
        &pvr.spec.volume,
    )
    .await?;
    let checked = path.clone();
    tokio::task::spawn_blocking(move || no_symlinks(&checked))
        .await
        .map_err(|e| format!("checking the volume directory ended without an answer: {e}"))??;
    let store = open_store(agent, &pvr.spec.backup_storage_location).await?;
    let password = password(agent).await?;
    let uploader = match pvr.spec.uploader_type {
        UploaderType::Kopia => Uploader::Kopia,
        UploaderType::Restic | UploaderType::Unset => Uploader::Restic,
    };
    if let Some(settings) = pvr
        .spec
        .uploader_settings
        .as_ref()
        .filter(|s| !s.is_empty())
    {
        tracing::warn!(name = %pvr.name_any(), settings = ?settings, "uploaderSettings are not applied by veloxide's restic restore (it writes holes as holes and files one pack at a time)");
    }
    let address =
        RepoAddress::new(uploader, &pvr.spec.source_namespace).map_err(|e| e.to_string())?;
    let root = address.root();
    let repo: Arc<dyn repository::VolumeRepository> =
        repository::open(Arc::new(store), address, password, Create::Never)
            .await
            .map_err(|e| repository_message(&e))?
            .into();
    let snapshot = pvr.spec.snapshot_id.clone();
    let target = path.clone();
    let restored = tokio::task::spawn_blocking(move || repo.restore(&snapshot, &target, &progress))
        .await
        .map_err(|e| format!("the restore task ended without an answer: {e}"))?
        .map_err(|e| {
            let id = &pvr.spec.snapshot_id;
            match &e {
                RepositoryError::Store {
                    source:
                        StorageError::Store {
                            target,
                            status: Some(404),
                            ..
                        },
                    ..
                } if target.contains("/snapshots/") => format!(
                    "snapshot {id} is not in repository {root} (forgotten or pruned since the \
                     backup, or the backup's files were changed): nothing was written into {} \
                     ({})",
                    path.display(),
                    repository_message(&e)
                ),
                _ => format!(
                    "snapshot {id} of repository {root} into {}: {}",
                    path.display(),
                    repository_message(&e)
                ),
            }
        })?;
    let done = path.clone();
    tokio::task::spawn_blocking(move || write_done_file(&done, &uid))
        .await
        .map_err(|e| format!("writing the done file ended without an answer: {e}"))??;
    Ok(restored.bytes)
}

/// Refuse a volume directory that is a symlink or holds one before the restore: a file the
/// snapshot writes below it would land wherever it points.
fn no_symlinks(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory (a symlink?); nothing was written",
            dir.display()
        ));
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            seen += 1;
            if seen > CHECK_ENTRIES {
                return Err(format!(
                    "{} holds over {CHECK_ENTRIES} entries before the restore; file-system \
                     restores write into new volumes",
                    dir.display()
                ));
            }
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if kind.is_symlink() {
                return Err(format!(
                    "{} holds the symlink {} before the restore; veloxide writes only into a \
                     volume without symlinks, so nothing the restore writes lands outside it \
                     (restore into a new volume)",
                    dir.display(),
                    entry.path().display()
                ));
            }
            if kind.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// `.velero/<uid>` in the volume: a `.velero` that is not a directory (the snapshot may hold
/// one) is removed first, and the file is created new, never through a link. The directory is
/// open to all so the init container, whatever user it runs as, can remove it as Velero's does.
fn write_done_file(volume: &Path, uid: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir: PathBuf = volume.join(".velero");
    let fail = |what: &str, e: std::io::Error| {
        format!("writing the done file: {what} {}: {e}", dir.display())
    };
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => std::fs::remove_file(&dir).map_err(|e| fail("removing", e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("reading", e)),
    }
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("creating", e)),
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| fail("opening", e))?;
    let file = dir.join(uid);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.kind() == std::io::ErrorKind::AlreadyExists
                && std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("writing the done file {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_holding_a_symlink_is_refused_and_the_done_file_never_follows_one() {
        let dir = std::env::temp_dir().join(format!("vx-pvr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/f"), b"x").unwrap();
        assert!(no_symlinks(&dir).is_ok());
        std::os::unix::fs::symlink("/etc", dir.join("a/b/out")).unwrap();
        let e = no_symlinks(&dir).unwrap_err();
        assert!(e.contains("a/b/out"), "{e}");
        std::fs::remove_file(dir.join("a/b/out")).unwrap();
        // A `.velero` symlink (from a snapshot) is replaced by a directory.
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join(".velero")).unwrap();
        write_done_file(&dir, "uid-1").unwrap();
        assert!(
            std::fs::symlink_metadata(dir.join(".velero"))
                .unwrap()
                .is_dir()
        );
        assert!(dir.join(".velero/uid-1").is_file());
        assert!(!elsewhere.join("uid-1").exists());
        // Twice is fine.
        write_done_file(&dir, "uid-1").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
