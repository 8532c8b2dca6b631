//! `veloxide schedule create NAME --schedule CRON [backup flags]`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use kube::Api;
use kube::api::PostParams;

use super::super::backup::create::{CreateArgs as BackupArgs, build};
use super::super::backup::spec::SpecArgs;
use super::get::render;
use crate::api::{Retention, Schedule, ScheduleSpec};
use crate::cli::cluster::{Cluster, Globals};
use crate::cli::output::OutputFormat;

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The schedule's name (its backups are NAME-<UTC yyyymmddhhmmss>).
    pub name: String,
    /// The namespace veloxide (and the schedule) lives in: the global `-n`, set by `run`.
    #[arg(skip)]
    pub namespace: String,
    /// When to back up: 5-field cron ("0 3 * * *"), a descriptor ("@daily"), "@every 6h",
    /// optionally prefixed "CRON_TZ=Europe/Berlin ".
    #[arg(long)]
    pub schedule: String,
    /// Create the schedule paused.
    #[arg(long)]
    pub paused: bool,
    /// Skip the run that is due when the schedule is created or unpaused.
    #[arg(long)]
    pub skip_immediately: bool,
    /// Give each backup an owner reference to the schedule.
    #[arg(long)]
    pub use_owner_references_in_backup: bool,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub template: TemplateArgs,
    /// Print the Schedule (yaml or json) instead of creating it.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

/// veloxide's retention (`spec.retention`); any of them set turns retention on.
#[derive(Args, Debug, Default)]
pub struct RetentionArgs {
    /// Keep the newest N backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// ... of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// ... of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// ... of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// ... of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Never delete the newest N Completed backups, by retention or TTL (default 1).
    #[arg(long, value_name = "N")]
    pub keep_last_successful: Option<u32>,
}

/// The backup flags of `backup create`, for the template, and the schedule's own metadata.
#[derive(Args, Debug)]
pub struct TemplateArgs {
    #[command(flatten)]
    pub spec: Box<SpecArgs>,
    /// Labels to put on the schedule (and so on its backups).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Annotations to put on the schedule (Velero's `schedule create` takes the flag and
    /// drops it; veloxide puts them on the Schedule).
    #[arg(long, value_delimiter = ',')]
    pub annotations: Vec<String>,
}

pub async fn create(args: CreateArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let schedule = build_schedule(&args)?;
    if let Some(format) = args.output {
        print!("{}", render(format, &[schedule])?);
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = Cluster::connect(globals).await?;
    let api: Api<Schedule> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let name = &args.name;
    match api.create(&PostParams::default(), &schedule).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => bail!(
            "schedule {name:?} already exists in namespace {}; choose another name or delete it \
             first (veloxide schedule delete {name})",
            args.namespace
        ),
        // The admission webhook's denial names the field and the fix.
        Err(kube::Error::Api(e)) => bail!("the schedule was refused: {}", e.message),
        Err(e) => return Err(e).context("cannot create the schedule"),
    }
    println!("Schedule {name:?} created successfully.");
    Ok(ExitCode::SUCCESS)
}

/// The Schedule the flags describe: the template as `backup create` builds a Backup's spec,
/// `--labels` on the schedule itself (Velero's behaviour).
pub fn build_schedule(args: &CreateArgs) -> anyhow::Result<Schedule> {
    // Refuse a bad cron here, with the same message admission gives.
    crate::schedule::Cron::parse(&args.schedule).map_err(|e| anyhow::anyhow!("--schedule: {e}"))?;
    let t = &args.template;
    let backup = build(
        &BackupArgs {
            name: Some(args.name.clone()),
            spec: t.spec.clone(),
            labels: t.labels.clone(),
            annotations: t.annotations.clone(),
            wait: false,
            output: None,
            from_schedule: None,
        },
        &args.namespace,
    )?;
    let r = &args.retention;
    let retention = Retention {
        keep_last: r.keep_last,
        keep_hourly: r.keep_hourly,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
        keep_yearly: r.keep_yearly,
        keep_last_successful: r.keep_last_successful,
    };
    let mut schedule = Schedule::new(
        &args.name,
        ScheduleSpec {
            template: backup.spec,
            schedule: args.schedule.clone(),
            use_owner_references_in_backup: args.use_owner_references_in_backup.then_some(true),
            paused: args.paused,
            skip_immediately: args.skip_immediately.then_some(true),
            retention: (retention != Retention::default()).then_some(retention),
        },
    );
    schedule.metadata.namespace = Some(args.namespace.clone());
    schedule.metadata.labels = backup
        .metadata
        .labels
        .filter(|l: &BTreeMap<String, String>| !l.is_empty());
    schedule.metadata.annotations = backup.metadata.annotations;
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(line: &[&str]) -> CreateArgs {
        crate::cli::parse_flags(line)
    }

    #[test]
    fn flags_become_the_spec() {
        let s = build_schedule(&args(&[
            "nightly",
            "--schedule",
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "--include-namespaces",
            "app",
            "--ttl",
            "24h",
            "--labels",
            "team=shop",
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--paused",
            "--use-owner-references-in-backup",
        ]))
        .unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["metadata"]["labels"], json!({"team": "shop"}));
        assert_eq!(
            v["spec"],
            json!({
                "schedule": "CRON_TZ=Europe/Berlin 0 3 * * *",
                "template": {"includedNamespaces": ["app"], "ttl": "24h0m0s"},
                "paused": true,
                "useOwnerReferencesInBackup": true,
                "retention": {"keepDaily": 7, "keepWeekly": 4},
            })
        );
        let plain = build_schedule(&args(&["s", "--schedule", "@daily"])).unwrap();
        assert!(plain.spec.retention.is_none());
        assert!(plain.spec.skip_immediately.is_none());
    }

    #[test]
    fn a_bad_cron_is_refused_before_anything_is_sent() {
        let err = build_schedule(&args(&["s", "--schedule", "0 3 * *"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("--schedule: expected exactly 5 fields"),
            "{err}"
        );
    }
}
