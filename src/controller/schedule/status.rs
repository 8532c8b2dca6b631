//! Status writes: each carries the resourceVersion it was decided on, so a write decided on an
//! outdated schedule fails with 409 and the schedule is looked at again.

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::state::AFTER_CONFLICT;
use crate::api::{Schedule, SchedulePhase, ScheduleStatus};
use crate::controller::{Context, Error, is_conflict, now, publish};

pub(super) fn api(ctx: &Context) -> Api<Schedule> {
    Api::namespaced(ctx.client.clone(), &ctx.settings.namespace)
}

/// Write `status` if it differs from the schedule's, fenced by its resourceVersion. `Ok(false)`
/// when another writer got there first (the watch brings the newer object).
pub(super) async fn write(
    schedule: &Schedule,
    status: &ScheduleStatus,
    ctx: &Context,
) -> Result<bool, Error> {
    if schedule.status.as_ref() == Some(status) {
        return Ok(true);
    }
    let patch = json!({
        "metadata": {"resourceVersion": schedule.resource_version()},
        // Merge patch: null removes what the new status leaves out.
        "status": {
            "phase": status.phase,
            "lastBackup": status.last_backup,
            "lastSkipped": status.last_skipped,
            "validationErrors": status.validation_errors,
            "nextRun": status.next_run,
        },
    });
    match api(ctx)
        .patch_status(
            &schedule.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The status as it stands, with `f` applied.
pub(super) fn with(schedule: &Schedule, f: impl FnOnce(&mut ScheduleStatus)) -> ScheduleStatus {
    let mut status = schedule.status.clone().unwrap_or_default();
    f(&mut status);
    status
}

/// FailedValidation with every error, as Velero; waits for the spec to change.
pub(super) async fn failed_validation(
    schedule: &Schedule,
    errors: Vec<String>,
    ctx: &Context,
) -> Result<Action, Error> {
    ctx.metrics.schedules.idle(&schedule.name_any());
    let first = schedule.phase() != SchedulePhase::FailedValidation;
    let status = with(schedule, |s| {
        s.phase = Some(SchedulePhase::FailedValidation);
        s.validation_errors = Some(errors.clone());
        s.next_run = None;
    });
    if !write(schedule, &status, ctx).await? {
        return Ok(Action::requeue(AFTER_CONFLICT));
    }
    if first {
        event(
            ctx,
            schedule,
            EventType::Warning,
            "FailedValidation",
            &errors.join("; "),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// `skipImmediately`: `lastSkipped = now`, then the flag back to false (Velero's one-shot).
/// The status goes first: if the second write is lost, the next look skips again from a later
/// time, which skips nothing more.
pub(super) async fn skip(schedule: &Schedule, ctx: &Context) -> Result<Action, Error> {
    let status = with(schedule, |s| {
        s.last_skipped = Some(now());
    });
    let patch = json!({
        "metadata": {"resourceVersion": schedule.resource_version()},
        "status": {"lastSkipped": status.last_skipped},
    });
    let api = api(ctx);
    let name = schedule.name_any();
    let written = match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(s) => s,
        Err(e) if is_conflict(&e) => return Ok(Action::requeue(AFTER_CONFLICT)),
        Err(e) => return Err(e.into()),
    };
    let patch = json!({
        "metadata": {"resourceVersion": written.resource_version()},
        "spec": {"skipImmediately": false},
    });
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(e) if is_conflict(&e) => return Ok(Action::requeue(AFTER_CONFLICT)),
        Err(e) => return Err(e.into()),
    }
    event(
        ctx,
        schedule,
        EventType::Normal,
        "Skipped",
        "skipImmediately: the run due now is skipped",
    )
    .await;
    Ok(Action::await_change())
}

/// Paused: Enabled (it is valid) with no next run; waits for a change.
pub(super) async fn paused(schedule: &Schedule, ctx: &Context) -> Result<Action, Error> {
    ctx.metrics.schedules.idle(&schedule.name_any());
    let status = with(schedule, |s| {
        s.phase = Some(SchedulePhase::Enabled);
        s.validation_errors = None;
        s.next_run = None;
    });
    Ok(if write(schedule, &status, ctx).await? {
        Action::await_change()
    } else {
        Action::requeue(AFTER_CONFLICT)
    })
}

/// Events are best effort.
pub(super) async fn event(
    ctx: &Context,
    schedule: &Schedule,
    kind: EventType,
    reason: &str,
    note: &str,
) {
    publish(ctx, schedule, kind, reason, "Schedule", note).await;
}
