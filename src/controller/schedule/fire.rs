//! The tick: wait for the next cron time, or create the Backup of the time that came.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::sleep;
use super::state::{AFTER_CONFLICT, WHILE_RUNNING, holds_back};
use super::status::{self, event, with};
use crate::api::{Backup, Schedule, SchedulePhase};
use crate::controller::{Context, Error, is_conflict};
use crate::schedule::{Cron, Due, backup_for, backup_name, base, decide};

pub(super) async fn tick(
    cached: &Schedule,
    cron: &Cron,
    backups: &[Backup],
    ctx: &Context,
) -> Result<Action, Error> {
    let name = cached.name_any();
    let now = Timestamp::now();
    let mut schedule = cached;
    let fresh;
    let mut due = decision(schedule, cron, now);
    if matches!(due, Due::Run { .. }) {
        // Decide on the schedule as the API server has it now, not as the watch last brought
        // it: a `lastBackup` written a moment ago (by this replica or the one before) must
        // count, or the run would be decided twice.
        fresh = status::api(ctx).get(&name).await?;
        schedule = &fresh;
        due = decision(schedule, cron, now);
    }
    let (tick, next) = match due {
        Due::Never => {
            let status = enabled(schedule, None);
            ctx.metrics.schedules.idle(&name);
            return Ok(if status::write(schedule, &status, ctx).await? {
                Action::await_change()
            } else {
                Action::requeue(AFTER_CONFLICT)
            });
        }
        Due::Wait { next } => {
            observe(ctx, &name, cron, next);
            let status = enabled(schedule, Some(next));
            if !status::write(schedule, &status, ctx).await? {
                return Ok(Action::requeue(AFTER_CONFLICT));
            }
            return Ok(sleep(until(next, now)));
        }
        Due::Run { tick, next } => (tick, next),
    };

    let backup_name = backup_name(&name, tick);
    let exists = backups.iter().any(|b| b.name_any() == backup_name);
    if !exists {
        // No new backup while one of this schedule's is still running (Velero #9264).
        if let Some(running) = backups.iter().find(|b| holds_back(schedule, b)) {
            tracing::info!(schedule = %name, running = %running.name_any(), due = %tick, "a backup of this schedule is still running; the due run waits for it");
            let status = enabled(schedule, Some(tick));
            status::write(schedule, &status, ctx).await?;
            return Ok(Action::requeue(WHILE_RUNNING));
        }
        let backup = backup_for(schedule, tick);
        let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
        match api.create(&PostParams::default(), &backup).await {
            Ok(_) => {
                tracing::info!(schedule = %name, backup = %backup_name, "created the scheduled backup");
                event(
                    ctx,
                    schedule,
                    EventType::Normal,
                    "BackupCreated",
                    &format!("created backup {backup_name} for {tick}"),
                )
                .await;
            }
            // The name is the fence: another replica, or this one before a restart, made it.
            Err(e) if is_conflict(&e) => {
                tracing::info!(schedule = %name, backup = %backup_name, "the backup of this run already exists; recording it");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let status = with(schedule, |s| {
        s.phase = Some(SchedulePhase::Enabled);
        s.validation_errors = None;
        s.last_backup = Some(Time(tick));
        s.next_run = Some(Time(next));
    });
    if !status::write(schedule, &status, ctx).await? {
        return Ok(Action::requeue(AFTER_CONFLICT));
    }
    observe(ctx, &name, cron, next);
    Ok(sleep(until(next, Timestamp::now())))
}

fn decision(schedule: &Schedule, cron: &Cron, now: Timestamp) -> Due {
    let created = schedule
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    let status = schedule.status.as_ref();
    let last_backup = status.and_then(|s| s.last_backup.as_ref()).map(|t| t.0);
    let last_skipped = status.and_then(|s| s.last_skipped.as_ref()).map(|t| t.0);
    decide(cron, base(created, last_backup, last_skipped), now)
}

fn enabled(schedule: &Schedule, next: Option<Timestamp>) -> crate::api::ScheduleStatus {
    with(schedule, |s| {
        s.phase = Some(SchedulePhase::Enabled);
        s.validation_errors = None;
        s.next_run = next.map(Time);
    })
}

fn observe(ctx: &Context, name: &str, cron: &Cron, next: Timestamp) {
    let m = &ctx.metrics.schedules;
    m.next_run.with_label_values(&[name]).set(next.as_second());
    if let Some(after) = cron.next(next) {
        m.expected_interval
            .with_label_values(&[name])
            .set((after.as_second() - next.as_second()) as f64);
    }
}

/// How long from `now` to `at` (zero when past), plus a few milliseconds so the timer does
/// not wake just before the second it waits for.
fn until(at: Timestamp, now: Timestamp) -> Duration {
    let span = at.duration_since(now);
    Duration::try_from(span).unwrap_or(Duration::ZERO) + Duration::from_millis(20)
}
