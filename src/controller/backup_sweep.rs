//! What a new leader does before its backup controller starts: every backup left `InProgress`
//! (its runner died or lost the lease) is marked `Failed` with Velero's message, and whatever
//! it left in the store (parts of a multipart upload, side files) is removed.
//!
//! Velero's choice, kept over resuming: a half-written archive cannot be continued (the
//! multipart upload's parts are gone or unknown), and re-running silently would make one
//! Backup object stand for two different points in time.

use kube::api::ListParams;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::Context;
use super::backup::{event, patch_status, store_for};
use super::backup_cleanup::{clean, mark};
use super::backup_status::{RESTART_MESSAGE, orphaned};
use crate::api::{Backup, BackupPhase, BackupStorageLocation};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Fail every `InProgress` backup and clean up after it; returns how many were found.
pub async fn fail_in_progress(ctx: &Context) -> Result<usize, kube::Error> {
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let backups = api.list(&ListParams::default()).await?;
    let mut found = 0;
    for backup in backups
        .items
        .iter()
        .filter(|b| b.phase() == BackupPhase::InProgress)
    {
        found += 1;
        let name = backup.name_any();
        let location_name = backup.files_location().unwrap_or_default().to_owned();
        let cleaned = async {
            let location = locations
                .get_opt(&location_name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("location {location_name:?} does not exist"))?;
            let store = store_for(ctx, &location).await.map_err(|e| e.to_string())?;
            clean(&store, &name).await.map_err(|e| e.to_string())
        }
        .await;
        match &cleaned {
            Ok((aborted, deleted)) => tracing::info!(
                backup = %name, aborted_uploads = aborted, deleted_objects = deleted,
                "cleaned up after an interrupted backup"
            ),
            Err(e) => {
                tracing::warn!(backup = %name, error = %e, "could not clean up after an interrupted backup yet")
            }
        }
        let now = Time(jiff::Timestamp::now());
        let mut status = orphaned(backup.status.as_ref(), &now);
        mark(&mut status, &cleaned, &now);
        patch_status(&api, &name, &status).await?;
        tracing::warn!(backup = %name, "{RESTART_MESSAGE}");
        let schedule = &[backup.schedule()];
        ctx.metrics
            .backups
            .failure_total
            .with_label_values(schedule)
            .inc();
        ctx.metrics
            .backups
            .last_status
            .with_label_values(schedule)
            .set(0);
        event(ctx, backup, EventType::Warning, "Failed", RESTART_MESSAGE).await;
    }
    Ok(found)
}
