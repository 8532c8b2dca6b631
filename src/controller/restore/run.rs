//! Running a claimed restore: progress in status while it runs, then the final status,
//! Velero's metrics and an event. A restore deleted while it runs is stopped and ends
//! `Failed`; its finalizer then runs.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;
use tokio::sync::watch;

use super::state::{ACTION, State, Validated};
use super::status::finished;
use crate::api::{Restore, RestorePhase};
use crate::controller::fence::{Fenced, write_status};
use crate::controller::{Error, now, publish, store_for};
use crate::restore::{self, Progress, Request, RestoreError};

const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn execute(
    state: &State,
    claimed: Restore,
    validated: Validated,
) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let name = claimed.name_any();
    let schedule = claimed.schedule().to_owned();
    let api = state.api();
    ctx.metrics
        .restores
        .attempt_total
        .with_label_values(&[&schedule])
        .inc();
    let backup_name = validated.backup.name_any();
    let note = format!("restoring backup {backup_name}");
    publish(
        ctx,
        &claimed,
        EventType::Normal,
        "RestoreStarted",
        ACTION,
        &note,
    )
    .await;
    let previous = claimed.status.clone().unwrap_or_default();
    // Every status write below is conditional on the version this replica last wrote.
    let mut rv = claimed.resource_version().unwrap_or_default();
    let ours = |r: &Restore| r.phase() == RestorePhase::InProgress;
    let mut rules = validated.rules;
    rules.restore = name.clone();

    let result = match store_for(ctx, &validated.location).await {
        Err(e) => Err(RestoreError::Location(e.to_string())),
        Ok(store) => {
            let (progress, mut seen) = watch::channel(Progress::default());
            let qualified = format!("{}/{name}", claimed.namespace().unwrap_or_default());
            let run = restore::run(Request {
                name: &name,
                qualified: &qualified,
                backup: &backup_name,
                plan: &validated.plan,
                rules: &rules,
                policy: validated.policy,
                client: &ctx.client,
                store: &store,
                progress,
                limits: restore::Limits::for_spool(ctx.settings.restore_spool_bytes),
            });
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            tokio::pin!(run);
            loop {
                tokio::select! {
                    result = &mut run => break result,
                    _ = state.term.cancelled() => {
                        // The next leader's sweep marks it Failed, as Velero does after a restart.
                        tracing::warn!(restore = %name, "stopping a running restore: this replica no longer leads");
                        return Ok(Action::await_change());
                    }
                    _ = tick.tick() => {
                        // Deleted while it runs: stop (dropping the run aborts its uploads and
                        // removes its spool) rather than create objects nobody waits for; the
                        // finalizer then deletes whatever files it wrote.
                        if state.being_deleted(&claimed) {
                            tracing::info!(restore = %name, "the restore is being deleted; stopping it");
                            break Err(RestoreError::Deleted);
                        }
                        if seen.has_changed().unwrap_or(false) {
                            let p = *seen.borrow_and_update();
                            let progress = json!({"progress": {"totalItems": p.total, "itemsRestored": p.restored}});
                            match write_status(&api, &name, &mut rv, &progress, ours, &state.term).await {
                                Ok(Fenced::Written(_) | Fenced::NotLeader) => {}
                                Ok(Fenced::Lost(now)) => {
                                    // Another writer ended it (the new leader's sweep): stop.
                                    tracing::warn!(restore = %name, phase = ?now.phase(), "another writer ended this restore while it ran; stopping it");
                                    return Ok(Action::await_change());
                                }
                                Err(e) => tracing::debug!(error = %e, "could not write progress"),
                            }
                        }
                    }
                }
            }
        }
    };
    let status = finished(&previous, &result, &now());
    // Only over this replica's own claim: a replica that lost the lease must not turn the new
    // leader's Failed into Completed.
    match write_status(&api, &name, &mut rv, &status, ours, &state.term).await? {
        Fenced::Written(_) => {}
        Fenced::Lost(now) => {
            tracing::warn!(restore = %name, phase = ?now.phase(), "another writer ended this restore first; its status stands");
            return Ok(Action::await_change());
        }
        Fenced::NotLeader => {
            tracing::warn!(restore = %name, "this replica no longer leads; the final status is left to the next leader");
            return Ok(Action::await_change());
        }
    }
    let m = &ctx.metrics.restores;
    let phase = status.phase.unwrap_or(RestorePhase::Failed);
    let s = &[schedule.as_str()];
    let (kind, note) = match phase {
        RestorePhase::Completed => {
            m.success_total.with_label_values(s).inc();
            (EventType::Normal, "the restore completed".to_owned())
        }
        RestorePhase::PartiallyFailed => {
            m.partial_failure_total.with_label_values(s).inc();
            (
                EventType::Warning,
                format!(
                    "the restore partially failed: {} errors",
                    status.errors.unwrap_or(0)
                ),
            )
        }
        _ => {
            m.failed_total.with_label_values(s).inc();
            (
                EventType::Warning,
                status.failure_reason.clone().unwrap_or_default(),
            )
        }
    };
    publish(ctx, &claimed, kind, phase.as_str(), ACTION, &note).await;
    Ok(Action::await_change())
}
