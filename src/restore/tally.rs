//! What a restore counts and reports: its progress, its outcome, and each item's line in the
//! log, the results and the resource list.

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::apply::Applied;
use super::log::RestoreLog;
use super::prepare::Rules;
use super::spool::Item;
use crate::backup::sidefiles::Results;

/// `status.progress` as Velero counts it: `restored` is every item processed so far, whatever
/// became of it (created, unchanged, left as it was, failed), so a finished restore reads
/// "N of N"; the outcome and the results say what became of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: u64,
    pub restored: u64,
}

/// What a finished restore did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub total: u64,
    /// Every item processed (Velero's `itemsRestored`).
    pub processed: u64,
    /// Created, updated, or found unchanged.
    pub restored: u64,
    pub errors: u64,
    pub warnings: u64,
    /// The exec hooks run in restored pods.
    pub hooks: crate::hooks::Tally,
}

/// Where a restore's items are logged, listed and counted.
pub(super) struct Tally<'t> {
    pub log: &'t mut RestoreLog,
    pub results: &'t mut Results,
    pub list: &'t mut BTreeMap<String, Vec<String>>,
    pub outcome: Outcome,
}

impl Tally<'_> {
    /// One item's result, as it finishes (the items of a stage finish in any order).
    pub fn record(
        &mut self,
        rules: &Rules,
        progress: &watch::Sender<Progress>,
        item: &Item,
        gvk: String,
        applied: Applied,
    ) {
        let Tally {
            log,
            results,
            list,
            outcome,
        } = self;
        let target_ns = item
            .namespace
            .as_deref()
            .map(|ns| rules.target_namespace(ns).to_owned());
        let what = match &target_ns {
            Some(ns) => format!("{} {ns}/{}", item.group_resource, item.name),
            None => format!("{} {}", item.group_resource, item.name),
        };
        let entry = match &target_ns {
            Some(ns) => format!("{ns}/{}({})", item.name, applied.word()),
            None => format!("{}({})", item.name, applied.word()),
        };
        list.entry(gvk).or_default().push(entry);
        outcome.processed += 1;
        match &applied {
            Applied::Created | Applied::Updated => {
                outcome.restored += 1;
                log.line("info", &format!("{} {what}", capitalized(applied.word())));
            }
            Applied::CreatedWithoutStatus(reason) => {
                outcome.restored += 1;
                log.line("info", &format!("Created {what}"));
                let message = format!("status field update failed {what}: {reason}");
                log.line("warning", &message);
                results.warnings.add(target_ns.as_deref(), message);
            }
            Applied::WouldCreate | Applied::WouldUpdate => {
                outcome.restored += 1;
                log.line("info", &format!("Dry run: {what} {}", applied.word()));
            }
            Applied::Refused { by, reason } => {
                let message = format!(
                    "Dry run: {what} would be refused by {}: {reason}",
                    by.word()
                );
                log.line("error", &message);
                results.errors.add(target_ns.as_deref(), message);
            }
            Applied::Unchanged => {
                outcome.restored += 1;
                log.line(
                    "info",
                    &format!("Skipped {what}: it already exists and is unchanged from the backup"),
                );
            }
            Applied::ExistsDifferent => {
                let message = format!(
                    "could not restore, {what} already exists. Warning: the in-cluster version is \
                     different than the backed-up version"
                );
                log.line("warning", &message);
                results.warnings.add(target_ns.as_deref(), message);
            }
            Applied::Skipped { reason, warn } => {
                // Counted as done: the item was dealt with as the restore means to.
                outcome.restored += 1;
                let message = format!("Skipped {what}: {reason}");
                if *warn {
                    log.line("warning", &message);
                    results.warnings.add(target_ns.as_deref(), message);
                } else {
                    log.line("info", &message);
                }
            }
            Applied::Failed(reason) => {
                let message = format!("error restoring {what}: {reason}");
                log.line("error", &message);
                results.errors.add(target_ns.as_deref(), message);
            }
        }
        progress.send_replace(Progress {
            total: outcome.total,
            restored: outcome.processed,
        });
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
