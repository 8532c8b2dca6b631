//! The Restore controller: hold the restore with Velero's finalizer, validate (a source backup
//! that finished, a location, filters and policy veloxide can honour), claim exactly once, run,
//! write the final status; delete its files when it is deleted (`restore_delete.rs`).
//!
//! Exactly once, as for backups: the claim (`New` → `InProgress`) is a PUT of the status with
//! the resourceVersion the decision was made on; a new leader first fails every restore left
//! `InProgress` ([`super::restore_sweep`]), as Velero does at start-up.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Context;
use super::restore_status::{failed_validation, started};
use crate::api::backup::SCHEDULE_LABEL;
use crate::api::{
    Backup, BackupPhase, BackupSpec, BackupStorageLocation, Restore, RestoreSpec, RestoreStatus,
};
use crate::backup::Plan;
use crate::restore::ExistingPolicy;
use crate::restore::prepare::Rules;

// Declared here rather than in `controller/mod.rs`: the deletion half of this controller,
// reaching its private `State`.
#[path = "restore_delete.rs"]
mod delete;

pub const CONTROLLER: &str = "restore";
/// Held by every Restore until its files under `restores/<name>/` are deleted. Velero's name
/// (≥ 1.14), so a Restore written by either server is released by either.
pub const FINALIZER: &str = "restores.velero.io/external-resources-finalizer";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 409 => "Conflict",
            Error::Kube(_) => "KubeApi",
        }
    }
}

pub(super) struct State {
    pub ctx: Arc<Context>,
    pub term: CancellationToken,
    objects: Store<Restore>,
}

/// What a valid restore runs with.
pub(super) struct Validated {
    pub backup: Backup,
    pub location: BackupStorageLocation,
    pub plan: Plan,
    pub rules: Rules,
    pub policy: ExistingPolicy,
}

pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = Controller::new(api, watcher::Config::default());
    let state = Arc::new(State {
        ctx,
        term: term.clone(),
        objects: controller.store(),
    });
    controller
        .graceful_shutdown_on(term.cancelled_owned())
        .run(reconcile, error_policy, state)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "restore reconcile did not complete");
            }
        })
        .await;
}

fn error_policy(_restore: Arc<Restore>, error: &Error, state: Arc<State>) -> Action {
    state
        .ctx
        .failed_reconcile(CONTROLLER, error.label(), error, Duration::from_secs(1))
}

async fn reconcile(restore: Arc<Restore>, state: Arc<State>) -> Result<Action, Error> {
    let metrics = &state.ctx.metrics;
    let _timer = metrics.reconcile_timer(CONTROLLER);
    metrics
        .restores
        .total
        .set(state.objects.state().len() as i64);
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
        api(&state.ctx)
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

impl State {
    /// Whether the watch has seen `restore` marked for deletion (while it runs, its reconcile
    /// is busy, so this is how the run learns of it).
    pub(super) fn being_deleted(&self, restore: &Restore) -> bool {
        self.objects
            .get(&ObjectRef::from_obj(restore))
            .is_some_and(|r| r.metadata.deletion_timestamp.is_some())
    }
}

pub(super) fn api(ctx: &Context) -> Api<Restore> {
    Api::namespaced(ctx.client.clone(), &ctx.settings.namespace)
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

async fn start(restore: &Restore, state: &State) -> Result<Action, Error> {
    let ctx = &state.ctx;
    let name = restore.name_any();
    let validated = match validate(ctx, &restore.spec).await? {
        Ok(v) => v,
        Err(errors) => {
            let status = failed_validation(restore.status.as_ref(), errors, &now());
            patch_status(&api(ctx), &name, &status).await?;
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
            event(ctx, restore, EventType::Warning, "FailedValidation", &note).await;
            return Ok(Action::await_change());
        }
    };
    // Claim: PUT the status with the resourceVersion this decision was made on.
    let mut claimed = restore.clone();
    claimed.status = Some(started(restore.status.as_ref(), &now()));
    // Velero records the backup a schedule resolved to.
    claimed.spec.backup_name = validated.backup.name_any();
    claimed.metadata.managed_fields = None;
    let claimed = match api(ctx)
        .replace_status(&name, &PostParams::default(), &claimed)
        .await
    {
        Ok(c) => c,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        Err(e) => return Err(e.into()),
    };
    if restore.spec.backup_name.is_empty() {
        let patch = json!({"spec": {"backupName": validated.backup.name_any()}});
        api(ctx)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    super::restore_run::execute(state, claimed, validated).await
}

/// Check the spec against what veloxide can honour and find the backup and its location.
/// The outer error is the API failing; the inner one is the spec's problems, every one.
async fn validate(
    ctx: &Context,
    spec: &RestoreSpec,
) -> Result<Result<Validated, Vec<String>>, Error> {
    let mut errors = Vec::new();
    let schedule = spec.schedule_name.as_deref().unwrap_or("");
    if spec.backup_name.is_empty() == schedule.is_empty() {
        errors.push(
            "Either a backup or schedule must be specified as a source for the restore, but not both"
                .to_owned(),
        );
    }
    let policy = ExistingPolicy::parse(spec.existing_resource_policy.as_deref())
        .map_err(|e| errors.push(e))
        .ok();
    let set =
        |v: &Option<serde_json::Value>| v.as_ref().is_some_and(|v| !v.is_null() && v != &json!({}));
    if set(&spec.hooks) {
        errors.push("spec.hooks: restore hooks are not run by veloxide; remove them".into());
    }
    if set(&spec.restore_status) {
        errors.push(
            "spec.restoreStatus: restoring status is not supported by veloxide; remove it".into(),
        );
    }
    if set(&spec.resource_modifier) {
        errors.push(
            "spec.resourceModifier: resource modifiers are not supported by veloxide; remove it"
                .into(),
        );
    }
    let filters = BackupSpec {
        included_namespaces: spec.included_namespaces.clone(),
        excluded_namespaces: spec.excluded_namespaces.clone(),
        included_resources: spec.included_resources.clone(),
        excluded_resources: spec.excluded_resources.clone(),
        include_cluster_resources: spec.include_cluster_resources,
        label_selector: spec.label_selector.clone(),
        or_label_selectors: spec.or_label_selectors.clone(),
        ..Default::default()
    };
    let plan = Plan::from_spec(&filters).map_err(|e| errors.extend(e)).ok();

    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let backup = if !spec.backup_name.is_empty() {
        backups.get_opt(&spec.backup_name).await?
    } else if !schedule.is_empty() {
        let list = backups
            .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}={schedule}")))
            .await?;
        list.items
            .into_iter()
            .filter(|b| b.phase() == BackupPhase::Completed)
            .max_by_key(|b| {
                b.status
                    .as_ref()
                    .and_then(|s| s.start_timestamp.as_ref())
                    .map(|t| t.0)
            })
    } else {
        None
    };
    let mut location = None;
    match &backup {
        None if !spec.backup_name.is_empty() => errors.push(format!(
            "backup {:?} does not exist in namespace {}",
            spec.backup_name, ctx.settings.namespace
        )),
        None if !schedule.is_empty() => errors.push(format!(
            "no completed backup found for schedule {schedule:?}"
        )),
        None => {}
        Some(b) if !matches!(b.phase(), BackupPhase::Completed | BackupPhase::PartiallyFailed) => {
            errors.push(format!(
                "backup {:?} is in phase {}; only Completed or PartiallyFailed backups can be restored",
                b.name_any(),
                b.phase().as_str()
            ))
        }
        Some(b) => {
            let name = b.spec.storage_location.clone().unwrap_or_default();
            let locations: Api<BackupStorageLocation> =
                Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
            location = locations.get_opt(&name).await?;
            if location.is_none() {
                errors.push(format!(
                    "backup storage location {name:?} of backup {:?} does not exist",
                    b.name_any()
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let backup = backup.expect("checked above");
    Ok(Ok(Validated {
        rules: Rules {
            namespace_mapping: spec.namespace_mapping.clone().unwrap_or_default(),
            preserve_node_ports: spec.preserve_node_ports == Some(true),
            backup: backup.name_any(),
            restore: String::new(),
        },
        backup,
        location: location.expect("checked above"),
        plan: plan.expect("checked above"),
        policy: policy.expect("checked above"),
    }))
}

pub(super) async fn patch_status(
    api: &Api<Restore>,
    name: &str,
    status: &RestoreStatus,
) -> Result<Restore, kube::Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": status })),
    )
    .await
}

pub(super) async fn event(
    ctx: &Context,
    restore: &Restore,
    kind: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1000).collect()),
        action: "Restore".into(),
        secondary: None,
    };
    super::location::publish(ctx, &event, &restore.object_ref(&())).await;
}
