//! The Schedule controller: validate, honour `skipImmediately`, prune by retention, and at each
//! cron time create exactly one Backup.
//!
//! Exactly once: the Backup is named after the cron time it stands for
//! (`<schedule>-<UTC yyyymmddhhmmss>`), never after the clock, so any replica deciding on the
//! same `lastBackup` creates the same name and the API server lets only one create succeed
//! (AlreadyExists means that tick is done). `lastBackup` is then written with the
//! resourceVersion the decision was read at. docs/schedules.md walks through a handover.
//!
//! The controller sleeps until the exact next cron time (not a one-minute poll), and wakes when
//! the schedule or one of its backups changes.

mod fire;
mod prune;
pub mod state;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::{Context, Error, list, run_until};
use crate::api::backup::SCHEDULE_LABEL;
use crate::api::{Backup, Schedule};
use state::CONTROLLER;

/// Run the controller until `term` is cancelled (lease lost or shutdown).
pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let ns = ctx.settings.namespace.clone();
    let api: Api<Schedule> = Api::namespaced(ctx.client.clone(), &ns);
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let forget = forget_deleted(api.clone(), ctx.clone(), term.clone());
    let controller = list::controller(api, watcher::Config::default())
        // A backup of the schedule finishing may release the next run, or make one to prune.
        .watches(
            backups,
            watcher::Config::default().labels(SCHEDULE_LABEL),
            move |backup: Backup| {
                let schedule = backup.schedule().to_owned();
                (!schedule.is_empty()).then(|| ObjectRef::new(&schedule).within(&ns))
            },
        );
    let controller = run_until(controller, term, reconcile, error_policy, ctx, CONTROLLER);
    tokio::join!(controller, forget);
}

fn error_policy(_schedule: Arc<Schedule>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, error, state::AFTER_CONFLICT)
}

/// The phases of one look at a schedule, in order; each returns when it decides the outcome.
async fn reconcile(schedule: Arc<Schedule>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let name = schedule.name_any();
    if schedule.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    // Series exist from the schedule's creation (Velero's InitSchedule).
    ctx.metrics.backups.init_schedule(&name);
    if let Some(created) = &schedule.metadata.creation_timestamp {
        ctx.metrics
            .schedules
            .created
            .with_label_values(&[&name])
            .set(created.0.as_second());
    }
    // 1. Validate, every time (as Velero: an Enabled schedule is not trusted).
    let named = crate::schedule::name_problem(&name);
    let cron = match (crate::schedule::validate(&schedule.spec), named) {
        (Ok(cron), None) => cron,
        (Ok(_), Some(problem)) => {
            return status::failed_validation(&schedule, vec![problem], &ctx).await;
        }
        (Err(errors), named) => {
            let errors = named.into_iter().chain(errors).collect();
            return status::failed_validation(&schedule, errors, &ctx).await;
        }
    };
    // 2. skipImmediately: skip the run due now, once.
    if schedule.spec.skip_immediately == Some(true) {
        return status::skip(&schedule, &ctx).await;
    }
    let backups = of_schedule(&ctx, &schedule).await?;
    // 3. Retention, paused or not (it only concerns backups already made).
    if let Some(policy) = &schedule.spec.retention {
        prune::prune(&schedule, policy, &cron, &backups, &ctx).await?;
    }
    // 4. A paused schedule makes nothing.
    if schedule.spec.paused {
        return status::paused(&schedule, &ctx).await;
    }
    // 5. Wait for the next cron time, or make its backup.
    fire::tick(&schedule, &cron, &backups, &ctx).await
}

/// The backups labelled with this schedule's name, read from the API server, not a cache:
/// those it made here, and any another cluster's same-named schedule made that the sync
/// brought in (they name a tick already done; nothing else of theirs is looked at).
async fn of_schedule(ctx: &Context, schedule: &Schedule) -> Result<Vec<Backup>, Error> {
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let selector = format!("{SCHEDULE_LABEL}={}", schedule.name_any());
    Ok(list::all(&api, &ListParams::default().labels(&selector)).await?)
}

/// A requeue after `wait`, capped (see [`state::MAX_SLEEP`]).
fn sleep(wait: Duration) -> Action {
    Action::requeue(wait.min(state::MAX_SLEEP))
}

/// Deleted schedules take their series with them (the controller never sees a deleted object,
/// so a plain watch does this).
async fn forget_deleted(api: Api<Schedule>, ctx: Arc<Context>, term: CancellationToken) {
    let events = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(events);
    loop {
        tokio::select! {
            _ = term.cancelled() => return,
            event = events.next() => match event {
                Some(Ok(watcher::Event::Delete(schedule))) => {
                    let name = schedule.name_any();
                    ctx.metrics.backups.remove_schedule(&name);
                    ctx.metrics.schedules.forget(&name);
                }
                Some(_) => {}
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
