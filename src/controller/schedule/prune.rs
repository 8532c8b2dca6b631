//! Retention: ask for the deletion of this schedule's backups its `spec.retention` does not
//! keep, by creating DeleteBackupRequests (the only path by which a backup's files leave the
//! store). Only backups labelled with this schedule's name are ever considered.

use std::collections::BTreeSet;

use jiff::Timestamp;
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
use crate::schedule::retention::{Candidate, expired};

pub(super) async fn prune(
    schedule: &Schedule,
    policy: &Retention,
    cron: &Cron,
    backups: &[Backup],
    ctx: &Context,
) -> Result<(), Error> {
    let name = schedule.name_any();
    let own: Vec<&Backup> = backups.iter().filter(|b| b.schedule() == name).collect();
    let candidates: Vec<Candidate> = own
        .iter()
        .map(|b| Candidate {
            name: b.name_any(),
            time: time_of(&name, b),
            phase: b.phase(),
        })
        .collect();
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

/// The time a backup stands for: the cron time in its name when it is this schedule's
/// `<schedule>-<yyyymmddhhmmss>` (which survives backup sync into a new cluster), else when it
/// started, else when its object was created.
fn time_of(schedule: &str, backup: &Backup) -> Timestamp {
    let from_name = backup
        .name_any()
        .strip_prefix(schedule)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|s| s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", s).ok())
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp());
    from_name
        .or_else(|| {
            backup
                .status
                .as_ref()
                .and_then(|s| s.start_timestamp.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| backup.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}
