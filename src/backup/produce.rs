//! The archive's producer: every chosen resource listed page by page, filtered, and streamed
//! as tar.gz into the channel the upload reads.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::io;

use bytes::Bytes;
use kube::api::DynamicObject;
use tokio::sync::mpsc;

use super::additional::{self, ItemId};
use super::archive::{ArchiveWriter, ItemRef};
use super::error::BackupError;
use super::filter::{EXCLUDE_LABEL, Plan, ResourceDesc, excluded_by_label};
use super::not_done::{Seen, not_done};
use super::request::Request;
use super::sidefiles::{BackupLog, ResourceList, Results};
use super::volumes::Taken;

mod additional_items;
use additional_items::{archive_additional, cluster_role_bindings};

/// Bytes gathered from the archive before they are handed to the upload.
const CHUNK: usize = 256 * 1024;

/// List every chosen resource page by page, filter, and stream the archive into `tx`.
pub(super) async fn produce(
    request: &Request<'_>,
    resources: &[&ResourceDesc],
    all: &[ResourceDesc],
    crds: Option<&ResourceDesc>,
    taken: &Taken,
    tx: mpsc::Sender<io::Result<Bytes>>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(u64, ResourceList), BackupError> {
    let outcome = archive_into(request, resources, all, crds, taken, &tx, log, results).await;
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
    resources: &[&ResourceDesc],
    all: &[ResourceDesc],
    crds: Option<&ResourceDesc>,
    taken: &Taken,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(u64, ResourceList), BackupError> {
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

/// The archive being written, and what the backup counts as it goes.
struct Archiving<'t> {
    /// The volumes' objects still to be archived, by group-resource.
    extras: BTreeMap<String, Vec<Extra<'t>>>,
    /// What the volumes step took (its claims are marked in the archive, pods whose pre hook
    /// failed are left out).
    volumes: &'t Taken,
    /// Items of the snapshot API group archived from the lists, so none is added twice.
    archived: BTreeSet<(String, Option<String>, String)>,
    archive: ArchiveWriter<Vec<u8>>,
    list: ResourceList,
    items: u64,
    /// Items listed that the backup takes (the progress's total).
    total: u64,
    /// Group-resources (outside the core group) with at least one item in the archive.
    with_items: BTreeSet<String>,
    /// What the items taken ask for that is not done.
    seen: Seen,
    tx: &'t mpsc::Sender<io::Result<Bytes>>,
    /// Every resource discovery lists.
    all: &'t [ResourceDesc],
    /// The items taken of the resources additional items can be of (`additional::TARGETS`).
    taken: HashSet<ItemId>,
    /// Additional items still to look at, each with whether it skips the filters.
    queue: VecDeque<(ItemId, bool)>,
    /// The cluster's ClusterRoleBindings, read at the first ServiceAccount.
    bindings: Option<Vec<serde_json::Value>>,
}

impl Archiving<'_> {
    /// One object into the archive and the resource list.
    fn add(&mut self, item: &ItemRef<'_>, gvk: &str, json: &[u8]) -> Result<(), BackupError> {
        self.archive.add_item(item, json)?;
        self.list.add(gvk, item.namespace, item.name)?;
        self.items += 1;
        Ok(())
    }

    /// Hand what the archive holds to the upload once it is a chunk's worth.
    async fn flush_full(&mut self) -> Result<(), BackupError> {
        if self.archive.sink_mut().len() >= CHUNK {
            send(self.tx, std::mem::take(self.archive.sink_mut())).await?;
        }
        Ok(())
    }

    fn report(&self, request: &Request<'_>) {
        request.progress.send_modify(|p| {
            p.items = self.items;
            p.total = self.total;
        });
    }
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

/// `namespace/name`, or `name` for a cluster-scoped item (orderedResources' form).
fn full_name(item: &DynamicObject) -> String {
    let name = item.metadata.name.as_deref().unwrap_or_default();
    match item.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// A listed item (already counted in the total): filtered by namespace, labels and the
/// exclusion label, then taken.
async fn offer(
    request: &Request<'_>,
    resource: &ResourceDesc,
    item: &DynamicObject,
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    if !wanted(request.plan, resource, item) {
        out.total -= 1;
        return Ok(());
    }
    if excluded_by_label(item.metadata.labels.as_ref().unwrap_or(&Default::default())) {
        out.total -= 1;
        log.line(
            "info",
            &format!(
                "Excluding {} {}: it has the label {EXCLUDE_LABEL}=true",
                resource.group_resource(),
                full_name(item)
            ),
        );
        return Ok(());
    }
    // Its pre hook failed: the error naming it is already in the results.
    if resource.group.is_empty()
        && resource.plural == "pods"
        && out.volumes.left_out.contains(&full_name(item))
    {
        out.total -= 1;
        return Ok(());
    }
    take(request, resource, item, out, log, results).await
}

/// Into the archive, with the additional items it brings queued.
async fn take(
    request: &Request<'_>,
    resource: &ResourceDesc,
    item: &DynamicObject,
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    let group_resource = resource.group_resource();
    let name = item.metadata.name.as_deref().unwrap_or_default();
    let namespace = item.metadata.namespace.as_deref();
    out.seen.observe(&resource.group, &resource.plural, item);
    if resource.group == super::volumes::snapshot::GROUP {
        out.archived.insert((
            group_resource.clone(),
            namespace.filter(|_| resource.namespaced).map(str::to_owned),
            name.to_owned(),
        ));
    }
    // A claim carries the volumes step's marks (its snapshot, or why it has none).
    let marked;
    let item = if resource.group.is_empty() && resource.plural == "persistentvolumeclaims" {
        let mut claim = item.clone();
        out.volumes.mark_claim(request.name, &mut claim);
        marked = claim;
        &marked
    } else {
        item
    };
    let json = if additional::has_action(&group_resource) {
        let mut value = match serde_json::to_value(item) {
            Ok(v) => v,
            Err(e) => {
                let message = format!("{group_resource} {name}: cannot encode: {e}");
                results.errors.add(namespace, message);
                return Ok(());
            }
        };
        let must = additional::must_include(&value);
        additional::strip_must_include(&mut value);
        let bindings = if group_resource == additional::SERVICE_ACCOUNTS {
            cluster_role_bindings(request, out, log).await
        } else {
            &[]
        };
        let related = additional::related(&group_resource, &value, bindings);
        out.queue.extend(related.into_iter().map(|id| (id, must)));
        serde_json::to_vec(&value)
    } else {
        serde_json::to_vec(item)
    };
    let json = match json {
        Ok(json) => json,
        Err(e) => {
            let message = format!("{group_resource} {name}: cannot encode: {e}");
            results.errors.add(namespace, message);
            return Ok(());
        }
    };
    let item_ref = ItemRef {
        group_resource: &group_resource,
        version: &resource.version,
        namespace: namespace.filter(|_| resource.namespaced),
        name,
    };
    out.add(&item_ref, &resource.gvk_key(), &json)?;
    if additional::TARGETS.contains(&group_resource.as_str()) {
        out.taken.insert(ItemId {
            group_resource: group_resource.clone(),
            namespace: item_ref.namespace.map(str::to_owned),
            name: name.to_owned(),
        });
    }
    if !resource.group.is_empty() {
        out.with_items.insert(group_resource);
    }
    out.flush_full().await
}

/// An object the volumes step adds to the archive.
struct Extra<'t> {
    kind: &'static str,
    namespace: Option<String>,
    name: String,
    object: &'t serde_json::Value,
}

/// The volumes' objects of `group_resource` not listed already (once each).
fn archive_extras(group_resource: &str, out: &mut Archiving<'_>) -> Result<(), BackupError> {
    let Some(extras) = out.extras.remove(group_resource) else {
        return Ok(());
    };
    for extra in extras {
        let key = (
            group_resource.to_owned(),
            extra.namespace.clone(),
            extra.name.clone(),
        );
        if !out.archived.insert(key) {
            continue;
        }
        let json = serde_json::to_vec(extra.object).map_err(io::Error::other)?;
        let item = ItemRef {
            group_resource,
            version: "v1",
            namespace: extra.namespace.as_deref(),
            name: &extra.name,
        };
        out.add(
            &item,
            &format!("{}/v1/{}", super::volumes::snapshot::GROUP, extra.kind),
            &json,
        )?;
        out.total += 1;
    }
    Ok(())
}

/// Whether the plan takes a listed item: a Namespace by its name, anything else by its
/// namespace and labels.
fn wanted(plan: &Plan, resource: &ResourceDesc, item: &DynamicObject) -> bool {
    let name = item.metadata.name.as_deref().unwrap_or_default();
    if resource.is_namespaces() {
        return plan.wants_namespace(name);
    }
    item.metadata
        .namespace
        .as_deref()
        .is_none_or(|ns| plan.wants_namespace(ns))
        && plan.wants_labels(item.metadata.labels.as_ref().unwrap_or(&Default::default()))
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
                 list them ({}); grant it (the chart's rbac.backup.apiGroups or \
                 rbac.secretsScope=cluster) to back them up",
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

async fn send(tx: &mpsc::Sender<io::Result<Bytes>>, bytes: Vec<u8>) -> Result<(), BackupError> {
    if bytes.is_empty() {
        return Ok(());
    }
    tx.send(Ok(Bytes::from(bytes)))
        .await
        .map_err(|_| BackupError::UploadStopped)
}
