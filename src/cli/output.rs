//! How listings print: Velero's tables (kubectl's layout), or the objects as YAML or JSON.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use serde::Serialize;
use serde_json::json;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Yaml,
    Json,
}

/// The flags every listing takes: `-o` and `-l`.
#[derive(Args, Debug, Clone)]
pub struct ListArgs {
    /// Only show items whose labels match this selector (`app=web,tier in (a,b)`).
    #[arg(short = 'l', long, value_parser = selector_arg)]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Check a `--selector` at parse time (a bad one is a usage error, exit status 2) and keep its
/// text for the API server's `labelSelector`.
pub fn selector_arg(text: &str) -> Result<String, String> {
    super::selector::parse_selector(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{e:#}"))
}

impl OutputFormat {
    /// One object prints as itself, several as a `<Kind>List`, as Velero's printer does.
    pub fn render<T: Serialize>(
        self,
        list_kind: &str,
        items: &[T],
        table: impl FnOnce(&[T]) -> String,
    ) -> anyhow::Result<String> {
        let value = || -> anyhow::Result<serde_json::Value> {
            Ok(match items {
                [one] => serde_json::to_value(one)?,
                many => json!({"apiVersion": "velero.io/v1", "kind": list_kind, "items": many}),
            })
        };
        Ok(match self {
            OutputFormat::Table => table(items),
            OutputFormat::Yaml => serde_norway::to_string(&value()?)?,
            OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&value()?)?),
        })
    }
}

/// Print what a `get` found; with nothing found and the table format, say so on standard error
/// instead (`plural` names the kind: `restores`).
pub fn print_listing<T>(
    items: &[T],
    format: OutputFormat,
    plural: &str,
    namespace: &str,
    render: impl FnOnce(OutputFormat, &[T]) -> anyhow::Result<String>,
) -> anyhow::Result<ExitCode> {
    if items.is_empty() && format == OutputFormat::Table {
        eprintln!("No {plural} found in namespace {namespace}.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(format, items)?);
    Ok(ExitCode::SUCCESS)
}

/// What `backup describe` and `restore describe` both print about how a run ended: why it was
/// refused or failed, and its error and warning counts.
pub fn print_outcome(
    validation_errors: Option<&[String]>,
    failure_reason: Option<&str>,
    errors: Option<i64>,
    warnings: Option<i64>,
) {
    if let Some(errors) = validation_errors {
        println!("Validation errors:");
        for e in errors {
            println!("  {e}");
        }
    }
    if let Some(reason) = failure_reason {
        println!("Failure reason: {reason}");
    }
    println!("Errors:       {}", errors.unwrap_or(0));
    println!("Warnings:     {}", warnings.unwrap_or(0));
}

/// Rows under a header, columns padded with three spaces as kubectl's printer (and so
/// Velero's) lays them out; trailing blanks trimmed.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    all.extend(rows);
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            all.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in all {
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
pub fn go_time(t: Timestamp) -> String {
    let zoned = t.to_zoned(jiff::tz::TimeZone::system());
    zoned.strftime("%Y-%m-%d %H:%M:%S %z %Z").to_string()
}

/// An optional `metav1.Time` cell: Go prints a nil `*metav1.Time` as `<nil>`.
pub fn time_cell(t: Option<&Time>) -> String {
    t.map_or("<nil>".to_owned(), |t| go_time(t.0))
}

/// `29d`, `5h`, or `3m ago`, as Velero's `humanReadableTimeFromNow`.
pub fn from_now(when: Timestamp, now: Timestamp) -> String {
    let secs = when.as_second() - now.as_second();
    if secs >= 0 {
        short_duration(secs)
    } else {
        format!("{} ago", short_duration(-secs))
    }
}

/// Kubernetes' `ShortHumanDuration`.
pub fn short_duration(secs: i64) -> String {
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

    #[test]
    fn columns_are_padded_with_three_spaces() {
        let text = table(
            &["NAME", "STATUS", "DEFAULT"],
            vec![
                vec!["a".into(), "Completed".into(), "".into()],
                vec!["longer-name".into(), "New".into(), "true".into()],
            ],
        );
        assert_eq!(
            text,
            "NAME          STATUS      DEFAULT\n\
             a             Completed\n\
             longer-name   New         true\n"
        );
    }

    #[test]
    fn bad_selectors_are_usage_errors() {
        assert!(selector_arg("app=web").is_ok());
        assert!(selector_arg("a,,b").is_err());
    }
}
