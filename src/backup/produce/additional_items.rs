//! Taking the additional items the archived ones bring (`backup::additional` says which): the
//! cluster's ClusterRoleBindings for service accounts, and the queue of items to fetch.

use super::super::error::BackupError;
use super::super::filter::{EXCLUDE_LABEL, excluded_by_label};
use super::super::request::Request;
use super::super::sidefiles::{BackupLog, Results};
use super::archiving::{Archiving, take};

/// The additional items the archived ones brought, each taken once, when the filters take it
/// or the item that brought it said they must (`backup::additional`).
pub(super) async fn archive_additional(
    request: &Request<'_>,
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    while let Some((id, must)) = out.queue.pop_front() {
        if out.taken.contains(&id) {
            continue;
        }
        let what = match &id.namespace {
            Some(ns) => format!("{} {ns}/{}", id.group_resource, id.name),
            None => format!("{} {}", id.group_resource, id.name),
        };
        let Some(resource) = out
            .all
            .iter()
            .find(|r| r.group_resource() == id.group_resource)
            .cloned()
        else {
            continue;
        };
        let plan = request.plan;
        if !must && !plan.takes_additional(&resource, id.namespace.as_deref(), out.all) {
            log.line(
                "info",
                &format!(
                    "Not backing up additional item {what}: the backup's filters leave it out"
                ),
            );
            continue;
        }
        let item = match request
            .source
            .get(&resource, id.namespace.as_deref(), &id.name)
            .await
        {
            Ok(Some(item)) => item,
            Ok(None) => {
                log.line(
                    "warning",
                    &format!(
                        "Additional item {what} was not found in the cluster, can't back it up"
                    ),
                );
                continue;
            }
            Err(e) => {
                let message = format!("cannot read additional item {what}: {e}");
                log.line("warning", &message);
                results.warnings.add(id.namespace.as_deref(), message);
                continue;
            }
        };
        let labels = item.metadata.labels.clone().unwrap_or_default();
        if !must && excluded_by_label(&labels) {
            log.line(
                "info",
                &format!("Excluding additional item {what}: it has the label {EXCLUDE_LABEL}=true"),
            );
            continue;
        }
        if item.metadata.deletion_timestamp.is_some() {
            log.line(
                "info",
                &format!("Skipping additional item {what}: it is being deleted"),
            );
            continue;
        }
        out.taken.insert(id);
        out.total += 1;
        log.line("info", &format!("Backing up additional item {what}"));
        take(request, &resource, &item, out, log, results).await?;
        out.report(request);
    }
    Ok(())
}
