//! Velero's `EnableAPIGroupVersions` (the server's `--features=EnableAPIGroupVersions`): each
//! chosen resource is also listed at every other version its group serves, and written at
//! `resources/<group-resource>/<version>/...` (Velero's layout; the preferred version stays at
//! `<version>-preferredversion/` and unversioned), so a restore into a cluster that serves
//! another version can choose it.

use super::super::archive::ItemRef;
use super::super::error::BackupError;
use super::super::filter::{ResourceDesc, excluded_by_label};
use super::super::request::Request;
use super::super::sidefiles::{BackupLog, Results};
use super::archiving::{Archiving, wanted};

pub(super) async fn archive_other_versions(
    request: &Request<'_>,
    resources: &[&ResourceDesc],
    out: &mut Archiving<'_>,
    log: &mut BackupLog,
    results: &mut Results,
) -> Result<(), BackupError> {
    let others = match request.source.other_versions(out.all).await {
        Ok(others) => others,
        Err(e) => {
            let message = format!(
                "EnableAPIGroupVersions: discovery of the other served versions failed, only \
                 preferred versions are in the backup: {e}"
            );
            log.line("warning", &message);
            results.warnings.add_general(message);
            return Ok(());
        }
    };
    let plan = request.plan;
    let selector = plan.list_selector();
    for resource in resources {
        let group_resource = resource.group_resource();
        for (_, version) in others.iter().filter(|(gr, _)| *gr == group_resource) {
            let at = ResourceDesc {
                version: version.clone(),
                ..(*resource).clone()
            };
            log.line(
                "info",
                &format!("Backing up resource {group_resource:?} at version {version} (EnableAPIGroupVersions)"),
            );
            let scopes = if at.namespaced {
                plan.namespace_scopes()
            } else {
                vec![None]
            };
            let (scopes, _) = request.source.scopes_for(&at, scopes);
            for scope in scopes {
                let mut token: Option<String> = None;
                loop {
                    let page = match request
                        .source
                        .list_page(&at, scope.as_deref(), selector.as_deref(), token.as_deref())
                        .await
                    {
                        Ok(page) => page,
                        Err(e) => {
                            let message =
                                format!("listing {group_resource} at {version} failed: {e}");
                            log.line("warning", &message);
                            results.warnings.add(scope.as_deref(), message);
                            break;
                        }
                    };
                    for item in &page.items {
                        let labels = item.metadata.labels.clone().unwrap_or_default();
                        if !wanted(plan, &at, item) || excluded_by_label(&labels) {
                            continue;
                        }
                        let Ok(json) = serde_json::to_vec(item) else {
                            continue;
                        };
                        let item_ref = ItemRef {
                            group_resource: &group_resource,
                            version,
                            namespace: item.metadata.namespace.as_deref().filter(|_| at.namespaced),
                            name: item.metadata.name.as_deref().unwrap_or_default(),
                        };
                        out.archive.add_other_version(&item_ref, &json)?;
                        out.flush_full().await?;
                    }
                    match page.next {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
            }
        }
    }
    Ok(())
}
