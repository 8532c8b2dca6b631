//! One PodVolumeBackup on this node: claim it, find the volume, open the location's store and
//! the namespace's repository, back the directory up with its progress in the status, and end
//! Completed (`snapshotID`, `path`) or Failed with a message that names what to fix.

use std::path::PathBuf;
use std::sync::Arc;

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::Agent;
use super::decide::{PVC_UID_LABEL, parent_snapshot};
use super::locate::volume_path;
use crate::api::{BackupStorageLocation, PodVolumeBackup, PodVolumePhase, UploaderType};
use crate::controller::claim::{Ended, Run, claim};
use crate::controller::now;
use crate::location::LocationConfig;
use crate::repository::{
    self, Create, Progress, RepoAddress, RepoPassword, RepositoryError, Snapshot, SnapshotRequest,
    Uploader,
};
use crate::storage::{KubeSecrets, StorageError};

/// What a finished copy recorded.
struct Copied {
    snapshot: Snapshot,
    path: PathBuf,
}

/// Claim `pvb` (New → InProgress) and carry it out. Returns once its final status is written,
/// or at once when another writer had it first.
pub async fn run(agent: &Agent, pvb: &PodVolumeBackup) -> Result<(), kube::Error> {
    let api = agent.backups();
    let mut claimed = pvb.clone();
    let status = claimed.status.get_or_insert_with(Default::default);
    status.phase = Some(PodVolumePhase::InProgress);
    status.start_timestamp = Some(now());
    status.accepted_timestamp = Some(now());
    let Some(claimed) = claim(&api, &claimed).await? else {
        return Ok(());
    };
    let name = claimed.name_any();
    tracing::info!(name = %name, volume = %claimed.spec.volume, "backing a pod volume up");
    let mut run = Run::new(api, &claimed, &agent.shutdown);
    let progress = Progress::default();
    let mut reported = (0, 0);
    let ended = run
        .drive(
            copy(agent, &claimed, progress.clone()),
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
        // Shutdown: the work is dropped; the next start's sweep fails this backup.
        Ended::Cancelled | Ended::Lost(_) => return Ok(()),
    };
    let status = match result {
        Ok(copied) => {
            tracing::info!(name = %name, snapshot = %copied.snapshot.id, "pod volume backed up");
            json!({
                "phase": "Completed",
                "snapshotID": copied.snapshot.id,
                "path": copied.path.display().to_string(),
                "completionTimestamp": now(),
                // The snapshot's own count: the scan's total also counts what is not file
                // content (a few bytes for symlinks), so done and total would never meet.
                "progress": {
                    "bytesDone": copied.snapshot.total_bytes,
                    "totalBytes": copied.snapshot.total_bytes,
                },
            })
        }
        Err(message) => {
            tracing::warn!(name = %name, error = %message, "pod volume backup failed");
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

pub(super) fn progress_json(progress: &Progress) -> Value {
    json!({"bytesDone": progress.done(), "totalBytes": progress.total()})
}

/// The copy itself; the error is the status message.
async fn copy(agent: &Agent, pvb: &PodVolumeBackup, progress: Progress) -> Result<Copied, String> {
    let path = volume_path(&agent.client, &agent.settings.pods_dir, pvb).await?;
    let store = open_store(agent, &pvb.spec.backup_storage_location).await?;
    let password = password(agent).await?;
    let uploader = match pvb.spec.uploader_type {
        UploaderType::Kopia => Uploader::Kopia,
        UploaderType::Restic | UploaderType::Unset => Uploader::Restic,
    };
    let volume_ns = pvb.spec.pod.namespace.clone().unwrap_or_default();
    let address = RepoAddress::new(uploader, &volume_ns).map_err(|e| e.to_string())?;
    let repo: Arc<dyn repository::VolumeRepository> =
        repository::open(Arc::new(store), address, password, Create::IfMissing)
            .await
            .map_err(|e| repository_message(&e))?
            .into();
    let parent = parent_of(agent, pvb).await;
    if let Some(parent) = &parent {
        tracing::info!(name = %pvb.name_any(), parent = %parent, "incremental: comparing with the claim's last snapshot");
    }
    let request = SnapshotRequest {
        tags: pvb.spec.tags.clone().unwrap_or_default(),
        parent,
    };
    let source = path.clone();
    let snapshot = tokio::task::spawn_blocking(move || repo.backup(&source, &request, &progress))
        .await
        .map_err(|e| format!("the backup task ended without an answer: {e}"))?
        .map_err(|e| repository_message(&e))?;
    Ok(Copied { snapshot, path })
}

/// The parent snapshot for `pvb` ([`parent_snapshot`]) among the PodVolumeBackups of its claim;
/// none when they cannot be listed (every file is read then, which is slower, never wrong).
async fn parent_of(agent: &Agent, pvb: &PodVolumeBackup) -> Option<String> {
    let claim = pvb.labels().get(PVC_UID_LABEL)?;
    let params = ListParams::default().labels(&format!("{PVC_UID_LABEL}={claim}"));
    match crate::controller::list::all(&agent.backups(), &params).await {
        Ok(others) => parent_snapshot(pvb, &others),
        Err(e) => {
            tracing::warn!(name = %pvb.name_any(), error = %e, "listing the claim's earlier backups failed; reading every file");
            None
        }
    }
}

/// The location's store through the one storage path (its CA, client certificate, SSE).
pub(super) async fn open_store(
    agent: &Agent,
    name: &str,
) -> Result<crate::storage::ObjectStore, String> {
    let ns = &agent.settings.namespace;
    let locations: Api<BackupStorageLocation> = Api::namespaced(agent.client.clone(), ns);
    let location = locations
        .get_opt(name)
        .await
        .map_err(|e| format!("reading BackupStorageLocation {ns}/{name}: {e}"))?
        .ok_or_else(|| format!("BackupStorageLocation {ns}/{name} does not exist"))?;
    let config = LocationConfig::from_spec_with(&location.spec, &agent.settings.files)
        .map_err(|e| format!("BackupStorageLocation {ns}/{name}: {e}"))?
        .config;
    let secrets = KubeSecrets::new(agent.client.clone(), ns);
    crate::storage::open(&config, &secrets, &agent.stores, name)
        .await
        .store()
        .map_err(|e| format!("BackupStorageLocation {ns}/{name}: {}", store_message(&e)))
}

/// The repository password from Velero's Secret in the server's namespace.
pub(super) async fn password(agent: &Agent) -> Result<RepoPassword, String> {
    repository::read_password(&agent.client, &agent.settings.namespace).await
}

/// A store failure as the location controller says it: the reason, what failed, the fix.
fn store_message(e: &StorageError) -> String {
    let reason = e.reason();
    format!("{}: {e}; {}", reason.as_str(), reason.remedy())
}

pub(super) fn repository_message(e: &RepositoryError) -> String {
    match e {
        RepositoryError::Store { root, source } => {
            format!("repository {root}: {}", store_message(source))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Reason;

    #[test]
    fn store_failures_name_the_reason_and_the_fix() {
        let e = StorageError::Store {
            operation: "GET",
            target: "restic/shop/config".to_owned(),
            reason: Reason::X509UnknownAuthority,
            message: "certificate verify failed".to_owned(),
            status: None,
        };
        let text = repository_message(&RepositoryError::Store {
            root: "restic/shop/".to_owned(),
            source: e,
        });
        assert!(
            text.starts_with(
                "repository restic/shop/: X509UnknownAuthority: GET restic/shop/config"
            ),
            "{text}"
        );
        assert!(text.contains("spec.objectStorage.caCertRef"), "{text}");
    }
}
