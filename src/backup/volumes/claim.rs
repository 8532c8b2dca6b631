//! One claim's step: read the claim and its volume, decide, choose the class, snapshot and
//! wait, and record what happened (errors and warnings in the results, metrics).

use std::time::Instant;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::decide::{self, Decision, decide};
use super::record::{self, Outcome, VolumeRecord};
use super::{Job, Taken, class, policy, snapshot};
use crate::backup::sidefiles::{BackupLog, Results};

/// One claim's volume: decide, then snapshot it and wait for it, recording what happened.
pub(super) async fn take_claim(
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
pub(super) fn facts(
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
