//! `veloxide schedule get` (Velero's table plus NEXT RUN) and `schedule describe`.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use jiff::Timestamp;

use super::super::output::{self, OutputFormat, format_selector, print_listing};
use crate::api::Schedule;
use crate::cli::cluster::{Cluster, Globals};

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Schedules to show (default: all in the namespace).
    pub names: Vec<String>,
    #[arg(skip)]
    pub namespace: String,
    /// Only schedules whose labels match this selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Schedules to describe (default: all in the namespace).
    pub names: Vec<String>,
    #[arg(skip)]
    pub namespace: String,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// Schedules as `schedule get` prints them: the table, or the objects.
pub fn render(format: OutputFormat, schedules: &[Schedule]) -> anyhow::Result<String> {
    format.render("ScheduleList", schedules, |s| table(s, Timestamp::now()))
}

async fn fetch(
    globals: &Globals,
    names: &[String],
    selector: Option<&str>,
) -> anyhow::Result<Vec<Schedule>> {
    let cluster = Cluster::connect(globals).await?;
    let mut schedules: Vec<Schedule> = cluster
        .named_or_listed(names, selector, "schedule", "schedules")
        .await?;
    if names.is_empty() {
        schedules.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    }
    Ok(schedules)
}

pub async fn get(args: GetArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let schedules = fetch(globals, &args.names, args.selector.as_deref()).await?;
    print_listing(
        &schedules,
        args.output,
        "schedules",
        &args.namespace,
        render,
    )
}

pub async fn describe(args: DescribeArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let schedules = fetch(globals, &args.names, args.selector.as_deref()).await?;
    let now = Timestamp::now();
    let texts: Vec<String> = schedules.iter().map(|s| describe_one(s, now)).collect();
    print!("{}", texts.join("\n\n"));
    Ok(ExitCode::SUCCESS)
}

/// Velero's `schedule get` columns, plus NEXT RUN.
pub fn table(schedules: &[Schedule], now: Timestamp) -> String {
    let header = [
        "NAME",
        "STATUS",
        "CREATED",
        "SCHEDULE",
        "BACKUP TTL",
        "LAST BACKUP",
        "NEXT RUN",
        "SELECTOR",
        "PAUSED",
    ];
    let rows = schedules
        .iter()
        .map(|s| {
            let status = s.status.clone().unwrap_or_default();
            vec![
                s.metadata.name.clone().unwrap_or_default(),
                status.phase.map_or("New", |p| p.as_str()).to_owned(),
                s.metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or("<nil>".into(), |t| local_time(t.0)),
                s.spec.schedule.clone(),
                s.spec
                    .template
                    .ttl
                    .as_ref()
                    .map_or("0s".into(), |t| t.0.clone()),
                status
                    .last_backup
                    .as_ref()
                    .map_or("n/a".into(), |t| relative(t.0, now)),
                next_run(s, now),
                selector(s),
                s.spec.paused.to_string(),
            ]
        })
        .collect();
    output::table(&header, rows)
}

fn next_run(s: &Schedule, now: Timestamp) -> String {
    if s.spec.paused {
        return "paused".into();
    }
    match s.status.as_ref().and_then(|st| st.next_run.as_ref()) {
        Some(t) => format!("{} ({})", utc(t.0), relative(t.0, now)),
        None => "n/a".into(),
    }
}

fn selector(s: &Schedule) -> String {
    format_selector(s.spec.template.label_selector.as_ref())
}

fn local_time(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S %z %Z")
        .to_string()
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `in 5m`, `3h ago`, as kubectl's short durations.
fn relative(when: Timestamp, now: Timestamp) -> String {
    let secs = when.as_second() - now.as_second();
    let short = |s: i64| match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    if secs >= 0 {
        format!("in {}", short(secs))
    } else {
        format!("{} ago", short(-secs))
    }
}

/// Velero's describe layout, with the next run and retention added.
pub fn describe_one(s: &Schedule, now: Timestamp) -> String {
    let mut out = String::new();
    describe_metadata(&mut out, s);
    describe_status(&mut out, s, now);
    describe_retention(&mut out, s);
    describe_template(&mut out, s);
    out
}

/// Name, namespace, labels and annotations.
fn describe_metadata(out: &mut String, s: &Schedule) {
    let map = |m: &Option<std::collections::BTreeMap<String, String>>| match m {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n              "),
        _ => "<none>".into(),
    };
    let _ = writeln!(
        out,
        "Name:         {}",
        s.metadata.name.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "Namespace:    {}",
        s.metadata.namespace.as_deref().unwrap_or("")
    );
    let _ = writeln!(out, "Labels:       {}", map(&s.metadata.labels));
    let annotations = s.metadata.annotations.clone().map(|mut a| {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        a
    });
    let _ = writeln!(out, "Annotations:  {}", map(&annotations));
    let _ = writeln!(out);
}

/// The phase, the expression and when it runs.
fn describe_status(out: &mut String, s: &Schedule, now: Timestamp) {
    let status = s.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "Phase:  {}",
        status.phase.map_or("New", |p| p.as_str())
    );
    for e in status.validation_errors.iter().flatten() {
        let _ = writeln!(out, "  Validation error:  {e}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Paused:  {}", s.spec.paused);
    let _ = writeln!(out);
    let _ = writeln!(out, "Schedule:  {}", s.spec.schedule);
    let _ = writeln!(out);
    let _ = writeln!(out, "Next Run:  {}", next_run(s, now));
    let _ = writeln!(
        out,
        "Last Backup:  {}",
        status
            .last_backup
            .as_ref()
            .map_or("<never>".into(), |t| utc(t.0))
    );
    if let Some(t) = &status.last_skipped {
        let _ = writeln!(out, "Last Skipped:  {}", utc(t.0));
    }
    let _ = writeln!(out);
}

/// The retention rules, or that backups expire by their TTL.
fn describe_retention(out: &mut String, s: &Schedule) {
    match &s.spec.retention {
        None => {
            let _ = writeln!(out, "Retention:  <none> (backups expire by their TTL)");
        }
        Some(r) => {
            let _ = writeln!(out, "Retention:");
            for (label, value) in [
                ("Keep Last", r.keep_last),
                ("Keep Hourly", r.keep_hourly),
                ("Keep Daily", r.keep_daily),
                ("Keep Weekly", r.keep_weekly),
                ("Keep Monthly", r.keep_monthly),
                ("Keep Yearly", r.keep_yearly),
            ] {
                if let Some(v) = value {
                    let _ = writeln!(out, "  {label}:  {v}");
                }
            }
            let _ = writeln!(
                out,
                "  Keep Last Successful:  {}",
                r.keep_last_successful
                    .unwrap_or(crate::schedule::retention::DEFAULT_KEEP_LAST_SUCCESSFUL)
            );
        }
    }
    let _ = writeln!(out);
}

/// What each backup takes, as `backup describe` shows it.
fn describe_template(out: &mut String, s: &Schedule) {
    let t = &s.spec.template;
    let list = |v: &Option<Vec<String>>, empty: &str| match v {
        Some(v) if !v.is_empty() => v.join(", "),
        _ => empty.to_owned(),
    };
    let _ = writeln!(out, "Backup Template:");
    let _ = writeln!(out, "  Namespaces:");
    let _ = writeln!(out, "    Included:  {}", list(&t.included_namespaces, "*"));
    let _ = writeln!(
        out,
        "    Excluded:  {}",
        list(&t.excluded_namespaces, "<none>")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  Resources:");
    let _ = writeln!(
        out,
        "    Included:        {}",
        list(&t.included_resources, "*")
    );
    let _ = writeln!(
        out,
        "    Excluded:        {}",
        list(&t.excluded_resources, "<none>")
    );
    let _ = writeln!(
        out,
        "    Cluster-scoped:  {}",
        match t.include_cluster_resources {
            Some(true) => "included",
            Some(false) => "excluded",
            None => "auto",
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  Label selector:  {}", selector(s));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  Storage Location:  {}",
        t.storage_location.as_deref().unwrap_or("")
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  TTL:  {}",
        t.ttl.as_ref().map_or("0s".into(), |t| t.0.clone())
    );
}

#[cfg(test)]
mod tests;
