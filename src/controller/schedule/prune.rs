//! Retention: ask for the deletion of this schedule's backups its `spec.retention` does not
//! keep, by creating DeleteBackupRequests (the only path by which a backup's files leave the
//! store). Only backups labelled with this schedule's name are ever considered.

use std::collections::BTreeSet;

use kube::api::{ListParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::state::RETENTION_OF;
use super::status::event;
use crate::api::{
    Backup, BackupPhase, DeleteBackupRequest, DeleteBackupRequestPhase, Retention, Schedule,
};
use crate::controller::{Context, Error};
use crate::schedule::Cron;
use crate::schedule::retention::{candidates, expired};

pub(super) async fn prune(
    schedule: &Schedule,
    policy: &Retention,
    cron: &Cron,
    backups: &[Backup],
    ctx: &Context,
) -> Result<(), Error> {
    let name = schedule.name_any();
    let own: Vec<&Backup> = backups.iter().filter(|b| b.schedule() == name).collect();
    let candidates = candidates(&name, backups);
    let doomed = expired(policy, cron.zone(), &candidates);
    if doomed.is_empty() {
        return Ok(());
    }
    let requests: Api<DeleteBackupRequest> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let pending: BTreeSet<String> = requests
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|r| r.phase() != DeleteBackupRequestPhase::Processed)
        .map(|r| r.spec.backup_name)
        .collect();
    for backup in own {
        let backup_name = backup.name_any();
        if !doomed.contains(&backup_name)
            || pending.contains(&backup_name)
            || backup.phase() == BackupPhase::Deleting
        {
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
