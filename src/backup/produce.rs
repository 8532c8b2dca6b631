//! The archive's producer: every chosen resource listed page by page, filtered, and streamed
//! as tar.gz into the channel the upload reads.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::io;

use bytes::Bytes;

use tokio::sync::mpsc;

use super::archive::{ArchiveWriter, ItemRef};
use super::error::BackupError;
use super::filter::ResourceDesc;
use super::not_done::{Seen, not_done};
use super::request::Request;
use super::sidefiles::{BackupLog, ResourceList, Results};
use super::volumes::Taken;

mod additional_items;
mod archiving;
mod versions;
use additional_items::archive_additional;
use archiving::{Archiving, CHUNK, Extra, archive_extras, full_name, offer, send};

/// What the archive is made of: the resources the plan chose, every resource discovery
/// lists (additional items may be of any), the CRDs' resource when their CRDs go in, and
/// what the volumes step took.
pub(super) struct Sources<'a> {
    pub resources: &'a [&'a ResourceDesc],
    pub all: &'a [ResourceDesc],
    pub crds: Option<&'a ResourceDesc>,
    pub taken: &'a Taken,
}

/// List every chosen resource page by page, filter, and stream the archive into `tx`.
pub(super) async fn produce(
    request: &Request<'_>,
    sources: Sources<'_>,
    tx: mpsc::Sender<io::Result<Bytes>>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(u64, ResourceList), BackupError> {
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
) -> Result<(u64, ResourceList), BackupError> {
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
    };
    for resource in resources {
        archive_resource(request, resource, &mut out, log, results).await?;
        archive_extras(&resource.group_resource(), &mut out)?;
    }
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
    send(tx, rest).await?;
    Ok((out.items, out.list))
}

/// Every item of one resource the plan takes, page by page in each namespace it reads.
async fn archive_resource(
    request: &Request<'_>,
    resource: &ResourceDesc,
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    let plan = request.plan;
    let selector = plan.list_selector();
    let group_resource = resource.group_resource();
    log.line("info", &format!("Backing up resource {group_resource:?}"));
    let scopes = if resource.namespaced {
        plan.namespace_scopes()
    } else {
        vec![None]
    };
    let (scopes, skipped) = request.source.scopes_for(resource, scopes);
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
    for scope in scopes {
        let mut token: Option<String> = None;
        loop {
            let page = match request
                .source
                .list_page(
                    resource,
                    scope.as_deref(),
                    selector.as_deref(),
                    token.as_deref(),
                )
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    list_failed(&group_resource, scope.as_deref(), e, log, results);
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
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
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
