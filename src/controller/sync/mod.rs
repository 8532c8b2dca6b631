//! Backup sync (Velero's `backup_sync_controller`): the bucket is the source of truth, and the
//! Backup objects here a cache of it. Each Available location, when its `backupSyncPeriod` has
//! passed since `status.lastSyncedTime` (the default location first), gets one [`pass`]:
//!
//! | found                                                  | done                                  |
//! |--------------------------------------------------------|---------------------------------------|
//! | a folder with `velero-backup.json`, no object here     | a Backup decoded from it, [`plan::prepare`]d, phase kept ([`plan::sync_phase`]) |
//! | an unfinished phase (New, InProgress, ...)             | nothing (it would be run again)       |
//! | a file that cannot be used                             | a Warning event and a metric; the others go on |
//! | a labelled Completed/PartiallyFailed object, no folder | the object is deleted (no data)       |
//!
//! The sync never writes or deletes anything in a store. A synced Backup is never run.

mod pass;
pub mod plan;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::api::{BackupStorageLocation, LocationPhase};

/// Run the sync until `term` is cancelled (lease lost or shutdown).
pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let server = ctx.settings.backup_sync_period;
    let api: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    loop {
        let wait = match api.list(&Default::default()).await {
            Ok(list) => sync_due(&ctx, plan::order(list.items), server, &term).await,
            Err(e) => {
                tracing::warn!(error = %e, "the backup sync could not list locations");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = term.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sync every location that is due; returns how long until the next one is.
async fn sync_due(
    ctx: &Context,
    locations: Vec<BackupStorageLocation>,
    server: Duration,
    term: &CancellationToken,
) -> Duration {
    let mut untils = Vec::new();
    for location in &locations {
        let Some(period) = plan::period(location.spec.backup_sync_period.as_ref(), server) else {
            continue;
        };
        let status = location.status.as_ref();
        // Velero skips locations that are not Available; look again within a period.
        if status.and_then(|s| s.phase) != Some(LocationPhase::Available) {
            untils.push(period);
            continue;
        }
        let last = status
            .and_then(|s| s.last_synced_time.as_ref())
            .map(|t| t.0);
        let until = plan::until_due(last, period, jiff::Timestamp::now());
        if !until.is_zero() {
            untils.push(until);
            continue;
        }
        if term.is_cancelled() {
            break;
        }
        untils.push(period);
        let name = location.name_any();
        let sync = &ctx.metrics.sync;
        match pass::sync_location(ctx, location, term).await {
            Ok(summary) => {
                sync.passes.with_label_values(&[&name, "success"]).inc();
                sync.found
                    .with_label_values(&[&name])
                    .set(summary.found as i64);
                sync.created
                    .with_label_values(&[&name])
                    .inc_by(summary.created as u64);
                sync.orphans_deleted
                    .with_label_values(&[&name])
                    .inc_by(summary.orphans_deleted as u64);
                tracing::debug!(location = %name, ?summary, "synced backups from the location");
            }
            Err(e) => {
                sync.passes.with_label_values(&[&name, "failure"]).inc();
                tracing::warn!(location = %name, error = %e, "the backup sync of the location failed");
            }
        }
    }
    plan::next_wait(untils, server)
}
