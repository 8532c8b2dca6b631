//! `veloxide restore get [NAME...]`: Velero's table, or the objects as YAML or JSON.

use std::process::ExitCode;

use clap::Args;

use super::super::cluster::{Cluster, Globals};
use super::super::output::{ListArgs, format_selector, go_time, print_listing, table, time_cell};
use crate::api::Restore;

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Restores to show (default: all in the namespace).
    pub names: Vec<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Velero's `restore get` columns.
pub const COLUMNS: [&str; 9] = [
    "NAME",
    "BACKUP",
    "STATUS",
    "STARTED",
    "COMPLETED",
    "ERRORS",
    "WARNINGS",
    "CREATED",
    "SELECTOR",
];

pub async fn get(args: GetArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let cluster = Cluster::connect(globals).await?;
    let mut restores: Vec<Restore> = cluster
        .named_or_listed(
            &args.names,
            args.list.selector.as_deref(),
            "restore",
            "restores",
        )
        .await?;
    restores.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    print_listing(
        &restores,
        args.list.output,
        "restores",
        &cluster.namespace,
        |format, items| format.render("RestoreList", items, restore_table),
    )
}

/// Velero's `restore get` table; a restore being deleted shows `<phase> (Deleting)`.
pub fn restore_table(restores: &[Restore]) -> String {
    let rows = restores
        .iter()
        .map(|r| {
            let status = r.status.clone().unwrap_or_default();
            let mut phase = r.phase().as_str().to_owned();
            if r.metadata.deletion_timestamp.is_some() {
                phase.push_str(" (Deleting)");
            }
            vec![
                r.metadata.name.clone().unwrap_or_default(),
                r.spec.backup_name.clone(),
                phase,
                time_cell(status.start_timestamp.as_ref()),
                time_cell(status.completion_timestamp.as_ref()),
                status.errors.unwrap_or(0).to_string(),
                status.warnings.unwrap_or(0).to_string(),
                r.metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or("<nil>".to_owned(), |t| go_time(t.0)),
                format_selector(r.spec.label_selector.as_ref()),
            ]
        })
        .collect();
    table(&COLUMNS, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn velero_s_columns_and_cells() {
        let restore: Restore = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": "r1", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "deletionTimestamp": "2026-01-01T00:10:00Z"},
            "spec": {"backupName": "nightly", "labelSelector": {"matchLabels": {"app": "web"}}},
            "status": {"phase": "Completed", "errors": 2, "startTimestamp": "2026-01-01T00:00:01Z"},
        }))
        .unwrap();
        let text = restore_table(&[restore]);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| {
                l.split("   ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(lines[0], COLUMNS);
        assert_eq!(lines[1][..3], ["r1", "nightly", "Completed (Deleting)"]);
        assert!(lines[1][3].starts_with("2026-01-01") || lines[1][3].starts_with("2025-12-31"));
        assert_eq!(lines[1][4..7], ["<nil>", "2", "0"]);
        assert_eq!(lines[1][8], "app=web");
    }
}
