//! Retention: ask for the deletion of this schedule's backups its `spec.retention` does not
//! keep, by creating DeleteBackupRequests (the only path by which a backup's files leave the
//! store). Only the backups this Schedule made in this cluster are ever considered
//! (`schedule::own`): never another cluster's, synced here under the same schedule name.

use std::collections::BTreeSet;

use kube::api::{ListParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::state::RETENTION_OF;
use super::status::event;
use crate::api::{
    Backup, BackupPhase, DeleteBackupRequest, DeleteBackupRequestPhase, Retention, Schedule,
};
use crate::controller::backoff::may_ask;
use crate::controller::{Context, Error, list};
use crate::schedule::retention::{candidates, expired};
use crate::schedule::{Cron, made_by};

pub(super) async fn prune(
    schedule: &Schedule,
    policy: &Retention,
    cron: &Cron,
    backups: &[Backup],
    ctx: &Context,
) -> Result<(), Error> {
    let name = schedule.name_any();
    let own: Vec<&Backup> = backups.iter().filter(|b| made_by(schedule, b)).collect();
    let candidates = candidates(schedule, backups);
    let doomed = expired(policy, cron.zone(), &candidates);
    if doomed.is_empty() {
        return Ok(());
    }
    let requests: Api<DeleteBackupRequest> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let all = list::all(&requests, &ListParams::default()).await?;
    let pending: BTreeSet<&str> = all
        .iter()
        .filter(|r| r.phase() != DeleteBackupRequestPhase::Processed)
        .map(|r| r.spec.backup_name.as_str())
        .collect();
    let now = jiff::Timestamp::now();
    for backup in own {
        let backup_name = backup.name_any();
        if !doomed.contains(&backup_name)
            || pending.contains(backup_name.as_str())
            || backup.phase() == BackupPhase::Deleting
        {
            continue;
        }
        // This schedule's earlier requests for it that failed: ask again only after a delay
        // that doubles, and not once it has expired (expiry asks then).
        let failed: Vec<jiff::Timestamp> = all
            .iter()
            .filter(|r| r.spec.backup_name == backup_name && failed_retention(r, &name))
            .filter_map(|r| r.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .collect();
        let expiration = backup
            .status
            .as_ref()
            .and_then(|s| s.expiration.as_ref())
            .map(|t| t.0);
        if !may_ask(&failed, expiration, now) {
            continue;
        }
        let mut request = DeleteBackupRequest::for_backup(backup);
        request
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(RETENTION_OF.to_owned(), name.clone());
        requests.create(&PostParams::default(), &request).await?;
        tracing::info!(schedule = %name, backup = %backup_name, "retention: asked for the backup's deletion");
        event(
            ctx,
            schedule,
            EventType::Normal,
            "RetentionDelete",
            &format!("backup {backup_name} is not kept by spec.retention; a DeleteBackupRequest deletes it"),
        )
        .await;
    }
    Ok(())
}

/// A retention request of `schedule` that ended with errors.
fn failed_retention(request: &DeleteBackupRequest, schedule: &str) -> bool {
    request.phase() == DeleteBackupRequestPhase::Processed
        && request
            .status
            .as_ref()
            .and_then(|s| s.errors.as_ref())
            .is_some_and(|e| !e.is_empty())
        && request
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RETENTION_OF))
            .is_some_and(|s| s == schedule)
}
