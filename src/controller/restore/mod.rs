//! The Restore controller: hold the restore with Velero's finalizer, validate (a source backup
//! that finished, a location, filters and policy veloxide can honour), claim exactly once, run,
//! write the final status; delete its files when it is deleted (`restore_delete.rs`).
//!
//! Exactly once, as for backups: the claim (`New` → `InProgress`) is a PUT of the status with
//! the resourceVersion the decision was made on; a new leader first fails every restore left
//! `InProgress` ([`super::restore_sweep`]), as Velero does at start-up.

mod delete;
mod options;
mod run;
pub mod state;
mod status;
pub mod sweep;
#[cfg(test)]
mod tests;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::claim::claim;
use super::{Context, Error, now, patch_status, publish, run_until};
use crate::api::Restore;
pub use state::FINALIZER;
use state::{ACTION, CONTROLLER, State};
use status::{failed_validation, started};

pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = super::list::controller(api, watcher::Config::default());
    let state = Arc::new(State {
        ctx,
        term: term.clone(),
        objects: controller.store(),
    });
    run_until(controller, term, reconcile, error_policy, state, CONTROLLER).await;
}

fn error_policy(_restore: Arc<Restore>, error: &Error, state: Arc<State>) -> Action {
    state
        .ctx
        .failed_reconcile(CONTROLLER, error, Duration::from_secs(1))
}

async fn reconcile(restore: Arc<Restore>, state: Arc<State>) -> Result<Action, Error> {
    let metrics = &state.ctx.metrics;
    let _timer = metrics.reconcile_timer(CONTROLLER);
    metrics.restores.total.set(state.objects.len() as i64);
    if restore.metadata.deletion_timestamp.is_some() {
        return delete::finalize(&restore, &state).await;
    }
    // Every restore, whatever its phase (Velero does the same, so restores made before the
    // finalizer existed get it too); the watch brings the result back here.
    if !restore.finalizers().iter().any(|f| f == FINALIZER) {
        let mut finalizers = restore.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        let patch = json!({"metadata": {
            "resourceVersion": restore.resource_version(),
            "finalizers": finalizers,
        }});
        state
            .api()
            .patch(
                &restore.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        return Ok(Action::await_change());
    }
    if restore.phase() != crate::api::RestorePhase::New {
        return Ok(Action::await_change());
    }
    start(&restore, &state).await
}

/// A new restore: validate, claim, run.
async fn start(restore: &Restore, state: &State) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let name = restore.name_any();
    let validated = match validate::validate(ctx, &restore.spec).await? {
        Ok(v) => v,
        Err(errors) => return failed_validation_of(restore, state, errors).await,
    };
    let mut claimed = restore.clone();
    claimed.status = Some(started(restore.status.as_ref(), &now()));
    // Velero records the backup a schedule resolved to.
    claimed.spec.backup_name = validated.backup.name_any();
    let Some(claimed) = claim(&state.api(), &claimed).await? else {
        return Ok(Action::requeue(Duration::from_millis(500)));
    };
    if restore.spec.backup_name.is_empty() {
        let patch = json!({"spec": {"backupName": validated.backup.name_any()}});
        state
            .api()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    run::execute(state, claimed, validated).await
}

/// Record the spec's problems: the restore ends `FailedValidation`.
async fn failed_validation_of(
    restore: &Restore,
    state: &State,
    errors: Vec<String>,
) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let status = failed_validation(restore.status.as_ref(), errors, &now());
    patch_status(&state.api(), &restore.name_any(), &status).await?;
    ctx.metrics
        .restores
        .validation_failed_total
        .with_label_values(&[restore.schedule()])
        .inc();
    let note = status
        .validation_errors
        .clone()
        .unwrap_or_default()
        .join("; ");
    let kind = EventType::Warning;
    publish(ctx, restore, kind, "FailedValidation", ACTION, &note).await;
    Ok(Action::await_change())
}
