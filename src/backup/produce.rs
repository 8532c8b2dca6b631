//! The archive's producer: every chosen resource listed page by page, filtered, and streamed
//! as tar.gz into the channel the upload reads.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::io;
use std::time::Duration;

use bytes::Bytes;

use tokio::sync::mpsc;

use super::archive::{ArchiveWriter, ItemRef};
use super::error::BackupError;
use super::filter::ResourceDesc;
use super::not_done::{Seen, not_done};
use super::request::Request;
use super::scopes;
use super::sidefiles::{BackupLog, ResourceList, Results};
use super::timings::timed;
use super::volumes::Taken;

mod additional_items;
mod archiving;
mod prefetch;
mod versions;
use additional_items::archive_additional;
use archiving::{Archiving, CHUNK, Extra, archive_extras, full_name, offer, send};
use prefetch::{Job, Lists};

/// What the archive is made of: the resources the plan chose, every resource discovery
/// lists (additional items may be of any), the CRDs' resource when their CRDs go in, and
/// what the volumes step took.
pub(super) struct Sources<'a> {
    pub resources: &'a [&'a ResourceDesc],
    pub all: &'a [ResourceDesc],
    pub crds: Option<&'a ResourceDesc>,
    pub taken: &'a Taken,
}

/// What the producer made: the items archived, the resource list, and how long it waited for
/// the upload to take the archive.
pub(super) struct Produced {
    pub items: u64,
    pub list: ResourceList,
    pub sending: Duration,
    /// How long it waited for list pages fetched ahead (other reads are the source's to count).
    pub listing: Duration,
}

/// List every chosen resource page by page, filter, and stream the archive into `tx`.
pub(super) async fn produce(
    request: &Request<'_>,
    sources: Sources<'_>,
    tx: mpsc::Sender<io::Result<Bytes>>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<Produced, BackupError> {
    let outcome = archive_into(request, sources, &tx, log, results).await;
    if let Err(e) = &outcome {
        // Tell the upload the body is broken, so it aborts instead of completing a
        // truncated archive.
        let _ = tx
            .send(Err(io::Error::other(format!(
                "the archive is incomplete: {e}"
            ))))
            .await;
    }
    outcome
}

/// The CustomResourceDefinition resource's group-resource.
pub(super) const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";

/// `resources` listed into the archive; then the additional items those items bring
/// (`backup::additional`); then, when `crds` is given, the CRD of each resource that had an
/// item in the backup (Velero's rule: see `Plan::adds_crds_of_items`).
async fn archive_into(
    request: &Request<'_>,
    sources: Sources<'_>,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<Produced, BackupError> {
    let Sources {
        resources,
        all,
        crds,
        taken,
    } = sources;
    let mut extras: BTreeMap<String, Vec<Extra<'_>>> = BTreeMap::new();
    for (group_resource, kind, namespace, name, object) in taken.archive_items() {
        extras.entry(group_resource).or_default().push(Extra {
            kind,
            namespace,
            name,
            object,
        });
    }
    let mut out = Archiving {
        extras,
        volumes: taken,
        archived: BTreeSet::new(),
        archive: ArchiveWriter::new(Vec::with_capacity(2 * CHUNK), request.started)?,
        list: ResourceList::new()?,
        items: 0,
        total: 0,
        with_items: BTreeSet::new(),
        seen: Seen::default(),
        tx,
        all,
        taken: HashSet::new(),
        queue: VecDeque::new(),
        bindings: None,
        sending: Duration::ZERO,
    };
    // Every list the archive makes, known up front so they can be fetched ahead of it.
    let named = request.plan.namespace_scopes();
    let wide = if named.len() >= 2 && named.iter().all(Option::is_some) {
        let cluster = request.source.namespace_count().await;
        let wide = cluster.is_some_and(|n| scopes::cluster_wide(named.len(), n));
        if wide {
            log.line(
                "info",
                &format!(
                    "Listing each namespaced resource once across the cluster: {} of its {}                      namespaces are in the backup",
                    named.len(),
                    cluster.unwrap_or_default()
                ),
            );
        }
        wide
    } else {
        false
    };
    let mut jobs = Vec::new();
    let mut planned = Vec::with_capacity(resources.len());
    for resource in resources {
        let scopes = if resource.namespaced {
            named.clone()
        } else {
            vec![None]
        };
        let (scopes, skipped) = request.source.scopes_for(resource, scopes);
        let scopes = scopes::widen(scopes, wide);
        planned.push((scopes.len(), skipped));
        jobs.extend(scopes.into_iter().map(|scope| Job {
            resource: (*resource).clone(),
            scope,
        }));
    }
    let mut lists = Lists::new(request.source, request.plan.list_selector(), jobs);
    for (resource, planned) in resources.iter().zip(planned) {
        // Boxed: inline, the resource's future made the backup's too large for a worker's
        // stack in debug builds (observed: the server aborted).
        Box::pin(archive_resource(
            request, resource, planned, &mut lists, &mut out, log, results,
        ))
        .await?;
        archive_extras(&resource.group_resource(), &mut out)?;
    }
    let listing = lists.waited;
    // The volumes' objects of resources the plan does not list (a namespaced backup's
    // cluster-scoped VolumeSnapshotContents and classes), as Velero adds them as additional items.
    for group_resource in out.extras.keys().cloned().collect::<Vec<_>>() {
        archive_extras(&group_resource, &mut out)?;
    }
    archive_additional(request, &mut out, log, results).await?;
    if request.api_group_versions {
        versions::archive_other_versions(request, resources, &mut out, log, results).await?;
    }
    if let Some(crds) = crds {
        archive_crds(request, crds, &mut out, log, results).await?;
    }
    // Hook annotations are honoured when the server runs hooks; only without hooks are they
    // something asked and not done.
    if request.hooks.client.is_some() {
        out.seen.hook_pods.clear();
    }
    // What was asked and not done: said, never dropped.
    for message in not_done(request.plan.asks(), &out.seen) {
        log.line("warning", &message);
        results.warnings.add_general(message);
    }
    let rest = out.archive.finish()?;
    timed(&mut out.sending, send(tx, rest)).await?;
    Ok(Produced {
        items: out.items,
        list: out.list,
        sending: out.sending,
        listing,
    })
}

/// Every item of one resource the plan takes: its `orderedResources` first, then its lists'
/// pages (`planned`: how many lists [`Lists`] holds for it, and why namespaces were left out).
async fn archive_resource(
    request: &Request<'_>,
    resource: &ResourceDesc,
    planned: (usize, Option<String>),
    lists: &mut Lists,
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    let plan = request.plan;
    let group_resource = resource.group_resource();
    log.line("info", &format!("Backing up resource {group_resource:?}"));
    let (count, skipped) = planned;
    if let Some(message) = skipped {
        log.line("warning", &message);
        results.warnings.add_general(message);
    }
    // orderedResources: the named items first, in the order given (Velero's
    // sortResourcesByOrder), then the rest as listed.
    let mut first: HashSet<String> = HashSet::new();
    for full in plan.ordered(resource) {
        let (namespace, name) = match full.split_once('/') {
            Some((ns, name)) if resource.namespaced => (Some(ns), name),
            _ => (None, full.as_str()),
        };
        match request.source.get(resource, namespace, name).await {
            Ok(Some(item)) => {
                first.insert(full.clone());
                out.total += 1;
                offer(request, resource, &item, out, log, results).await?;
            }
            Ok(None) => log.line(
                "warning",
                &format!("orderedResources: cannot find {group_resource} '{full}'"),
            ),
            Err(e) => log.line(
                "warning",
                &format!("orderedResources: cannot read {group_resource} '{full}': {e}"),
            ),
        }
    }
    for _ in 0..count {
        let Some(mut pages) = lists.next_list() else {
            break;
        };
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    list_failed(&group_resource, pages.scope(), e, log, results);
                    break;
                }
            };
            out.total += page.items.len() as u64;
            for item in &page.items {
                if !first.is_empty() && first.contains(&full_name(item)) {
                    out.total -= 1;
                    continue;
                }
                offer(request, resource, item, out, log, results).await?;
            }
            out.report(request);
        }
    }
    Ok(())
}

/// A list that failed: a resource the server's RBAC deliberately leaves out (the chart lists
/// the groups backups read) is skipped with a warning that says how to grant it; any other
/// failure is an error.
fn list_failed(
    group_resource: &str,
    scope: Option<&str>,
    error: kube::Error,
    log: &mut BackupLog,
    results: &mut Results,
) {
    match error {
        kube::Error::Api(e) if e.code == 403 => {
            let message = format!(
                "{group_resource} not backed up: the server's RBAC does not let it \
                 list them ({}); to back them up, grant its group: a custom resource's by \
                 `helm upgrade` (with rbac.backup.crdGroupsFromCluster=true, the default, \
                 the chart reads the groups of the CRDs there then) or the chart's \
                 rbac.backup.customResourceGroups, a built-in one by rbac.backup.apiGroups \
                 or rbac.secretsScope=cluster",
                e.message
            );
            log.line("warning", &message);
            results.warnings.add(scope, message);
        }
        e => {
            let message = format!("listing {group_resource} failed: {e}");
            log.line("error", &message);
            results.errors.add(scope, message);
        }
    }
}

/// The CRD of each resource with an item in the archive (a CRD is named `<plural>.<group>`:
/// none by that name means a built-in or aggregated API, which has nothing to add).
async fn archive_crds(
    request: &Request<'_>,
    crds: &ResourceDesc,
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    let (group_resource, gvk) = (crds.group_resource(), crds.gvk_key());
    let with_items = std::mem::take(&mut out.with_items);
    for name in &with_items {
        let crd = match request.source.get_cluster_scoped(crds, name).await {
            Ok(Some(crd)) => crd,
            Ok(None) => continue,
            Err(e) => {
                let message = format!("the CRD of {name} not backed up: reading it failed: {e}");
                log.line("warning", &message);
                results.warnings.add_general(message);
                continue;
            }
        };
        let json = serde_json::to_vec(&crd).map_err(io::Error::other)?;
        let item_ref = ItemRef {
            group_resource: &group_resource,
            version: &crds.version,
            namespace: None,
            name,
        };
        out.add(&item_ref, &gvk, &json)?;
        out.total += 1;
        log.line(
            "info",
            &format!("Found associated CRD {name} to add to backup"),
        );
    }
    out.report(request);
    Ok(())
}
