//! Which of a backup's items a restore takes, in what order (the server's restore priorities),
//! and which have their status restored.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::log::RestoreLog;
use super::options::Options;
use super::prepare::NEVER_RESTORED;
use super::priorities::Priorities;
use super::spool::{Item, Spool};
use super::stages::{Kind, stages};
use crate::backup::sidefiles::Results;
use crate::backup::{Plan, ResourceDesc, Source};

/// What a restore creates, and how.
pub struct Chosen<'s> {
    /// The items the restore's filters take, in the order they are created.
    pub items: Vec<&'s Item>,
    /// The stage of each of their group-resources (`stages.rs`): the items of one stage are
    /// created together, a stage after the one before it is done. Never decreasing along
    /// `items`.
    pub stages: HashMap<String, usize>,
    /// The group-resources whose status `restoreStatus` restores.
    pub status: BTreeSet<String>,
}

/// What the restore's filters take, in the order and stages it creates them.
pub async fn choose<'s>(
    client: &kube::Client,
    plan: &Plan,
    options: &Options,
    spooled: &'s Spool,
    log: &mut RestoreLog,
    results: &mut Results,
) -> Chosen<'s> {
    // Resources as the archive holds them, with short names from the cluster where it knows
    // the resource, so filters name resources the way they do for backups.
    let live = Source::new(client.clone(), 500)
        .discover()
        .await
        .unwrap_or_default();
    let mut descs: Vec<ResourceDesc> = Vec::new();
    for item in &spooled.items {
        if descs
            .iter()
            .any(|d| d.group_resource() == item.group_resource)
        {
            continue;
        }
        let (plural, group) = item
            .group_resource
            .split_once('.')
            .unwrap_or((item.group_resource.as_str(), ""));
        let known = live
            .iter()
            .find(|d| d.group_resource() == item.group_resource);
        descs.push(ResourceDesc {
            group: group.into(),
            version: known.map_or_else(String::new, |d| d.version.clone()),
            plural: plural.into(),
            singular: known.map_or_else(
                || plural.trim_end_matches('s').into(),
                |d| d.singular.clone(),
            ),
            kind: known.map_or_else(String::new, |d| d.kind.clone()),
            short_names: known.map_or_else(Vec::new, |d| d.short_names.clone()),
            namespaced: item.namespace.is_some(),
        });
    }
    let (resources, unresolved) = plan.resources(&descs);
    for name in unresolved {
        let message = format!("resource {name:?} named in the restore is not in the backup");
        log.line("warning", &message);
        results.warnings.add_general(message);
    }
    let wanted: HashSet<String> = resources.iter().map(|r| r.group_resource()).collect();
    let mut chosen: Vec<&Item> = spooled
        .items
        .iter()
        .filter(|i| wanted.contains(&i.group_resource))
        .filter(|i| !NEVER_RESTORED.contains(&i.group_resource.as_str()))
        .filter(|i| match &i.namespace {
            Some(ns) => plan.wants_namespace(ns),
            None if i.group_resource == "namespaces" => plan.wants_namespace(&i.name),
            None => true,
        })
        .collect();
    let order = options.priorities.order(&descs);
    let kinds: Vec<Kind<'_>> = order
        .iter()
        .map(|(gr, tier)| Kind {
            group_resource: gr,
            tier: *tier,
        })
        .collect();
    let custom = options.priorities != Priorities::default();
    let stages: HashMap<String, usize> = kinds
        .iter()
        .zip(stages(&kinds, custom))
        .map(|(k, stage)| (k.group_resource.to_owned(), stage))
        .collect();
    let ranks: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(rank, (gr, _))| (gr.as_str(), rank))
        .collect();
    let rank = |gr: &str| ranks.get(gr).copied().unwrap_or(usize::MAX);
    chosen.sort_by(|a, b| {
        (rank(&a.group_resource), &a.namespace, &a.name).cmp(&(
            rank(&b.group_resource),
            &b.namespace,
            &b.name,
        ))
    });
    // Names that resolve to nothing are not warned about here: the resources are the
    // backup's, and a status filter may name what this backup lacks.
    let status = options
        .status
        .as_ref()
        .map(|p| {
            p.resources(&descs)
                .0
                .iter()
                .map(|r| r.group_resource())
                .collect()
        })
        .unwrap_or_default();
    Chosen {
        items: chosen,
        stages,
        status,
    }
}
