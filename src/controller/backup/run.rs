//! Running a claimed backup: the store, progress in status while it runs, `velero-backup.json`
//! last, then the final status, metrics and an event.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tokio::sync::watch;

use super::cleanup::{clean, mark};
use super::state::{ACTION, State, progress_status, status_patch};
use super::status::finished;
use super::validate::Ready;
use crate::api::{Backup, BackupPhase, BackupStatus};
use crate::backup::{self, BackupError, Cleaner, Progress, Request, Source};
use crate::controller::claim::{Ended, Run};
use crate::controller::fence::Fenced;
use crate::controller::{Error, now, publish, store_for};
use crate::hooks::BackupHooks;
use crate::storage::{MIN_PART_SIZE, MultipartOptions, ObjectStore};

/// How a backup's archive is uploaded: S3's smallest parts, two in flight. With one, the
/// uploader read nothing while a part was sent, so the archive's producer stopped once its
/// 2 MiB channel filled, for as long as each 5 MiB part took to send (it counts as upload in
/// the phase breakdown); with two, the next part fills while the last one is sent. Memory stays near three parts (15 MiB)
/// however large the cluster; 10,000 parts of 5 MiB still allow a 48 GiB archive.
const BACKUP_UPLOAD: MultipartOptions = MultipartOptions {
    part_size: MIN_PART_SIZE,
    max_in_flight: 2,
};

/// Run a claimed backup: the archive, `velero-backup.json` last, then the final status,
/// metrics and an event.
pub(super) async fn execute(state: &State, claimed: Backup, ready: Ready) -> Result<Action, Error> {
    let location = &ready.location;
    let ctx = &state.ctx;
    let name = claimed.name_any();
    ctx.metrics
        .backups
        .attempt_total
        .with_label_values(&[claimed.schedule()])
        .inc();
    let note = format!("backing up to location {}", location.name_any());
    publish(
        ctx,
        &claimed,
        EventType::Normal,
        "BackupStarted",
        ACTION,
        &note,
    )
    .await;
    let previous = claimed.status.clone().unwrap_or_default();
    let mut run = Run::new(state.api(), &claimed, &state.term);

    let (mut result, store) = match store_for(ctx, location).await {
        Err(e) => (Err(BackupError::Location(e)), None),
        Ok(store) => {
            let store = store.with_multipart(BACKUP_UPLOAD);
            let hooks = BackupHooks {
                rules: ready.hooks.clone(),
                client: ctx.settings.hooks_enabled.then(|| ctx.client.clone()),
            };
            match archive(state, &claimed, &ready, &hooks, &store, &mut run).await {
                Ended::Finished(result) => (result, Some(store)),
                Ended::Cancelled => return Ok(Action::await_change()),
                Ended::Lost(now) => {
                    tracing::warn!(backup = %name, phase = ?now.phase(), "another writer ended this backup while it ran; removing its files");
                    // What it wrote since the new leader's sweep cleaned up (a small archive
                    // is one PUT, already stored) is this run's own; the status says it is no
                    // backup.
                    remove_own_files(&store, &claimed).await;
                    // A request whose body had already left when the run was stopped may
                    // still land (a proxy or load balancer forwarding what it buffered): look
                    // again once the stall timeout, the longest this store's transfers are
                    // left to run, has passed.
                    tokio::time::sleep(store.stall_timeout()).await;
                    remove_own_files(&store, &claimed).await;
                    return Ok(Action::await_change());
                }
            }
        }
    };
    // The last moment to find out this run is no longer the backup's runner before
    // velero-backup.json says it is complete: a fenced write of nothing. (The sweep writes
    // Failed before it deletes, so a run that passes here either finishes or finds its final
    // write refused and deletes velero-backup.json first.)
    if let (Ok(_), Some(store)) = (&result, &store) {
        match run.confirm().await? {
            Fenced::Written(_) => {}
            Fenced::Lost(_) => {
                remove_own_files(store, &claimed).await;
                return Ok(Action::await_change());
            }
            Fenced::NotLeader => return Ok(Action::await_change()),
        }
    }

    if let Ok(outcome) = &mut result {
        outcome.timings.status_writes = run.writing();
    }
    let status = final_status(&claimed, &previous, &result, store.as_ref()).await;
    // Through status_patch: a record of files the status no longer has (a name taken in the
    // store) is removed explicitly, or the merge patch would keep the claim's writtenTo.
    match run.finish(&status_patch(&status)["status"]).await? {
        Fenced::Written(_) => {}
        Fenced::Lost(_) => {
            // The files this run wrote are its own to remove, velero-backup.json first: the
            // status says they are not a backup. (The new leader's sweep may have removed the
            // others already, and the marker with them; the stored metadata still names this
            // run, so it is found and deleted.)
            if let (Some(store), Ok(_)) = (&store, &result) {
                remove_own_files(store, &claimed).await;
            }
            return Ok(Action::await_change());
        }
        // The next leader's sweep fails the backup and removes its files, as after a crash.
        Fenced::NotLeader => return Ok(Action::await_change()),
    }
    record(state, &claimed, &status, result.as_ref().ok()).await;
    Ok(Action::requeue(Duration::from_secs(1)))
}

/// Write the archive, with progress in status; dropping it (lease lost, run lost) aborts its
/// multipart upload.
async fn archive(
    state: &State,
    claimed: &Backup,
    ready: &Ready,
    hooks: &BackupHooks,
    store: &ObjectStore,
    run: &mut Run<'_, Backup>,
) -> Ended<Result<backup::Outcome, BackupError>, Backup> {
    let ctx = &state.ctx;
    let name = claimed.name_any();
    let source = Source::new(ctx.reader.clone(), ctx.settings.backup.page_size)
        .secrets_only_in(ctx.settings.backup.secrets_namespace.clone());
    let (progress, mut seen) = watch::channel(Progress::default());
    let qualified = format!("{}/{name}", claimed.namespace().unwrap_or_default());
    let started = claimed
        .status
        .as_ref()
        .and_then(|s| s.start_timestamp.as_ref())
        .map_or(0, |t| t.0.as_second().max(0) as u64);
    let uid = claimed.uid().unwrap_or_default();
    // Boxed, as the restore's: the backup's future (volumes, hooks, archive) is large, and
    // moved around on a worker's stack it overflowed it (observed: the server aborted).
    let work = Box::pin(backup::run(Request {
        name: &name,
        qualified: &qualified,
        uid: &uid,
        backup: claimed,
        client: ctx.client.clone(),
        plan: &ready.plan,
        policies: ready.policies.as_ref(),
        csi_timeout: ready.csi_timeout.clone(),
        csi_metrics: Some(&ctx.metrics.csi),
        location: &ready.location,
        fs: ctx.settings.backup.fs,
        hooks,
        source: &source,
        store,
        started,
        progress,
        api_group_versions: ctx.settings.backup.api_group_versions,
    }));
    let progress = || {
        seen.has_changed()
            .unwrap_or(false)
            .then(|| progress_status(*seen.borrow_and_update())["status"].clone())
    };
    run.drive(work, progress, || None).await
}

/// The status a finished run ends with: `velero-backup.json` written last for a backup that
/// succeeded, and nothing of a failed one left in the store.
async fn final_status(
    claimed: &Backup,
    previous: &BackupStatus,
    result: &Result<backup::Outcome, BackupError>,
    store: Option<&ObjectStore>,
) -> BackupStatus {
    let name = claimed.name_any();
    let now = now();
    let mut status = finished(previous, result, &now);
    let mut metadata_failed = false;
    if let (Ok(outcome), Some(store)) = (result, store) {
        let mut document = claimed.clone();
        document.status = Some(status.clone());
        document.metadata.managed_fields = None;
        let value = serde_json::to_value(&document).expect("a Backup serializes");
        match backup::write_metadata(store, &name, &value).await {
            Ok(_) => {
                if let Some(e) = status.encryption.as_mut() {
                    e.objects = Some(outcome.objects as i64 + 1);
                }
            }
            Err(e) => {
                // The cleanup below removes what this run wrote.
                status = finished(previous, &Err(e), &now);
                metadata_failed = true;
            }
        }
    }
    // Nothing of a failed backup stays in the store; if the store cannot be reached now, the
    // condition says so and the controller retries. A run that never claimed the name (taken,
    // or the store did not answer the check) wrote nothing and owns nothing there: no cleanup.
    // Any other cleanup deletes only while the folder's marker names this run.
    let wrote = match result {
        Err(BackupError::AlreadyExists | BackupError::Unchecked(_)) => false,
        Err(_) => true,
        Ok(_) => metadata_failed,
    };
    if let (Some(store), true) = (store, wrote) {
        let uid = claimed.uid().unwrap_or_default();
        let outcome = clean(store, &name, &uid, Cleaner::Runner).await;
        mark(&mut status, &outcome, &now);
    }
    status
}

/// Remove what this run wrote (velero-backup.json first), once its status says it is no
/// backup; only while the store shows the files are this run's.
async fn remove_own_files(store: &ObjectStore, claimed: &Backup) {
    let name = claimed.name_any();
    let uid = claimed.uid().unwrap_or_default();
    match backup::remove_own(store, &name, &uid, Cleaner::Runner).await {
        Ok(removed) => tracing::info!(backup = %name, ?removed, "removed this run's files"),
        Err(e) => tracing::warn!(backup = %name, error = %e, "could not remove this run's files"),
    }
}

/// Metrics and the closing event, as Velero records them.
async fn record(
    state: &State,
    backup: &Backup,
    status: &BackupStatus,
    outcome: Option<&backup::Outcome>,
) {
    let m = &state.ctx.metrics.backups;
    state
        .ctx
        .metrics
        .count_hooks("backup", status.hook_status.as_ref());
    let s = &[backup.schedule()];
    let phase = status.phase.unwrap_or(BackupPhase::Failed);
    match phase {
        BackupPhase::Completed => {
            m.success_total.with_label_values(s).inc();
            m.last_status.with_label_values(s).set(1);
            m.last_successful_timestamp
                .with_label_values(s)
                .set(jiff::Timestamp::now().as_second());
        }
        BackupPhase::PartiallyFailed => {
            m.partial_failure_total.with_label_values(s).inc();
            m.last_status.with_label_values(s).set(0);
        }
        BackupPhase::FailedValidation => {
            m.validation_failure_total.with_label_values(s).inc();
        }
        _ => {
            m.failure_total.with_label_values(s).inc();
            m.last_status.with_label_values(s).set(0);
        }
    }
    if let (Some(start), Some(end)) = (&status.start_timestamp, &status.completion_timestamp) {
        let seconds = end.0.as_second() - start.0.as_second();
        m.duration_seconds
            .with_label_values(s)
            .observe(seconds.max(0) as f64);
    }
    if let Some(o) = outcome {
        m.tarball_size_bytes
            .with_label_values(s)
            .set(o.tarball_size as i64);
        m.items_total.with_label_values(s).set(o.items as i64);
        m.items_errors.with_label_values(s).set(o.errors as i64);
        if o.warnings > 0 {
            m.warning_total.with_label_values(s).inc();
        }
    }
    let (kind, note) = match phase {
        BackupPhase::Completed => (EventType::Normal, "the backup completed".to_owned()),
        BackupPhase::PartiallyFailed => (
            EventType::Warning,
            format!(
                "the backup partially failed: {} errors",
                status.errors.unwrap_or(0)
            ),
        ),
        BackupPhase::FailedValidation => (
            EventType::Warning,
            status
                .validation_errors
                .clone()
                .unwrap_or_default()
                .join("; "),
        ),
        _ => (
            EventType::Warning,
            status.failure_reason.clone().unwrap_or_default(),
        ),
    };
    publish(&state.ctx, backup, kind, phase.as_str(), ACTION, &note).await;
}
