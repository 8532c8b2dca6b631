//! A backup's volumes: which claims it takes, and for each a CSI snapshot (the VolumeSnapshot
//! API) when Velero would take one, pod by pod so a pod's hooks bracket its own volumes.
//!
//! ```text
//! for pod in pods the backup takes      pre hooks ─▶ its claims' snapshots ─▶ post hooks
//! then claims no taken pod mounts       snapshots
//! ```
//! Pure decisions sit beside the effects: [`class`] (which VolumeSnapshotClass), [`policy`]
//! (Velero's resource policies), [`decide`] (snapshot, skip, and why); `snapshot.rs` talks to
//! the API server. For file-system backup: [`fs_select`] (which pod volumes, Velero's
//! annotations and skips), [`fs_request`] (the PodVolumeBackup for one) and [`fs_step`] (create
//! them for a pod, wait for the node agent to end them).

mod claim;
pub mod class;
pub mod decide;
pub mod delete;
pub mod fs_delete;
mod fs_policy;
pub mod fs_request;
pub mod fs_select;
pub mod fs_step;
pub mod metrics;
pub mod pod_step;
pub mod policy;
pub mod record;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::filter::{Plan, excluded_by_label};
use super::sidefiles::{BackupLog, Results};
use crate::api::{Backup, BackupStorageLocation, PodVolumeBackup};
use crate::hooks::{BackupHooks, Tally};
use record::VolumeRecord;

/// What the volumes step needs to know about the backup it runs for.
pub struct Job<'a> {
    /// The server's client (it creates VolumeSnapshots and reads claims, volumes and classes).
    pub client: kube::Client,
    /// The Backup (its spec, and the annotations that pick a VolumeSnapshotClass per driver).
    pub backup: &'a Backup,
    pub plan: &'a Plan,
    /// The hooks run around each pod (`pod_step`).
    pub hooks: &'a BackupHooks,
    /// Whether the plan takes Pods and PersistentVolumeClaims at all (resource filters).
    pub takes_pods: bool,
    pub takes_claims: bool,
    /// The backup's resource policies (`spec.resourcePolicy`), parsed before it started.
    pub policies: Option<&'a policy::Policies>,
    /// `spec.csiSnapshotTimeout` (default 10m), and as written, for messages.
    pub timeout: (Duration, String),
    pub metrics: Option<&'a metrics::CsiMetrics>,
    /// The location the backup writes to (file-system backups go to its repositories).
    pub location: &'a BackupStorageLocation,
    pub fs: FsSettings,
}

/// The server's file-system backup settings.
#[derive(Clone, Copy, Debug)]
pub struct FsSettings {
    /// `--fs-backup-timeout` (Velero's default 4h): how long a backup waits for its
    /// PodVolumeBackups, from when its volumes step began.
    pub timeout: Duration,
    /// `--default-volumes-to-fs-backup`: what an unset `defaultVolumesToFsBackup` means.
    pub default_volumes: bool,
}

impl Default for FsSettings {
    fn default() -> Self {
        FsSettings {
            timeout: Duration::from_secs(4 * 3600),
            default_volumes: false,
        }
    }
}

/// What the volumes step did, for the archive, the side files and the status.
#[derive(Debug, Default)]
pub struct Taken {
    /// Pods whose pre hook failed with `onError: Fail`, `namespace/name`: left out of the
    /// archive.
    pub left_out: BTreeSet<String>,
    /// The hooks run.
    pub hooks: Tally,
    /// Every claim considered, in the order it was taken.
    pub records: Vec<VolumeRecord>,
    /// The VolumeSnapshotClasses used, by name (the archive and a side file hold them).
    pub classes: BTreeMap<String, Value>,
    /// The classes, read once per backup.
    known: Option<Vec<(class::Class, Value)>>,
    /// The PodVolumeBackups the backup made, as they ended (Velero's
    /// `<backup>-podvolumebackups.json.gz`).
    pub pod_volume_backups: Vec<PodVolumeBackup>,
    /// The claim behind each of them that was a claim's volume, by PodVolumeBackup name.
    pub pod_volume_claims: BTreeMap<String, record::ClaimVolume>,
}

impl Taken {
    /// Velero's volume info for each pod volume taken file by file.
    pub fn pod_volume_infos(&self) -> Vec<Value> {
        use kube::ResourceExt;
        self.pod_volume_backups
            .iter()
            .map(|pvb| record::pod_volume_info(pvb, self.pod_volume_claims.get(&pvb.name_any())))
            .collect()
    }

    /// The snapshot taken of `namespace/claim`, if one became ready.
    pub fn ready_for(&self, namespace: &str, claim: &str) -> Option<&snapshot::Ready> {
        self.records
            .iter()
            .find(|r| r.namespace == namespace && r.claim == claim)
            .and_then(VolumeRecord::ready)
    }

    /// The objects the archive holds besides what the resource lists give: each ready
    /// snapshot's VolumeSnapshot and VolumeSnapshotContent, and the classes used, as
    /// `(group-resource, kind, namespace, name, object)`.
    pub fn archive_items(&self) -> Vec<(String, &'static str, Option<String>, String, &Value)> {
        let mut out = Vec::new();
        for ready in self.records.iter().filter_map(VolumeRecord::ready) {
            let name = |v: &Value| {
                v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            let ns = ready.snapshot["metadata"]["namespace"]
                .as_str()
                .map(str::to_owned);
            out.push((
                format!("volumesnapshots.{}", snapshot::GROUP),
                "VolumeSnapshot",
                ns,
                name(&ready.snapshot),
                &ready.snapshot,
            ));
            out.push((
                format!("volumesnapshotcontents.{}", snapshot::GROUP),
                "VolumeSnapshotContent",
                None,
                name(&ready.content),
                &ready.content,
            ));
        }
        for (name, class) in &self.classes {
            out.push((
                format!("volumesnapshotclasses.{}", snapshot::GROUP),
                "VolumeSnapshotClass",
                None,
                name.clone(),
                class,
            ));
        }
        out
    }

    /// Velero's PVC action's marks on an archived claim with a snapshot: the snapshot's name
    /// (annotation and label), the backup's name, and that its additional items must be kept.
    pub fn mark_claim(&self, backup: &str, claim: &mut DynamicObject) {
        let namespace = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        let Some(ready) = self.ready_for(&namespace, &name) else {
            return;
        };
        let snapshot = ready.snapshot["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let annotations = claim.metadata.annotations.get_or_insert_default();
        annotations.insert(snapshot::SNAPSHOT_NAME.into(), snapshot.clone());
        annotations.insert(snapshot::MUST_INCLUDE_ANNOTATION.into(), "true".into());
        let labels = claim.metadata.labels.get_or_insert_default();
        labels.insert(snapshot::SNAPSHOT_NAME.into(), snapshot);
        labels.insert(
            snapshot::BACKUP_NAME_LABEL.into(),
            crate::api::label::valid_name(backup),
        );
    }
}

/// Take the backup's volumes: every pod the backup takes, in turn (pre hooks, its claims, post
/// hooks), then the claims the backup takes that no such pod mounts.
pub async fn back_up(job: &Job<'_>, log: &mut BackupLog, results: &mut Results) -> Taken {
    let mut taken = Taken::default();
    let pods = if job.takes_pods {
        list::<Pod>(job, "pods", log, results).await
    } else {
        Vec::new()
    };
    let claims = if job.takes_claims {
        list::<PersistentVolumeClaim>(job, "persistentvolumeclaims", log, results).await
    } else {
        Vec::new()
    };
    let mut done = BTreeSet::new();
    let fs_deadline = tokio::time::Instant::now() + job.fs.timeout;
    for pod in &pods {
        let backed_up = pod_step::pre_hooks(job, pod, &mut taken, log, results).await;
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        // A pod left out of the archive (its pre hook failed) gets no file-system backup.
        let fs = if backed_up {
            Box::pin(fs_step::start(job, pod, log, results)).await
        } else {
            fs_step::Started::default()
        };
        // A claim file-system backup takes is not snapshotted too (Velero's PVC action).
        done.extend(fs.claims.iter().cloned());
        for claim in claims_of(pod).into_iter().filter(|_| job.takes_claims) {
            if done.insert(format!("{namespace}/{claim}")) {
                Box::pin(claim::take_claim(
                    job, &namespace, &claim, &mut taken, log, results,
                ))
                .await;
            }
        }
        Box::pin(fs_step::wait(
            job,
            fs,
            fs_deadline,
            &mut taken,
            log,
            results,
        ))
        .await;
        if backed_up {
            pod_step::post_hooks(job, pod, &mut taken, log, results).await;
        }
    }
    for claim in &claims {
        let namespace = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        if done.insert(format!("{namespace}/{name}")) {
            Box::pin(claim::take_claim(
                job, &namespace, &name, &mut taken, log, results,
            ))
            .await;
        }
    }
    taken
}

/// Remove every snapshot this backup took, storage snapshot included, when the backup failed
/// after taking them (Velero's `CleanupVolumeSnapshot`).
pub async fn discard(client: &kube::Client, taken: &Taken) {
    for record in &taken.records {
        if let Some(ready) = record.ready() {
            let name = ready.snapshot["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            let content = ready.content["metadata"]["name"].as_str();
            snapshot::remove_unready(client, &record.namespace, name, content).await;
        }
    }
}

/// The claims a pod mounts, in the order its spec lists them.
pub fn claims_of(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        if let Some(claim) = &volume.persistent_volume_claim
            && !out.contains(&claim.claim_name)
        {
            out.push(claim.claim_name.clone());
        }
    }
    out
}

/// Every object of kind `K` the plan takes (its namespaces, its label selectors, not excluded
/// by label), sorted by namespace and name. A list that fails is an error in the results: the
/// backup goes on without those volumes and ends PartiallyFailed.
async fn list<K>(job: &Job<'_>, what: &str, log: &mut BackupLog, results: &mut Results) -> Vec<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let mut params = ListParams::default();
    if let Some(selector) = job.plan.list_selector() {
        params = params.labels(&selector);
    }
    let mut out: BTreeMap<(String, String), K> = BTreeMap::new();
    for scope in job.plan.namespace_scopes() {
        let api: Api<K> = match &scope {
            Some(ns) => Api::namespaced(job.client.clone(), ns),
            None => Api::all(job.client.clone()),
        };
        match api.list(&params).await {
            Ok(list) => {
                for item in list.items {
                    let meta = item.meta();
                    let namespace = meta.namespace.clone().unwrap_or_default();
                    let labels = meta.labels.clone().unwrap_or_default();
                    if job.plan.wants_namespace(&namespace)
                        && job.plan.wants_labels(&labels)
                        && !excluded_by_label(&labels)
                    {
                        let name = meta.name.clone().unwrap_or_default();
                        out.insert((namespace, name), item);
                    }
                }
            }
            Err(e) => {
                let message = format!("listing {what} for their volumes failed: {e}");
                log.line("error", &message);
                results.errors.add(scope.as_deref(), message);
            }
        }
    }
    out.into_values().collect()
}
