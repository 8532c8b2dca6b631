//! `veloxide restore create`: Velero's flags, each mapped to the Restore's spec or metadata.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use jiff::Timestamp;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;

use super::super::cluster::{Cluster, Globals};
use super::super::progress::{Display, Snapshot};
use super::super::selector::{parse_or_selector, parse_selector};
use super::super::usage::go_duration;
use super::super::usage::{UsageError, key_values, non_empty};
use crate::api::{Backup, BackupPhase, Restore, RestorePhase};

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The restore's name (default: BACKUP-YYYYMMDDHHMMSS, or SCHEDULE-... with --from-schedule).
    pub name: Option<String>,
    /// The backup to restore from.
    #[arg(
        long,
        required_unless_present = "from_schedule",
        conflicts_with = "from_schedule"
    )]
    pub from_backup: Option<String>,
    /// Restore the schedule's most recent Completed backup (chosen by the server).
    #[arg(long)]
    pub from_schedule: Option<String>,
    /// With --from-schedule: take its most recent Completed or PartiallyFailed backup (chosen
    /// here, as Velero's CLI does).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub allow_partially_failed: Option<bool>,
    /// Namespaces to restore (comma-separated; `*` for all).
    #[arg(long, value_delimiter = ',')]
    pub include_namespaces: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub include_resources: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Restore cluster-scoped resources (`--include-cluster-resources` alone means true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub include_cluster_resources: Option<bool>,
    /// Only restore items matching this label selector.
    #[arg(short = 'l', long, value_parser = super::super::output::selector_arg)]
    pub selector: Option<String>,
    /// Items matching any of these selectors (`a=b or c=d`, Velero's syntax).
    #[arg(long)]
    pub or_selector: Option<String>,
    /// `src1:dst1,src2:dst2`: restore the backup's namespace src1 into dst1, ...
    #[arg(long, value_delimiter = ',')]
    pub namespace_mappings: Vec<String>,
    /// `none` (leave existing objects) or `update` (make them match the backup).
    #[arg(long)]
    pub existing_resource_policy: Option<String>,
    /// Keep the node ports of Services (default: let the cluster choose new ones).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub preserve_nodeports: Option<bool>,
    /// Restore persistent volumes (Velero's `restorePVs`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub restore_volumes: Option<bool>,
    /// Restore the `.status` of these resources (Velero's `restoreStatus`).
    #[arg(long, value_delimiter = ',')]
    pub status_include_resources: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub status_exclude_resources: Vec<String>,
    /// A ConfigMap of resource modifier rules (Velero's `resourceModifier`).
    #[arg(long)]
    pub resource_modifier_configmap: Option<String>,
    /// How long asynchronous item operations may take (Go duration).
    #[arg(long, value_parser = go_duration)]
    pub item_operation_timeout: Option<String>,
    /// Labels to put on the restore itself (`k=v,k2=v2`).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Annotations to put on the restore itself (`k=v,k2=v2`).
    #[arg(long, value_delimiter = ',')]
    pub annotations: Vec<String>,
    /// Wait for the restore to finish, showing its progress; then exit 1 unless it Completed.
    #[arg(short = 'w', long)]
    pub wait: bool,
    /// veloxide extension (`spec.dryRun`): change nothing; server-side dry-run requests show
    /// per object what the restore would create, update, skip as existing, or have refused by
    /// RBAC or admission. Waits, then prints that list.
    #[arg(long)]
    pub dry_run: bool,
}

/// `src:dst` pairs into a map, refusing anything else.
fn mappings(pairs: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    pairs
        .iter()
        .map(|p| match p.split_once(':') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_owned(), b.to_owned())),
            _ => Err(UsageError(format!(
                "--namespace-mappings: {p:?} is not SOURCE:TARGET"
            ))),
        })
        .collect()
}

/// The Restore the flags describe, from `backup` (a name) or the schedule; as Velero's CLI
/// builds it. `backup` is the chosen backup when --allow-partially-failed picked one.
pub fn build(
    args: &CreateArgs,
    namespace: &str,
    now: Timestamp,
    backup: Option<&str>,
) -> anyhow::Result<Restore> {
    if args.allow_partially_failed.is_some() && args.from_schedule.is_none() {
        return Err(UsageError(
            "--allow-partially-failed chooses among a schedule's backups; use it with \
             --from-schedule"
                .into(),
        )
        .into());
    }
    let backup = backup.or(args.from_backup.as_deref());
    // A backup chosen for the schedule replaces it as the source: a Restore names one.
    let schedule = args.from_schedule.as_deref().filter(|_| backup.is_none());
    let source = backup.or(schedule).unwrap_or_default();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{source}-{}", now.strftime("%Y%m%d%H%M%S")));
    let list = non_empty;
    let selector = args.selector.as_deref().map(parse_selector).transpose()?;
    let or_selectors = args
        .or_selector
        .as_deref()
        .map(parse_or_selector)
        .transpose()?;
    let restore_status = (!args.status_include_resources.is_empty()
        || !args.status_exclude_resources.is_empty())
    .then(|| {
        json!({
            "includedResources": list(&args.status_include_resources),
            "excludedResources": list(&args.status_exclude_resources),
        })
    });
    let modifier = args
        .resource_modifier_configmap
        .as_ref()
        .map(|name| json!({"kind": "ConfigMap", "name": name}));
    let mapping = mappings(&args.namespace_mappings)?;
    let restore = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": key_values("labels", &args.labels)?,
                     "annotations": key_values("annotations", &args.annotations)?},
        "spec": {
            "backupName": backup.unwrap_or_default(),
            "scheduleName": schedule,
            "includedNamespaces": list(&args.include_namespaces),
            "excludedNamespaces": list(&args.exclude_namespaces),
            "includedResources": list(&args.include_resources),
            "excludedResources": list(&args.exclude_resources),
            "includeClusterResources": args.include_cluster_resources,
            "labelSelector": selector,
            "orLabelSelectors": or_selectors,
            "namespaceMapping": (!mapping.is_empty()).then_some(mapping),
            "existingResourcePolicy": args.existing_resource_policy,
            "preserveNodePorts": args.preserve_nodeports,
            "restorePVs": args.restore_volumes,
            "restoreStatus": restore_status,
            "resourceModifier": modifier,
            "itemOperationTimeout": args.item_operation_timeout,
            "dryRun": args.dry_run.then_some(true),
        },
    }))?;
    Ok(restore)
}

/// The schedule's most recent backup that Completed or PartiallyFailed (Velero's
/// `--allow-partially-failed`), by start time.
fn most_recent(backups: &[Backup]) -> Option<&Backup> {
    backups
        .iter()
        .filter(|b| {
            matches!(
                b.phase(),
                BackupPhase::Completed | BackupPhase::PartiallyFailed
            )
        })
        .max_by_key(|b| {
            let status = b.status.as_ref();
            let start = status.and_then(|s| s.start_timestamp.as_ref()).map(|t| t.0);
            (start, b.metadata.name.clone())
        })
}

/// Create the restore (and wait, with --wait or --dry-run); returns the exit status and the
/// restore's name.
pub async fn create(args: CreateArgs, globals: &Globals) -> anyhow::Result<(ExitCode, String)> {
    let cluster = Cluster::connect(globals).await?;
    let chosen = match (&args.from_schedule, args.allow_partially_failed) {
        (Some(schedule), Some(true)) => {
            let backups: Api<Backup> = cluster.api();
            let label = format!("{}={schedule}", crate::api::backup::SCHEDULE_LABEL);
            let list = backups.list(&ListParams::default().labels(&label)).await?;
            let backup = most_recent(&list.items).with_context(|| {
                format!("no completed or partially failed backups found for schedule {schedule:?}")
            })?;
            backup.metadata.name.clone()
        }
        _ => None,
    };
    let restore = build(
        &args,
        &cluster.namespace,
        Timestamp::now(),
        chosen.as_deref(),
    )?;
    let name = restore.metadata.name.clone().unwrap_or_default();
    let api: Api<Restore> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.create(&PostParams::default(), &restore)
        .await
        .context("cannot create the restore")?;
    println!("Restore request {name:?} submitted successfully.");
    if !args.wait && !args.dry_run {
        println!(
            "Run `veloxide restore describe {name}` or `veloxide restore logs {name}` for more details."
        );
        return Ok((ExitCode::SUCCESS, name));
    }
    println!(
        "Waiting for restore to complete. You may safely press ctrl-c to stop waiting - your restore will continue in the background."
    );
    let mut display = Display::new();
    loop {
        let restore = api.get(&name).await?;
        let snapshot = Snapshot::of_restore(&restore, Timestamp::now());
        let phase = restore.phase();
        if phase.is_terminal() {
            display.finish(&snapshot);
            if args.dry_run {
                // The caller prints the report (`cli::restore`).
                println!("Dry run: nothing in the cluster was changed. What the restore would do:");
            }
            println!(
                "Restore completed with status: {}. You may check for more information using the commands `veloxide restore describe {name}` and `veloxide restore logs {name}`.",
                phase.as_str()
            );
            let code = if phase == RestorePhase::Completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
            return Ok((code, name));
        }
        display.update(&snapshot);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> CreateArgs {
        crate::cli::parse_flags(line)
    }

    fn spec(line: &[&str]) -> serde_json::Value {
        let now: Timestamp = "2026-12-06T12:00:05Z".parse().unwrap();
        serde_json::to_value(build(&args(line), "velero", now, None).unwrap()).unwrap()
    }

    #[test]
    fn every_velero_flag_becomes_its_spec_field() {
        let r = spec(&[
            "r1",
            "--from-backup",
            "b1",
            "--include-cluster-resources",
            "--selector",
            "app=web",
            "--or-selector",
            "tier=a or tier=b",
            "--preserve-nodeports",
            "--restore-volumes=false",
            "--status-include-resources",
            "widgets.example.com",
            "--status-exclude-resources",
            "pods",
            "--resource-modifier-configmap",
            "rules",
            "--item-operation-timeout",
            "2h",
            "--existing-resource-policy",
            "update",
            "--namespace-mappings",
            "shop:shop-copy",
            "--labels",
            "team=shop",
            "--annotations",
            "ticket=OPS-1",
        ]);
        assert_eq!(r["metadata"]["name"], "r1");
        assert_eq!(r["metadata"]["labels"], json!({"team": "shop"}));
        assert_eq!(r["metadata"]["annotations"], json!({"ticket": "OPS-1"}));
        let s = &r["spec"];
        assert_eq!(s["backupName"], "b1");
        assert_eq!(s["includeClusterResources"], true);
        assert_eq!(s["labelSelector"], json!({"matchLabels": {"app": "web"}}));
        assert_eq!(
            s["orLabelSelectors"],
            json!([{"matchLabels": {"tier": "a"}}, {"matchLabels": {"tier": "b"}}])
        );
        assert_eq!(s["preserveNodePorts"], true);
        assert_eq!(s["restorePVs"], false);
        assert_eq!(
            s["restoreStatus"],
            json!({"includedResources": ["widgets.example.com"], "excludedResources": ["pods"]})
        );
        assert_eq!(
            s["resourceModifier"],
            json!({"kind": "ConfigMap", "name": "rules"})
        );
        assert_eq!(s["itemOperationTimeout"], "2h0m0s");
        assert_eq!(s["existingResourcePolicy"], "update");
        assert_eq!(s["namespaceMapping"], json!({"shop": "shop-copy"}));
        assert!(s.get("dryRun").is_none());
        assert_eq!(
            spec(&["--from-backup", "b1", "--dry-run"])["spec"]["dryRun"],
            true
        );
    }

    #[test]
    fn a_schedule_is_the_source_and_names_the_restore() {
        let r = spec(&["--from-schedule", "nightly"]);
        assert_eq!(r["metadata"]["name"], "nightly-20261206120005");
        assert_eq!(r["spec"]["scheduleName"], "nightly");
        assert_eq!(r["spec"]["backupName"], "");
        // Unset flags stay unset: the server's defaults apply, as with Velero.
        for field in ["restorePVs", "preserveNodePorts", "includeClusterResources"] {
            assert!(r["spec"].get(field).is_none(), "{field}: {r}");
        }
        // A backup chosen with --allow-partially-failed replaces the schedule as the source.
        let now: Timestamp = "2026-12-06T12:00:05Z".parse().unwrap();
        let a = args(&["--from-schedule", "nightly", "--allow-partially-failed"]);
        let chosen = build(&a, "velero", now, Some("nightly-20261205020000")).unwrap();
        assert_eq!(chosen.spec.backup_name, "nightly-20261205020000");
        assert_eq!(chosen.spec.schedule_name, None);
    }

    #[test]
    fn the_latest_completed_or_partially_failed_backup_is_chosen() {
        let backup = |name: &str, phase: &str, start: &str| -> Backup {
            serde_json::from_value(json!({
                "apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": "velero"},
                "spec": {},
                "status": {"phase": phase, "startTimestamp": start},
            }))
            .unwrap()
        };
        let list = [
            backup("n-1", "Completed", "2026-12-04T02:00:00Z"),
            backup("n-2", "PartiallyFailed", "2026-12-05T02:00:00Z"),
            backup("n-3", "Failed", "2026-12-06T02:00:00Z"),
        ];
        assert_eq!(
            most_recent(&list).unwrap().metadata.name.as_deref(),
            Some("n-2")
        );
        assert!(most_recent(&list[2..]).is_none());
    }

    #[test]
    fn a_source_is_required_and_only_one() {
        use clap::Parser as _;
        let parse = |line: &[&str]| {
            let mut argv = vec!["veloxide", "restore", "create"];
            argv.extend_from_slice(line);
            crate::cli::Cli::try_parse_from(argv)
        };
        assert!(parse(&["r1"]).is_err());
        assert!(parse(&["r1", "--from-backup", "b", "--from-schedule", "s"]).is_err());
        assert!(parse(&["--from-schedule", "s"]).is_ok());
        let bad = build(
            &args(&["r1", "--from-backup", "b", "--labels", "novalue"]),
            "velero",
            Timestamp::now(),
            None,
        );
        assert!(bad.unwrap_err().to_string().contains("--labels"));
        let stray = args(&["r1", "--from-backup", "b", "--allow-partially-failed"]);
        let refused = build(&stray, "velero", Timestamp::now(), None).unwrap_err();
        assert!(refused.to_string().contains("--from-schedule"), "{refused}");
    }
}
