//! `veloxide backup create NAME`, with Velero's flags and `--wait`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::super::cluster::{Cluster, Globals};
use super::super::output::OutputFormat;
use super::super::progress::{Display, Snapshot};
use super::super::usage::{UsageError, key_values};
use super::spec::SpecArgs;
use crate::api::{Backup, BackupPhase};

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The backup's name; with --from-schedule it may be left out, and is then
    /// SCHEDULE-<UTC time as YYYYMMDDhhmmss>, as Velero names it.
    pub name: Option<String>,
    // Boxed: the spec's flags make this the largest of the commands' arguments by far.
    #[command(flatten)]
    pub spec: Box<SpecArgs>,
    /// Labels to put on the backup itself (`k=v,k2=v2`).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Annotations to put on the backup itself (`k=v,k2=v2`).
    #[arg(long, value_delimiter = ',')]
    pub annotations: Vec<String>,
    /// Wait for the backup to finish, showing its progress (items done of expected, items/s,
    /// bytes uploaded, elapsed). Unlike Velero, which exits 0 whatever the outcome, veloxide
    /// then exits 1 unless the backup Completed.
    #[arg(short = 'w', long)]
    pub wait: bool,
    /// Print the Backup (yaml or json) instead of creating it.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Back up what this schedule's template says, with its labels (other filters are
    /// ignored, as Velero).
    #[arg(long)]
    pub from_schedule: Option<String>,
}

pub async fn create(args: CreateArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let now = jiff::Timestamp::now();
    let name = backup_name(&args, now)?;
    let backup = match &args.from_schedule {
        Some(schedule) => {
            let mut backup = from_schedule(&name, schedule, now, globals).await?;
            // Velero puts --labels and --annotations on a backup from a schedule too (over
            // the template's labels); only the spec flags are ignored.
            let meta = &mut backup.metadata;
            for (flag, items, map) in [
                ("labels", &args.labels, &mut meta.labels),
                ("annotations", &args.annotations, &mut meta.annotations),
            ] {
                if let Some(given) = key_values(flag, items)? {
                    map.get_or_insert_with(Default::default).extend(given);
                }
            }
            backup
        }
        None => build(&args, &globals.namespace())?,
    };
    if let Some(format) = args.output {
        print!("{}", super::get::render(format, &[backup])?);
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = Cluster::connect(globals).await?;
    let api: Api<Backup> = cluster.api();
    let name = &name;
    match api.create(&PostParams::default(), &backup).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => bail!(
            "backup {name:?} already exists in namespace {}; choose another name, or delete the \
             old one first (kubectl -n {} delete backup {name})",
            cluster.namespace,
            cluster.namespace
        ),
        Err(e) => return Err(e).context("cannot create the backup"),
    }
    println!("Backup request {name:?} submitted successfully.");
    if !args.wait {
        println!(
            "Run `veloxide backup describe {name}` or `veloxide backup logs {name}` for more details."
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Waiting for backup to complete. You may safely press ctrl-c to stop waiting - your backup will continue in the background."
    );
    let backup = wait_terminal(&api, name).await?;
    let phase = backup.phase();
    println!(
        "Backup completed with status: {}. You may check for more information using the commands `veloxide backup describe {name}` and `veloxide backup logs {name}`.",
        phase.as_str()
    );
    let status = backup.status.unwrap_or_default();
    for e in status.validation_errors.iter().flatten() {
        println!("Validation error: {e}");
    }
    if let Some(reason) = &status.failure_reason {
        println!("Failure reason: {reason}");
    }
    Ok(if phase == BackupPhase::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// NAME, or with `--from-schedule` and no NAME the name Velero gives such a backup
/// (`velero backup create --from-schedule` names it as its schedule controller would).
fn backup_name(args: &CreateArgs, now: jiff::Timestamp) -> Result<String, UsageError> {
    match (&args.name, &args.from_schedule) {
        (Some(name), _) => Ok(name.clone()),
        (None, Some(schedule)) => Ok(crate::schedule::backup_name(schedule, now)),
        (None, None) => Err(UsageError(
            "a backup needs a NAME: `veloxide backup create NAME [flags]`, or \
             `veloxide backup create --from-schedule SCHEDULE`, which names it \
             SCHEDULE-<UTC time>"
                .into(),
        )),
    }
}

/// The schedule's Backup (`schedule::backup_for`), named `name`.
async fn from_schedule(
    name: &str,
    schedule: &str,
    now: jiff::Timestamp,
    globals: &Globals,
) -> anyhow::Result<Backup> {
    let cluster = Cluster::connect(globals).await?;
    let api: Api<crate::api::Schedule> = Api::namespaced(cluster.client, &cluster.namespace);
    let schedule = api.get_opt(schedule).await?.with_context(|| {
        format!(
            "schedule {schedule:?} not found in namespace {}",
            cluster.namespace
        )
    })?;
    let mut backup = crate::schedule::backup_for(&schedule, now);
    backup.metadata.name = Some(name.to_owned());
    backup.metadata.owner_references = None;
    Ok(backup)
}

/// Poll until the backup reaches a terminal phase, showing its progress.
async fn wait_terminal(api: &Api<Backup>, name: &str) -> anyhow::Result<Backup> {
    let mut display = Display::new();
    loop {
        let backup = api
            .get_opt(name)
            .await?
            .with_context(|| format!("backup {name:?} was deleted while waiting for it"))?;
        let snapshot = Snapshot::of_backup(&backup, jiff::Timestamp::now());
        if backup.phase().is_terminal() {
            display.finish(&snapshot);
            return Ok(backup);
        }
        display.update(&snapshot);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The Backup the flags describe, as Velero's `BuildBackup` makes it.
pub fn build(args: &CreateArgs, namespace: &str) -> anyhow::Result<Backup> {
    let backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": backup_name(args, jiff::Timestamp::now())?, "namespace": namespace,
                     "labels": key_values("labels", &args.labels)?,
                     "annotations": key_values("annotations", &args.annotations)?},
        "spec": args.spec.spec()?,
    }))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::super::super::selector::parse_selector;
    use super::*;

    fn args(line: &[&str]) -> CreateArgs {
        crate::cli::parse_flags(line)
    }

    #[test]
    fn the_name_comes_from_the_schedule_only_when_none_is_given() {
        let noon: jiff::Timestamp = "2026-12-06T12:00:05Z".parse().unwrap();
        let named = args(&["by-hand", "--from-schedule", "nightly"]);
        assert_eq!(backup_name(&named, noon).unwrap(), "by-hand");
        let unnamed = args(&["--from-schedule", "nightly"]);
        assert_eq!(
            backup_name(&unnamed, noon).unwrap(),
            "nightly-20261206120005"
        );
        let neither = args(&["--include-namespaces", "app"]);
        let refused = backup_name(&neither, noon).unwrap_err().to_string();
        assert!(refused.contains("needs a NAME") && refused.contains("--from-schedule"));
        assert!(build(&neither, "velero").is_err());
    }

    #[test]
    fn flags_become_velero_spec_fields() {
        let a = args(&[
            "nightly",
            "--include-namespaces",
            "app-a,app-b",
            "--exclude-resources=secrets",
            "--include-cluster-resources",
            "--selector",
            "app=web,tier in (a, b),!legacy",
            "--storage-location",
            "kms",
            "--ttl",
            "24h",
            "--labels",
            "team=shop",
        ]);
        let backup = serde_json::to_value(build(&a, "velero").unwrap()).unwrap();
        assert_eq!(
            backup["spec"],
            json!({
                "includedNamespaces": ["app-a", "app-b"],
                "excludedResources": ["secrets"],
                "includeClusterResources": true,
                "labelSelector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["a", "b"]},
                        {"key": "legacy", "operator": "DoesNotExist"},
                    ],
                },
                "storageLocation": "kms",
                "ttl": "24h0m0s",
            })
        );
        assert_eq!(backup["metadata"]["labels"], json!({"team": "shop"}));
    }

    #[test]
    fn defaults_are_velero_defaults() {
        let backup = serde_json::to_value(build(&args(&["b1"]), "velero").unwrap()).unwrap();
        assert_eq!(
            backup["spec"],
            json!({"includedNamespaces": ["*"], "ttl": "720h0m0s"})
        );
        let a = args(&["b1", "--include-cluster-resources=false"]);
        assert_eq!(a.spec.include_cluster_resources, Some(false));
    }

    #[test]
    fn bad_selectors_and_labels_are_refused() {
        for s in ["a,,b", "tier in a,b", "a b"] {
            assert!(parse_selector(s).is_err(), "{s:?}");
        }
        assert!(build(&args(&["b1", "--labels", "novalue"]), "velero").is_err());
    }
}
