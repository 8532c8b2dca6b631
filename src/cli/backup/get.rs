//! `veloxide backup get [NAME...]`: Velero's table, or the objects as YAML or JSON.

use std::process::ExitCode;

use clap::Args;
use jiff::Timestamp;

use super::super::cluster::{Cluster, Globals};
use super::super::output::{
    ListArgs, OutputFormat, format_selector, from_now, go_time, print_listing, table as layout,
};
use crate::api::Backup;

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Backups to show (default: all in the namespace).
    pub names: Vec<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Velero's `backup get` columns.
pub const COLUMNS: [&str; 8] = [
    "NAME",
    "STATUS",
    "ERRORS",
    "WARNINGS",
    "CREATED",
    "EXPIRES",
    "STORAGE LOCATION",
    "SELECTOR",
];

/// Backups as Velero prints them: the table, or the objects.
pub fn render(format: OutputFormat, backups: &[Backup]) -> anyhow::Result<String> {
    format.render("BackupList", backups, |b| table(b, Timestamp::now()))
}

pub async fn get(args: GetArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let cluster = Cluster::connect(globals).await?;
    let mut backups: Vec<Backup> = cluster
        .named_or_listed(
            &args.names,
            args.list.selector.as_deref(),
            "backup",
            "backups",
        )
        .await?;
    sort(&mut backups);
    print_listing(
        &backups,
        args.list.output,
        "backups",
        &cluster.namespace,
        render,
    )
}

/// Velero's order: by name, except that backups of one schedule (names ending in a
/// 14-digit timestamp) sort newest first within their prefix.
fn sort(backups: &mut [Backup]) {
    fn split(name: &str) -> Option<(&str, &str)> {
        let cut = name.len().checked_sub(15)?;
        let (prefix, suffix) = name.split_at(cut);
        let digits = &suffix[1..];
        (suffix.starts_with('-') && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some((prefix, digits))
    }
    backups.sort_by(|a, b| {
        let (a, b) = (
            a.metadata.name.as_deref().unwrap_or(""),
            b.metadata.name.as_deref().unwrap_or(""),
        );
        match (split(a), split(b)) {
            (Some((pa, sa)), Some((pb, sb))) if pa == pb => sb.cmp(sa),
            _ => a.cmp(b),
        }
    });
}

/// Velero's `backup get` table.
pub fn table(backups: &[Backup], now: Timestamp) -> String {
    let rows = backups
        .iter()
        .map(|b| {
            let status = b.status.clone().unwrap_or_default();
            let phase = if b.metadata.deletion_timestamp.is_some() {
                "Deleting"
            } else {
                b.phase().as_str()
            };
            let created = status
                .start_timestamp
                .as_ref()
                .map_or("<nil>".to_owned(), |t| go_time(t.0));
            let expiration = status.expiration.as_ref().map(|t| t.0).or_else(|| {
                let ttl = b.spec.ttl.as_ref()?.parse().ok().filter(|d| !d.is_zero())?;
                let created = b.metadata.creation_timestamp.as_ref()?.0;
                created
                    .checked_add(jiff::SignedDuration::try_from(ttl).ok()?)
                    .ok()
            });
            vec![
                b.metadata.name.clone().unwrap_or_default(),
                phase.to_owned(),
                status.errors.unwrap_or(0).to_string(),
                status.warnings.unwrap_or(0).to_string(),
                created,
                expiration.map_or("n/a".to_owned(), |e| from_now(e, now)),
                b.spec.storage_location.clone().unwrap_or_default(),
                format_selector(b.spec.label_selector.as_ref()),
            ]
        })
        .collect();
    layout(&COLUMNS, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backup(v: serde_json::Value) -> Backup {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn table_has_velero_columns_and_cells() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let done = backup(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "nightly", "namespace": "velero"},
            "spec": {"storageLocation": "default", "ttl": "720h0m0s",
                     "labelSelector": {"matchLabels": {"app": "web"}}},
            "status": {"phase": "Completed", "errors": 1, "warnings": 2,
                       "startTimestamp": "2025-12-31T23:00:00Z",
                       "expiration": "2026-01-30T23:00:00Z"},
        }));
        let new = backup(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "a-new-one", "namespace": "velero",
                         "creationTimestamp": "2025-12-31T22:00:00Z"},
            "spec": {"ttl": "1h"},
        }));
        let text = table(&[new, done], now);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| {
                l.split("   ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(
            lines[0],
            [
                "NAME",
                "STATUS",
                "ERRORS",
                "WARNINGS",
                "CREATED",
                "EXPIRES",
                "STORAGE LOCATION",
                "SELECTOR"
            ]
        );
        assert_eq!(lines[1][..4], ["a-new-one", "New", "0", "0"]);
        assert_eq!(lines[1][4..], ["<nil>", "1h ago", "<none>"]);
        assert_eq!(lines[2][..4], ["nightly", "Completed", "1", "2"]);
        assert!(lines[2][4].starts_with("2025-12-31"), "{text}");
        assert_eq!(lines[2][5..], ["29d", "default", "app=web"]);
    }

    #[test]
    fn schedule_backups_sort_newest_first() {
        let mut list: Vec<Backup> = [
            "daily-20260101000000",
            "zeta",
            "daily-20260102000000",
            "alpha",
        ]
        .iter()
        .map(|n| backup(json!({"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": n}, "spec": {}})))
        .collect();
        sort(&mut list);
        let names: Vec<_> = list
            .iter()
            .map(|b| b.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "alpha",
                "daily-20260102000000",
                "daily-20260101000000",
                "zeta"
            ]
        );
    }

    #[test]
    fn one_backup_prints_as_itself_several_as_a_list() {
        let b = backup(json!({"apiVersion": "velero.io/v1", "kind": "Backup",
                              "metadata": {"name": "one"}, "spec": {}}));
        let one: serde_json::Value =
            serde_json::from_str(&render(OutputFormat::Json, std::slice::from_ref(&b)).unwrap())
                .unwrap();
        assert_eq!(one["kind"], "Backup");
        let two: serde_json::Value =
            serde_norway::from_str(&render(OutputFormat::Yaml, &[b.clone(), b]).unwrap()).unwrap();
        assert_eq!(two["kind"], "BackupList");
        assert_eq!(two["items"].as_array().unwrap().len(), 2);
    }
}
