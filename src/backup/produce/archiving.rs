//! The archive being written: one item taken (filtered, its additional items queued,
//! written, counted), shared by the listing (`produce.rs`) and the additional items
//! (`additional_items.rs`).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::io;

use bytes::Bytes;
use kube::api::DynamicObject;
use tokio::sync::mpsc;

use super::super::additional::{self, ItemId};
use super::super::archive::{ArchiveWriter, ItemRef};
use super::super::error::BackupError;
use super::super::filter::{EXCLUDE_LABEL, Plan, ResourceDesc, excluded_by_label};
use super::super::not_done::Seen;
use super::super::request::Request;
use super::super::sidefiles::{BackupLog, ResourceList, Results};
use super::super::timings::timed;
use super::super::volumes::Taken;

/// Bytes gathered from the archive before they are handed to the upload.
pub(super) const CHUNK: usize = 256 * 1024;

/// The archive being written, and what the backup counts as it goes.
pub(super) struct Archiving<'t> {
    /// The volumes' objects still to be archived, by group-resource.
    pub(super) extras: BTreeMap<String, Vec<Extra<'t>>>,
    /// What the volumes step took (its claims are marked in the archive, pods whose pre hook
    /// failed are left out).
    pub(super) volumes: &'t Taken,
    /// Items of the snapshot API group archived from the lists, so none is added twice.
    pub(super) archived: BTreeSet<(String, Option<String>, String)>,
    pub(super) archive: ArchiveWriter<Vec<u8>>,
    pub(super) list: ResourceList,
    pub(super) items: u64,
    /// Items listed that the backup takes (the progress's total).
    pub(super) total: u64,
    /// Group-resources (outside the core group) with at least one item in the archive.
    pub(super) with_items: BTreeSet<String>,
    /// What the items taken ask for that is not done.
    pub(super) seen: Seen,
    pub(super) tx: &'t mpsc::Sender<io::Result<Bytes>>,
    /// Every resource discovery lists.
    pub(super) all: &'t [ResourceDesc],
    /// The items taken of the resources additional items can be of (`additional::TARGETS`).
    pub(super) taken: HashSet<ItemId>,
    /// Additional items still to look at, each with whether it skips the filters.
    pub(super) queue: VecDeque<(ItemId, bool)>,
    /// The cluster's ClusterRoleBindings, read at the first ServiceAccount.
    pub(super) bindings: Option<Vec<serde_json::Value>>,
    /// Time spent waiting for the upload to take chunks (the channel full).
    pub(super) sending: std::time::Duration,
}

impl Archiving<'_> {
    /// One object into the archive and the resource list.
    pub(super) fn add(
        &mut self,
        item: &ItemRef<'_>,
        gvk: &str,
        json: &[u8],
    ) -> Result<(), BackupError> {
        self.archive.add_item(item, json)?;
        self.list.add(gvk, item.namespace, item.name)?;
        self.items += 1;
        Ok(())
    }

    /// Hand what the archive holds to the upload once it is a chunk's worth.
    pub(super) async fn flush_full(&mut self) -> Result<(), BackupError> {
        if self.archive.sink_mut().len() >= CHUNK {
            let chunk = std::mem::take(self.archive.sink_mut());
            timed(&mut self.sending, send(self.tx, chunk)).await?;
        }
        Ok(())
    }

    pub(super) fn report(&self, request: &Request<'_>) {
        request.progress.send_modify(|p| {
            p.items = self.items;
            p.total = self.total;
        });
    }
}

/// An object the volumes step adds to the archive.
pub(super) struct Extra<'t> {
    pub(super) kind: &'static str,
    pub(super) namespace: Option<String>,
    pub(super) name: String,
    pub(super) object: &'t serde_json::Value,
}

/// The volumes' objects of `group_resource` not listed already (once each).
pub(super) fn archive_extras(
    group_resource: &str,
    out: &mut Archiving<'_>,
) -> Result<(), BackupError> {
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
            &format!(
                "{}/v1/{}",
                super::super::volumes::snapshot::GROUP,
                extra.kind
            ),
            &json,
        )?;
        out.total += 1;
    }
    Ok(())
}

/// `namespace/name`, or `name` for a cluster-scoped item (orderedResources' form).
pub(super) fn full_name(item: &DynamicObject) -> String {
    let name = item.metadata.name.as_deref().unwrap_or_default();
    match item.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// A listed item (already counted in the total): filtered by namespace, labels and the
/// exclusion label, then taken.
pub(super) async fn offer(
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
pub(super) async fn take(
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
    if resource.group == super::super::volumes::snapshot::GROUP {
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

/// Whether the plan takes a listed item: a Namespace by its name, anything else by its
/// namespace and labels.
pub(super) fn wanted(plan: &Plan, resource: &ResourceDesc, item: &DynamicObject) -> bool {
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

/// The cluster's ClusterRoleBindings (read once; none when they cannot be read, with a
/// warning in the log).
async fn cluster_role_bindings<'o>(
    request: &Request<'_>,
    out: &'o mut Archiving<'_>,
    log: &mut BackupLog,
) -> &'o [serde_json::Value] {
    if out.bindings.is_none() {
        let mut bindings = Vec::new();
        let desc = out
            .all
            .iter()
            .find(|r| r.group_resource() == additional::CLUSTER_ROLE_BINDINGS);
        if let Some(desc) = desc {
            let mut token: Option<String> = None;
            loop {
                match request
                    .source
                    .list_page(desc, None, None, token.as_deref())
                    .await
                {
                    Ok(page) => {
                        bindings.extend(
                            page.items
                                .iter()
                                .filter_map(|b| serde_json::to_value(b).ok()),
                        );
                        match page.next {
                            Some(next) => token = Some(next),
                            None => break,
                        }
                    }
                    Err(e) => {
                        log.line(
                            "warning",
                            &format!(
                                "cannot list ClusterRoleBindings, so service accounts bring \
                                 none into the backup: {e}"
                            ),
                        );
                        break;
                    }
                }
            }
        }
        out.bindings = Some(bindings);
    }
    out.bindings.as_deref().unwrap_or_default()
}

pub(super) async fn send(
    tx: &mpsc::Sender<io::Result<Bytes>>,
    bytes: Vec<u8>,
) -> Result<(), BackupError> {
    if bytes.is_empty() {
        return Ok(());
    }
    tx.send(Ok(Bytes::from(bytes)))
        .await
        .map_err(|_| BackupError::UploadStopped)
}
