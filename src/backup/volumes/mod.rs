//! A backup's volumes: which claims it takes, and for each a CSI snapshot (the VolumeSnapshot
//! API) when Velero would take one, pod by pod so a pod's hooks bracket its own volumes.
//!
//! ```text
//! for pod in pods the backup takes      pre hooks ─▶ its claims' snapshots ─▶ post hooks
//! then claims no taken pod mounts       snapshots
//! ```
//! Pure decisions sit beside the effects: [`class`] (which VolumeSnapshotClass), [`policy`]
//! (Velero's resource policies), [`decide`] (snapshot, skip, and why); `snapshot.rs` talks to
//! the API server.

pub mod class;
pub mod decide;
pub mod delete;
pub mod metrics;
pub mod pod_step;
pub mod policy;
pub mod record;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::filter::{Plan, excluded_by_label};
use super::sidefiles::{BackupLog, Results};
use crate::api::Backup;
use crate::hooks::{BackupHooks, Tally};
use decide::{Decision, decide};
use record::{Outcome, VolumeRecord};

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
}

impl Taken {
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
    for pod in &pods {
        let backed_up = pod_step::pre_hooks(job, pod, &mut taken, log, results).await;
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        for claim in claims_of(pod).into_iter().filter(|_| job.takes_claims) {
            if done.insert(format!("{namespace}/{claim}")) {
                Box::pin(take_claim(
                    job, &namespace, &claim, &mut taken, log, results,
                ))
                .await;
            }
        }
        if backed_up {
            pod_step::post_hooks(job, pod, &mut taken, log, results).await;
        }
    }
    for claim in &claims {
        let namespace = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        if done.insert(format!("{namespace}/{name}")) {
            Box::pin(take_claim(job, &namespace, &name, &mut taken, log, results)).await;
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

/// One claim's volume: decide, then snapshot it and wait for it, recording what happened.
async fn take_claim(
    job: &Job<'_>,
    namespace: &str,
    name: &str,
    taken: &mut Taken,
    log: &mut BackupLog,
    results: &mut Results,
) {
    let qualified = format!("{namespace}/{name}");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(job.client.clone(), namespace);
    let claim = match claims.get_opt(name).await {
        Ok(Some(c)) => c,
        // A pod may name a claim that does not exist: nothing to take.
        Ok(None) => return,
        Err(e) => {
            let message = format!("claim {qualified}: reading it failed: {e}");
            log.line("error", &message);
            results.errors.add(Some(namespace), message);
            return;
        }
    };
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    let volume = if volume_name.is_empty() {
        None
    } else {
        match Api::<PersistentVolume>::all(job.client.clone())
            .get_opt(&volume_name)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let message =
                    format!("claim {qualified}: reading its volume {volume_name} failed: {e}");
                log.line("error", &message);
                results.errors.add(Some(namespace), message);
                return;
            }
        }
    };
    let facts = facts(&qualified, &claim, volume.as_ref());
    let mut record = VolumeRecord {
        namespace: namespace.to_owned(),
        claim: name.to_owned(),
        volume: volume_name.clone(),
        reclaim_policy: volume
            .as_ref()
            .and_then(|v| v.spec.as_ref()?.persistent_volume_reclaim_policy.clone())
            .unwrap_or_default(),
        volume_labels: volume
            .as_ref()
            .map(|v| v.labels().clone())
            .unwrap_or_default(),
        outcome: Outcome::Skipped(String::new()),
    };
    match decide(job.backup.spec.snapshot_volumes, job.policies, &facts) {
        Decision::Snapshot => {}
        Decision::Skip(why) => {
            log.line("info", &why);
            record.outcome = Outcome::Skipped(why);
            taken.records.push(record);
            return;
        }
        Decision::Warn(why) => {
            log.line("warning", &why);
            results.warnings.add(Some(namespace), why.clone());
            record.outcome = Outcome::Skipped(why);
            taken.records.push(record);
            return;
        }
    }
    let driver = facts.volume_facts.csi_driver.clone().unwrap_or_default();
    let snapshot = snapshot_claim(job, &claim, &driver, taken, log).await;
    let schedule = job.backup.schedule();
    let backup = job.backup.name_any();
    if let Some(m) = job.metrics {
        m.attempt_total
            .with_label_values(&[schedule, &backup])
            .inc();
    }
    match &snapshot.result {
        Ok(ready) => {
            if let Some(m) = job.metrics {
                m.success_total
                    .with_label_values(&[schedule, &backup])
                    .inc();
            }
            log.line(
                "info",
                &format!(
                    "claim {qualified}: snapshot {} ready (handle {}, driver {driver})",
                    ready.snapshot["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default(),
                    ready.handle
                ),
            );
        }
        Err(e) => {
            if let Some(m) = job.metrics {
                m.failure_total
                    .with_label_values(&[schedule, &backup])
                    .inc();
            }
            let message = format!("claim {qualified}: {e}");
            log.line("error", &message);
            results.errors.add(Some(namespace), message);
        }
    }
    record.outcome = Outcome::Snapshot(Box::new(snapshot));
    taken.records.push(record);
}

/// Choose the class, create the VolumeSnapshot and wait for it.
async fn snapshot_claim(
    job: &Job<'_>,
    claim: &PersistentVolumeClaim,
    driver: &str,
    taken: &mut Taken,
    log: &mut BackupLog,
) -> record::Snapshot {
    let namespace = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let now = || {
        jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let started = now();
    let mut out = record::Snapshot {
        name: None,
        driver: driver.to_owned(),
        class: String::new(),
        started: started.clone(),
        ended: started.clone(),
        operation_id: String::new(),
        result: Err(String::new()),
    };
    let classes = match known_classes(job, taken).await {
        Ok(c) => c.clone(),
        Err(e) => {
            out.result = Err(format!("listing VolumeSnapshotClasses failed: {e}"));
            return out;
        }
    };
    let infos: Vec<class::Class> = classes.iter().map(|(c, _)| c.clone()).collect();
    let choice = class::choose(
        driver,
        &format!("{namespace}/{name}"),
        claim.annotations(),
        job.backup.annotations(),
        &infos,
    );
    for note in &choice.notes {
        log.line("warning", note);
    }
    let class = match choice.class {
        Ok(c) => c.name.clone(),
        Err(e) => {
            out.result = Err(e);
            return out;
        }
    };
    out.class = class.clone();
    if let Some((_, object)) = classes.iter().find(|(c, _)| c.name == class) {
        taken.classes.insert(class.clone(), object.clone());
    }
    let backup = job.backup.name_any();
    let created = match snapshot::create(
        &job.client,
        &backup,
        &namespace,
        &name,
        claim.labels(),
        &class,
    )
    .await
    {
        Ok(n) => n,
        Err(e) => {
            out.result = Err(format!("creating its VolumeSnapshot failed: {e}"));
            return out;
        }
    };
    log.line(
        "info",
        &format!(
            "claim {namespace}/{name}: created VolumeSnapshot {namespace}/{created} (class {class})"
        ),
    );
    out.operation_id = format!("{namespace}/{created}/{started}");
    out.name = Some(created.clone());
    let clock = Instant::now();
    let result = snapshot::wait_ready(
        &job.client,
        &backup,
        &namespace,
        &created,
        job.timeout.0,
        &job.timeout.1,
    )
    .await;
    if result.is_ok()
        && let Some(m) = job.metrics
    {
        m.ready_seconds
            .with_label_values(&[job.backup.schedule()])
            .observe(clock.elapsed().as_secs_f64());
    }
    out.ended = now();
    out.result = result.map_err(|f| f.message);
    out
}

/// The cluster's VolumeSnapshotClasses, read once per backup.
async fn known_classes<'t>(
    job: &Job<'_>,
    taken: &'t mut Taken,
) -> Result<&'t Vec<(class::Class, Value)>, kube::Error> {
    if taken.known.is_none() {
        let api: Api<DynamicObject> = Api::all_with(
            job.client.clone(),
            &snapshot::resource("VolumeSnapshotClass"),
        );
        let mut known = Vec::new();
        for item in api.list(&ListParams::default()).await? {
            let mut value = serde_json::to_value(&item).expect("an object serializes");
            if let Some(meta) = value["metadata"].as_object_mut() {
                meta.remove("managedFields");
            }
            let info = class::Class {
                name: item.name_any(),
                driver: value["driver"].as_str().unwrap_or_default().to_owned(),
                labelled: item.labels().contains_key(class::CLASS_LABEL),
                default_annotated: item
                    .annotations()
                    .get(class::DEFAULT_CLASS_ANNOTATION)
                    .is_some_and(|v| v == "true"),
            };
            known.push((info, value));
        }
        taken.known = Some(known);
    }
    Ok(taken.known.as_ref().expect("just set"))
}

/// The facts the decision and the policies read from a claim and its volume.
fn facts(
    qualified: &str,
    claim: &PersistentVolumeClaim,
    volume: Option<&PersistentVolume>,
) -> decide::Claim {
    let spec = volume.and_then(|v| v.spec.as_ref());
    let csi = spec.and_then(|s| s.csi.as_ref());
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    decide::Claim {
        name: qualified.to_owned(),
        phase: phase.clone(),
        volume: claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .unwrap_or_default(),
        volume_facts: policy::Volume {
            capacity: spec
                .and_then(|s| s.capacity.as_ref()?.get("storage"))
                .and_then(|q| policy::quantity(&q.0))
                .unwrap_or(0),
            storage_class: spec
                .and_then(|s| s.storage_class_name.clone())
                .or_else(|| {
                    claim
                        .spec
                        .as_ref()
                        .and_then(|s| s.storage_class_name.clone())
                })
                .unwrap_or_default(),
            csi_driver: csi.map(|c| c.driver.clone()),
            csi_attributes: csi
                .and_then(|c| c.volume_attributes.clone())
                .unwrap_or_default(),
            nfs: spec
                .and_then(|s| s.nfs.as_ref())
                .map(|n| (n.server.clone(), n.path.clone())),
            pvc_labels: claim.labels().clone(),
            pvc_phase: phase,
        },
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
