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

pub mod pod_step;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};

use super::filter::{Plan, excluded_by_label};
use super::sidefiles::{BackupLog, Results};
use crate::api::Backup;
use crate::hooks::{BackupHooks, Tally};

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
}

/// What the volumes step did, for the archive, the side files and the status.
#[derive(Debug, Default)]
pub struct Taken {
    /// Claims handled, `namespace/name`, in the order they were taken.
    pub claims: Vec<String>,
    /// Pods whose pre hook failed with `onError: Fail`, `namespace/name`: left out of the
    /// archive.
    pub left_out: BTreeSet<String>,
    /// The hooks run.
    pub hooks: Tally,
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
                take_claim(job, &namespace, &claim, &mut taken, log, results).await;
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
            take_claim(job, &namespace, &name, &mut taken, log, results).await;
        }
    }
    taken
}

/// One claim's volume (the snapshot, once built: see the commits after the seam).
async fn take_claim(
    _job: &Job<'_>,
    namespace: &str,
    name: &str,
    taken: &mut Taken,
    _log: &mut BackupLog,
    _results: &mut Results,
) {
    taken.claims.push(format!("{namespace}/{name}"));
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
