//! One claimed run, for backups and restores alike: the claim (`New` → `InProgress`, a PUT
//! of the status carrying the resourceVersion the decision was made on, so of two writers only
//! one succeeds), progress in status while the work runs, cancellation when this replica stops
//! leading or the kind asks to stop, and the fenced final status. Each kind supplies only its
//! work, its progress and its statuses.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::api::PostParams;
use kube::core::NamespaceResourceScope;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use kube::runtime::events::EventType;

use super::fence::{Fenced, Swept, write_status};
use super::{Context, is_conflict, publish};

/// How often a running run's progress is written to its status.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// An object that is claimed and run: a Backup or a Restore.
pub trait Claimable:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
{
    /// What logs call it.
    const KIND: &'static str;
    /// Whether it is still in the phase a claim puts it in (`InProgress`): while it is, the
    /// run is this replica's to finish.
    fn in_progress(&self) -> bool;
}

/// Claim `object` as it is now (its status already the claimed one): `None` when it changed
/// since the decision (409; another replica may have it), and then nothing may run.
pub async fn claim<K: Claimable>(api: &Api<K>, object: &K) -> Result<Option<K>, kube::Error> {
    let name = object.name_any();
    let mut object = object.clone();
    object.meta_mut().managed_fields = None;
    match api
        .replace_status(&name, &PostParams::default(), &object)
        .await
    {
        Ok(claimed) => Ok(Some(claimed)),
        Err(e) if is_conflict(&e) => {
            tracing::info!(kind = K::KIND, name = %name, "the object changed before it could be claimed (another replica may have it); looking again");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A start-up sweep's write of `status` (Failed) over `object`, found `InProgress`, fenced on
/// the version listed. `Some(version written)`, or `None` when the run is not to be swept: its
/// runner finished it after all (its status stands), or the write failed, which is reported
/// (log and a `SweepFailed` event) and recorded in `swept.skipped`, so the others are swept all
/// the same. `what_stays` says what a skipped run keeps, for the note.
pub async fn mark_orphaned<K: Claimable>(
    ctx: &Context,
    object: &K,
    status: &impl Serialize,
    swept: &mut Swept,
    what_stays: &str,
) -> Option<String> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let name = object.name_any();
    let mut rv = object.resource_version().unwrap_or_default();
    let leading = CancellationToken::new();
    match write_status(&api, &name, &mut rv, status, K::in_progress, &leading).await {
        Ok(Fenced::Written(_)) => Some(rv),
        Ok(Fenced::Lost(_) | Fenced::NotLeader) => None,
        Err(e) => {
            let noun = K::KIND.to_lowercase();
            let note = format!(
                "the start-up sweep could not mark this InProgress {noun} Failed ({e}); \
                 it was skipped{what_stays} and the other {noun}s were swept"
            );
            tracing::warn!(kind = K::KIND, name = %name, error = %e, "{note}");
            let kind = EventType::Warning;
            publish(ctx, object, kind, "SweepFailed", K::KIND, &note).await;
            swept.skipped.push(name);
            None
        }
    }
}

/// How the work of a run ended.
pub enum Ended<T, K> {
    /// It finished (or the kind stopped it) with this result.
    Finished(T),
    /// This replica stopped leading: the work was dropped, and the next leader's sweep fails
    /// the run, as Velero does after a restart.
    Cancelled,
    /// Another writer ended the run while it worked (the new leader's sweep): the work was
    /// dropped; the object as that writer left it.
    Lost(K),
}

/// A claimed run: every status write is conditional on the version this replica last wrote,
/// and skipped once it no longer leads.
pub struct Run<'a, K> {
    api: Api<K>,
    name: String,
    resource_version: String,
    leading: &'a CancellationToken,
    /// Time spent writing the object's status (a backup's phase breakdown reports it).
    writing: Duration,
}

impl<'a, K: Claimable> Run<'a, K> {
    pub fn new(api: Api<K>, claimed: &K, leading: &'a CancellationToken) -> Self {
        Run {
            api,
            name: claimed.name_any(),
            resource_version: claimed.resource_version().unwrap_or_default(),
            leading,
            writing: Duration::ZERO,
        }
    }

    /// Time spent so far writing the object's status.
    pub fn writing(&self) -> Duration {
        self.writing
    }

    /// Drive `work` to its end. Every second, `stop` may end it with a result (the work is
    /// dropped), and `progress` gives the status fields to write when they changed.
    pub async fn drive<T>(
        &mut self,
        work: impl Future<Output = T>,
        mut progress: impl FnMut() -> Option<serde_json::Value>,
        mut stop: impl FnMut() -> Option<T>,
    ) -> Ended<T, K> {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tokio::pin!(work);
        loop {
            tokio::select! {
                result = &mut work => return Ended::Finished(result),
                _ = self.leading.cancelled() => {
                    tracing::warn!(kind = K::KIND, name = %self.name, "stopping a running run: this replica no longer leads");
                    return Ended::Cancelled;
                }
                _ = tick.tick() => {
                    if let Some(result) = stop() {
                        return Ended::Finished(result);
                    }
                    let Some(fields) = progress() else { continue };
                    // The work goes on while its progress is written. A write is never dropped
                    // half-way (the resourceVersion it brings back fences the next one), so
                    // work that ends meanwhile waits for it.
                    let mut finished = None;
                    let written = {
                        let mut write = Box::pin(self.write(&fields));
                        loop {
                            tokio::select! {
                                written = &mut write => break written,
                                result = &mut work, if finished.is_none() => finished = Some(result),
                            }
                        }
                    };
                    match written {
                        Ok(Fenced::Written(_) | Fenced::NotLeader) => {}
                        Ok(Fenced::Lost(now)) => {
                            tracing::warn!(kind = K::KIND, name = %self.name, "another writer ended this run while it worked; stopping it");
                            return Ended::Lost(now);
                        }
                        Err(e) => tracing::debug!(error = %e, "could not write progress"),
                    }
                    if let Some(result) = finished {
                        return Ended::Finished(result);
                    }
                }
            }
        }
    }

    /// Write the final status, only over this replica's own claim: a replica that lost the
    /// lease must not turn the new leader's `Failed` into `Completed`.
    pub async fn finish(&mut self, status: &impl Serialize) -> Result<Fenced<K>, kube::Error> {
        let written = self.write(status).await?;
        match &written {
            Fenced::Written(_) => {}
            Fenced::Lost(_) => {
                tracing::warn!(kind = K::KIND, name = %self.name, "another writer ended this run first; its status stands");
            }
            Fenced::NotLeader => {
                tracing::warn!(kind = K::KIND, name = %self.name, "this replica no longer leads; the final status is left to the next leader");
            }
        }
        Ok(written)
    }

    /// Whether the run is still this replica's, by a fenced write of nothing (refused once
    /// anyone else wrote the object): checked before a step that must not happen for a run
    /// taken over (a backup's velero-backup.json).
    pub async fn confirm(&mut self) -> Result<Fenced<K>, kube::Error> {
        self.write(&serde_json::json!({})).await
    }

    async fn write(&mut self, status: &impl Serialize) -> Result<Fenced<K>, kube::Error> {
        let started = std::time::Instant::now();
        let written = write_status(
            &self.api,
            &self.name,
            &mut self.resource_version,
            status,
            K::in_progress,
            self.leading,
        )
        .await;
        self.writing += started.elapsed();
        written
    }
}

impl Claimable for crate::api::Backup {
    const KIND: &'static str = "Backup";
    fn in_progress(&self) -> bool {
        self.phase() == crate::api::BackupPhase::InProgress
    }
}

impl Claimable for crate::api::Restore {
    const KIND: &'static str = "Restore";
    fn in_progress(&self) -> bool {
        self.phase() == crate::api::RestorePhase::InProgress
    }
}

impl Claimable for crate::api::PodVolumeRestore {
    const KIND: &'static str = "PodVolumeRestore";
    fn in_progress(&self) -> bool {
        self.status.as_ref().and_then(|s| s.phase) == Some(crate::api::PodVolumePhase::InProgress)
    }
}

impl Claimable for crate::api::PodVolumeBackup {
    const KIND: &'static str = "PodVolumeBackup";
    fn in_progress(&self) -> bool {
        self.status.as_ref().and_then(|s| s.phase) == Some(crate::api::PodVolumePhase::InProgress)
    }
}
