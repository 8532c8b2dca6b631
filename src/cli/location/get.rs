//! `veloxide backup-location get [NAME...] [--default]`: Velero's table, or YAML or JSON.

use std::process::ExitCode;

use clap::Args;

use super::super::cluster::{Cluster, Globals};
use super::super::output::{ListArgs, go_time, print_listing, table};
use crate::api::{AccessMode, BackupStorageLocation, LocationPhase};

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Locations to show (default: all in the namespace).
    pub names: Vec<String>,
    /// Show only the default location.
    #[arg(long)]
    pub default: bool,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Velero's `backup-location get` columns.
pub const COLUMNS: [&str; 7] = [
    "NAME",
    "PROVIDER",
    "BUCKET/PREFIX",
    "PHASE",
    "LAST VALIDATED",
    "ACCESS MODE",
    "DEFAULT",
];

pub async fn get(args: GetArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let cluster = Cluster::connect(globals).await?;
    let mut locations: Vec<BackupStorageLocation> = cluster
        .named_or_listed(
            &args.names,
            args.list.selector.as_deref(),
            "backup storage location",
            "backup storage locations",
        )
        .await?;
    if args.default {
        locations.retain(|l| l.spec.default == Some(true));
    }
    locations.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    print_listing(
        &locations,
        args.list.output,
        "backup storage locations",
        &cluster.namespace,
        |format, items| format.render("BackupStorageLocationList", items, location_table),
    )
}

/// Velero's table: `Unknown` before the first validation, the access mode defaulted to
/// ReadWrite, `true` or nothing under DEFAULT.
pub fn location_table(locations: &[BackupStorageLocation]) -> String {
    let rows = locations
        .iter()
        .map(|l| {
            let storage = &l.spec.object_storage;
            let mut bucket = storage.bucket.clone();
            if let Some(prefix) = storage.prefix.as_deref().filter(|p| !p.is_empty()) {
                bucket = format!("{bucket}/{prefix}");
            }
            let status = l.status.clone().unwrap_or_default();
            let phase = match status.phase {
                Some(LocationPhase::Available) => "Available",
                Some(LocationPhase::Unavailable) => "Unavailable",
                None => "Unknown",
            };
            let mode = match l.spec.access_mode.unwrap_or_default() {
                AccessMode::ReadWrite => "ReadWrite",
                AccessMode::ReadOnly => "ReadOnly",
            };
            vec![
                l.metadata.name.clone().unwrap_or_default(),
                l.spec.provider.clone(),
                bucket,
                phase.to_owned(),
                status
                    .last_validation_time
                    .map_or("Unknown".to_owned(), |t| go_time(t.0)),
                mode.to_owned(),
                if l.spec.default == Some(true) {
                    "true".to_owned()
                } else {
                    String::new()
                },
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
        let locations: Vec<BackupStorageLocation> = [
            json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                   "metadata": {"name": "default"},
                   "spec": {"provider": "aws", "default": true,
                            "objectStorage": {"bucket": "b", "prefix": "p"}},
                   "status": {"phase": "Available"}}),
            json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                   "metadata": {"name": "dr"},
                   "spec": {"provider": "aws", "accessMode": "ReadOnly",
                            "objectStorage": {"bucket": "other"}}}),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
        let text = location_table(&locations);
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
        assert_eq!(
            lines[1],
            [
                "default",
                "aws",
                "b/p",
                "Available",
                "Unknown",
                "ReadWrite",
                "true"
            ]
        );
        assert_eq!(
            lines[2],
            ["dr", "aws", "other", "Unknown", "Unknown", "ReadOnly"]
        );
    }
}
