//! `veloxide backup get [NAME...]`: Velero's table, or the objects as YAML or JSON.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::super::fetch::Cluster;
use crate::api::Backup;

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Backups to show (default: all in the namespace).
    pub names: Vec<String>,
    /// The namespace veloxide (and the backups) live in.
    #[arg(short = 'n', long, env = "VELERO_NAMESPACE", default_value = "velero")]
    pub namespace: String,
    /// Only backups whose labels match this selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Yaml,
    Json,
}

impl OutputFormat {
    /// One backup prints as itself, several as a `BackupList` (Velero's printer does the same).
    pub fn render(self, backups: &[Backup]) -> anyhow::Result<String> {
        let value = match backups {
            [one] => serde_json::to_value(one)?,
            many => json!({"apiVersion": "velero.io/v1", "kind": "BackupList", "items": many}),
        };
        Ok(match self {
            OutputFormat::Table => table(backups, Timestamp::now()),
            OutputFormat::Yaml => serde_norway::to_string(&value)?,
            OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&value)?),
        })
    }
}

pub async fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let cluster = Cluster::connect(&args.namespace).await?;
    let api: Api<Backup> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut backups = Vec::new();
    if args.names.is_empty() {
        let mut params = ListParams::default();
        if let Some(s) = &args.selector {
            params = params.labels(s);
        }
        backups = api
            .list(&params)
            .await
            .context("cannot list backups")?
            .items;
    } else {
        for name in &args.names {
            let backup = api.get_opt(name).await?.with_context(|| {
                format!("backup {name:?} not found in namespace {}", args.namespace)
            })?;
            backups.push(backup);
        }
    }
    sort(&mut backups);
    if backups.is_empty() && args.output == OutputFormat::Table {
        eprintln!("No backups found in namespace {}.", args.namespace);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", args.output.render(&backups)?);
    Ok(ExitCode::SUCCESS)
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

/// Velero's `backup get` table: columns padded with three spaces, as kubectl prints them.
pub fn table(backups: &[Backup], now: Timestamp) -> String {
    let mut rows = vec![
        [
            "NAME",
            "STATUS",
            "ERRORS",
            "WARNINGS",
            "CREATED",
            "EXPIRES",
            "STORAGE LOCATION",
            "SELECTOR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for b in backups {
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
        rows.push(vec![
            b.metadata.name.clone().unwrap_or_default(),
            phase.to_owned(),
            status.errors.unwrap_or(0).to_string(),
            status.warnings.unwrap_or(0).to_string(),
            created,
            expiration.map_or("n/a".to_owned(), |e| from_now(e, now)),
            b.spec.storage_location.clone().unwrap_or_default(),
            format_selector(b.spec.label_selector.as_ref()),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}   "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A time as Go's `time.Time.String()` prints it, in the local zone.
fn go_time(t: Timestamp) -> String {
    let zoned = t.to_zoned(jiff::tz::TimeZone::system());
    zoned.strftime("%Y-%m-%d %H:%M:%S %z %Z").to_string()
}

/// `29d`, `5h`, or `3m ago`, as Velero's `humanReadableTimeFromNow`.
fn from_now(when: Timestamp, now: Timestamp) -> String {
    let secs = when.as_second() - now.as_second();
    if secs >= 0 {
        short_duration(secs)
    } else {
        format!("{} ago", short_duration(-secs))
    }
}

/// Kubernetes' `ShortHumanDuration`.
fn short_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 86_400 * 365 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (86_400 * 365)),
    }
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`, or `<none>`.
pub fn format_selector(selector: Option<&LabelSelector>) -> String {
    let Some(s) = selector else {
        return "<none>".into();
    };
    let mut terms: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    if terms.is_empty() {
        "<none>".into()
    } else {
        terms.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            serde_json::from_str(&OutputFormat::Json.render(std::slice::from_ref(&b)).unwrap())
                .unwrap();
        assert_eq!(one["kind"], "Backup");
        let two: serde_json::Value =
            serde_norway::from_str(&OutputFormat::Yaml.render(&[b.clone(), b]).unwrap()).unwrap();
        assert_eq!(two["kind"], "BackupList");
        assert_eq!(two["items"].as_array().unwrap().len(), 2);
    }
}
