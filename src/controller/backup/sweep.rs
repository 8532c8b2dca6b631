//! What a new leader does before its backup controller starts: every backup left `InProgress`
//! (its runner died or lost the lease) is marked `Failed` with Velero's message, and whatever
//! it left in the store (parts of a multipart upload, side files) is removed: only the files a
//! run writes, only while the folder's owner marker names the backup, and only through a
//! location still pointing where they were written (`cleanup::clean_where_written`).
//!
//! Velero's choice, kept over resuming: a half-written archive cannot be continued (the
//! multipart upload's parts are gone or unknown), and re-running silently would make one
//! Backup object stand for two different points in time.

use kube::api::ListParams;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::cleanup::{clean_where_written, mark};
use super::state::ACTION;
use super::status::{RESTART_MESSAGE, orphaned};
use crate::api::{Backup, BackupPhase};
use crate::controller::claim::mark_orphaned;
use crate::controller::fence::{Swept, write_status};
use crate::controller::{Context, now, publish};

/// Fail every `InProgress` backup and clean up after it. Only listing them can fail the sweep
/// as a whole: a backup whose status cannot be written is reported (log and event) and
/// skipped, and the others are swept all the same.
///
/// The `Failed` status is written first, conditional on the version listed, and only then are
/// the files removed: a runner that finished in the meantime keeps its status and its files,
/// and a runner that has not noticed it lost the lease is fenced out (its own writes carry the
/// version it last wrote, so they now fail) and never turns this `Failed` into `Completed`.
pub async fn fail_in_progress(ctx: &Context) -> Result<Swept, kube::Error> {
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let backups = api.list(&ListParams::default()).await?;
    let mut swept = Swept::default();
    let leading = CancellationToken::new();
    for backup in backups
        .items
        .iter()
        .filter(|b| b.phase() == BackupPhase::InProgress)
    {
        swept.found += 1;
        let name = backup.name_any();
        let now = now();
        let mut status = orphaned(backup.status.as_ref(), &now);
        // None: its runner finished it after all (its status and files stand), or it was
        // reported and skipped.
        let Some(mut rv) =
            mark_orphaned(ctx, backup, &status, &mut swept, " (its files stay)").await
        else {
            continue;
        };
        swept.failed += 1;
        let cleaned = clean_where_written(ctx, backup).await;
        match &cleaned {
            Ok(removed) => tracing::info!(
                backup = %name, ?removed, "cleaned up after an interrupted backup"
            ),
            Err(e) => {
                tracing::warn!(backup = %name, error = %e, "could not clean up after an interrupted backup yet")
            }
        }
        mark(&mut status, &cleaned, &now);
        let failed = |b: &Backup| b.phase() == BackupPhase::Failed;
        if let Err(e) = write_status(&api, &name, &mut rv, &status, failed, &leading).await {
            tracing::warn!(backup = %name, error = %e, "could not record the clean-up in status");
        }
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
        publish(
            ctx,
            backup,
            EventType::Warning,
            "Failed",
            ACTION,
            RESTART_MESSAGE,
        )
        .await;
    }
    Ok(swept)
}
