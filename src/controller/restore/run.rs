//! Running a claimed restore: progress in status while it runs, then the final status,
//! Velero's metrics and an event. A restore deleted while it runs is stopped and ends
//! `Failed`; its finalizer then runs.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;
use tokio::sync::watch;

use super::state::{ACTION, State, Validated};
use super::status::finished;
use crate::api::{Restore, RestorePhase, RestoreStatus};
use crate::controller::claim::{Ended, Run};
use crate::controller::fence::Fenced;
use crate::controller::{Context, Error, now, publish, store_for};
use crate::hooks::restore_exec::{DEFAULT_WAIT, RestoreHookRun};
use crate::restore::{self, Progress, Request, RestoreError};
use crate::storage::{Claim, ObjectStore, Owner, StorageError};

/// Run a claimed restore: the objects, then the final status, metrics and an event.
pub(super) async fn execute(
    state: &State,
    claimed: Restore,
    validated: Validated,
) -> Result<Action, Error> {
    let ctx = &state.ctx;
    ctx.metrics
        .restores
        .attempt_total
        .with_label_values(&[claimed.schedule()])
        .inc();
    let note = format!("restoring backup {}", validated.backup.name_any());
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
    let mut run = Run::new(state.api(), &claimed, &state.term);
    let result = match store_for(ctx, &validated.location).await {
        Err(e) => Err(RestoreError::Location(e)),
        Ok(store) => match restore_objects(state, &claimed, &validated, &store, &mut run).await {
            Ended::Finished(result) => result,
            Ended::Cancelled | Ended::Lost(_) => return Ok(Action::await_change()),
        },
    };
    let status = finished(&previous, &result, &now());
    match run.finish(&status).await? {
        Fenced::Written(_) => {}
        Fenced::Lost(_) | Fenced::NotLeader => return Ok(Action::await_change()),
    }
    record(ctx, &claimed, &status).await;
    Ok(Action::await_change())
}

/// Claim `restores/<name>/` before anything is restored: its owner marker names this Restore,
/// so the finalizer deletes the files only while they are this restore's, and a same-named
/// restore of another cluster sharing the bucket neither overwrites nor deletes them. A name
/// taken there (or a store that does not answer cleanly) fails the restore before it creates
/// anything.
async fn claim_files(store: &ObjectStore, claimed: &Restore) -> Result<(), RestoreError> {
    let name = claimed.name_any();
    let dir = restore::restore_dir(&name);
    let owner = Owner {
        kind: "Restore".into(),
        namespace: claimed.namespace().unwrap_or_default(),
        name: name.clone(),
        uid: claimed.uid().unwrap_or_default(),
    };
    let taken = |why: String| {
        RestoreError::Upload(StorageError::Config(format!(
            "{dir} in the location is taken ({why}): a restore of this name was made there \
             already, perhaps by another cluster sharing the bucket; nothing was restored, \
             choose another name"
        )))
    };
    if store.holds_any(&dir).await.map_err(RestoreError::Upload)? {
        return Err(taken("it holds objects".into()));
    }
    match store
        .claim_dir(&dir, &owner)
        .await
        .map_err(RestoreError::Upload)?
    {
        Claim::Claimed => Ok(()),
        Claim::Taken(why) => Err(taken(why)),
    }
}

/// Create the backup's objects, with progress in status. A restore deleted while it runs is
/// stopped (dropping the work aborts its uploads and removes its spool) rather than create
/// objects nobody waits for; its finalizer then deletes whatever files it wrote.
async fn restore_objects(
    state: &State,
    claimed: &Restore,
    validated: &Validated,
    store: &ObjectStore,
    run: &mut Run<'_, Restore>,
) -> Ended<Result<restore::Outcome, RestoreError>, Restore> {
    let ctx = &state.ctx;
    let name = claimed.name_any();
    let mut rules = validated.rules.clone();
    rules.restore = name.clone();
    rules.restore_uid = claimed.uid().unwrap_or_default();
    let backup_name = validated.backup.name_any();
    let (progress, mut seen) = watch::channel(Progress::default());
    let hooks = RestoreHookRun {
        rules: validated.hooks.clone(),
        client: ctx.settings.hooks_enabled.then(|| ctx.client.clone()),
        default_wait: DEFAULT_WAIT,
    };
    let qualified = format!("{}/{name}", claimed.namespace().unwrap_or_default());
    let fs = restore::fsb::FsRun {
        image: ctx.settings.restore_helper_image.clone(),
        maker: restore::fsb::pvr::Maker {
            namespace: claimed.namespace().unwrap_or_default(),
            restore: name.clone(),
            restore_uid: rules.restore_uid.clone(),
            location: validated.location.name_any(),
            uploader_config: claimed.spec.uploader_config.clone(),
            timeout: ctx.settings.backup.fs.timeout,
        },
    };
    let mut not_done = crate::backup::not_done::restore_not_done(&claimed.spec);
    if ctx.settings.backup.api_group_versions {
        not_done.push(
            "--features=EnableAPIGroupVersions: veloxide restores each resource at the version \
             the backup preferred; it does not choose among the archive's other versions yet"
                .to_owned(),
        );
    }
    // The claim is part of the work, so a restore deleted while its store hangs stops too.
    // Boxed: the restore's future is large, and nested in another it overflowed the worker's
    // stack (observed: the server aborted).
    let restore = Box::pin(restore::run(Request {
        name: &name,
        qualified: &qualified,
        backup: &backup_name,
        plan: &validated.plan,
        rules: &rules,
        policy: validated.policy,
        client: &ctx.client,
        store,
        progress,
        limits: restore::Limits::for_spool(ctx.settings.restore_spool_bytes),
        not_done,
        options: &validated.options,
        terminating_timeout: ctx.settings.terminating_timeout,
        hooks: &hooks,
        allow: ctx.settings.restore_allow,
        fs: &fs,
    }));
    let work = async {
        claim_files(store, claimed).await?;
        restore.await
    };
    let progress = || {
        seen.has_changed().unwrap_or(false).then(|| {
            let p = *seen.borrow_and_update();
            json!({"progress": {"totalItems": p.total, "itemsRestored": p.restored}})
        })
    };
    let stop = || {
        state.being_deleted(claimed).then(|| {
            tracing::info!(restore = %name, "the restore is being deleted; stopping it");
            Err(RestoreError::Deleted)
        })
    };
    run.drive(work, progress, stop).await
}

/// Velero's metrics and the closing event.
async fn record(ctx: &Context, claimed: &Restore, status: &RestoreStatus) {
    let m = &ctx.metrics.restores;
    ctx.metrics
        .count_hooks("restore", status.hook_status.as_ref());
    let phase = status.phase.unwrap_or(RestorePhase::Failed);
    let s = &[claimed.schedule()];
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
    publish(ctx, claimed, kind, phase.as_str(), ACTION, &note).await;
}
