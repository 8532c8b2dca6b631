//! `veloxide restore create|get|describe|logs|delete`, as Velero's commands behave.

pub(super) mod delete;
pub(super) mod get;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::backup::{Common, DescribeArgs, print_file};
use super::cluster::{Cluster, Globals};
use super::fetch::{download, resolve_trust};
use super::output::print_outcome;
use super::progress::{Display, Snapshot};
use super::usage::UsageError;
use crate::api::{Backup, DownloadTargetKind, Restore, RestorePhase};

#[derive(Subcommand, Debug)]
pub enum RestoreCommand {
    /// Create a restore from a backup; with --wait, wait for it to finish.
    Create(CreateArgs),
    /// List restores, or show the named ones, as a table, YAML or JSON.
    Get(get::GetArgs),
    /// Show a restore's status, progress while it runs, results and (with --details) what it
    /// did to each object.
    Describe(DescribeArgs),
    /// Print a restore's log.
    Logs(Common),
    /// Delete restores (with their files under restores/NAME/ in the store, nothing else).
    Delete(delete::DeleteArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The restore's name (default: BACKUP-YYYYMMDDHHMMSS).
    pub name: Option<String>,
    /// The backup to restore from.
    #[arg(long)]
    pub from_backup: String,
    /// Namespaces to restore (comma-separated; `*` for all).
    #[arg(long, value_delimiter = ',')]
    pub include_namespaces: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub include_resources: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// `src1:dst1,src2:dst2`: restore the backup's namespace src1 into dst1, ...
    #[arg(long, value_delimiter = ',')]
    pub namespace_mappings: Vec<String>,
    /// `none` (leave existing objects) or `update` (make them match the backup).
    #[arg(long)]
    pub existing_resource_policy: Option<String>,
    /// Wait for the restore to finish, showing its progress; then exit 1 unless it Completed.
    #[arg(short = 'w', long)]
    pub wait: bool,
}

impl RestoreCommand {
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            RestoreCommand::Create(args) => create(args, globals).await,
            RestoreCommand::Get(args) => get::get(args, globals).await,
            RestoreCommand::Describe(args) => describe(args, globals).await,
            RestoreCommand::Delete(args) => delete::delete(args, globals).await,
            RestoreCommand::Logs(common) => {
                let (cluster, _, location) = get(&common, globals).await?;
                let trust = resolve_trust(&cluster, &location, &common.download).await?;
                let mut out = std::io::stdout().lock();
                let kind = DownloadTargetKind::RestoreLog;
                download(
                    &cluster,
                    kind,
                    &common.name,
                    &trust,
                    &common.download,
                    &mut out,
                )
                .await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// `src:dst` pairs into a map, refusing anything else.
fn mappings(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once(':') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_owned(), b.to_owned())),
            _ => {
                Err(UsageError(format!("--namespace-mappings: {p:?} is not SOURCE:TARGET")).into())
            }
        })
        .collect()
}

async fn create(args: CreateArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let cluster = Cluster::connect(globals).await?;
    let name = args.name.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            args.from_backup,
            jiff::Zoned::now().strftime("%Y%m%d%H%M%S")
        )
    });
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let restore: Restore = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": {
            "backupName": args.from_backup,
            "includedNamespaces": list(&args.include_namespaces),
            "excludedNamespaces": list(&args.exclude_namespaces),
            "includedResources": list(&args.include_resources),
            "excludedResources": list(&args.exclude_resources),
            "namespaceMapping": mappings(&args.namespace_mappings)?,
            "existingResourcePolicy": args.existing_resource_policy,
        },
    }))?;
    let api: Api<Restore> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.create(&PostParams::default(), &restore)
        .await
        .context("cannot create the restore")?;
    println!("Restore request {name:?} submitted successfully.");
    if !args.wait {
        println!(
            "Run `veloxide restore describe {name}` or `veloxide restore logs {name}` for more details."
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Waiting for restore to complete. You may safely press ctrl-c to stop waiting - your restore will continue in the background."
    );
    let mut display = Display::new();
    loop {
        let restore = api.get(&name).await?;
        let snapshot = Snapshot::of_restore(&restore, jiff::Timestamp::now());
        let phase = restore.phase();
        if phase.is_terminal() {
            display.finish(&snapshot);
            println!(
                "Restore completed with status: {}. You may check for more information using the commands `veloxide restore describe {name}` and `veloxide restore logs {name}`.",
                phase.as_str()
            );
            return Ok(if phase == RestorePhase::Completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        display.update(&snapshot);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The restore, and the location of its backup (where its files are).
async fn get(common: &Common, globals: &Globals) -> anyhow::Result<(Cluster, Restore, String)> {
    let cluster = Cluster::connect(globals).await?;
    let api: Api<Restore> = cluster.api();
    let restore = api.get_opt(&common.name).await?.with_context(|| {
        format!(
            "restore {:?} not found in namespace {}",
            common.name, cluster.namespace
        )
    })?;
    // Velero's rule: a restore whose backup is gone has no location to take a CA from.
    let backups: Api<Backup> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let location = backups
        .get_opt(&restore.spec.backup_name)
        .await
        .ok()
        .flatten()
        .and_then(|b| b.spec.storage_location)
        .unwrap_or_default();
    Ok((cluster, restore, location))
}

async fn describe(args: DescribeArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let DescribeArgs { common, details } = args;
    let (cluster, restore, location) = get(&common, globals).await?;
    let status = restore.status.clone().unwrap_or_default();
    println!("Name:         {}", common.name);
    println!("Namespace:    {}", cluster.namespace);
    println!("Phase:        {}", restore.phase().as_str());
    if let Some(p) = &status.progress {
        println!(
            "Total items to be restored:  {}\nItems restored:              {}",
            p.total_items.unwrap_or(0),
            p.items_restored.unwrap_or(0)
        );
    }
    print_outcome(
        status.validation_errors.as_deref(),
        status.failure_reason.as_deref(),
        status.errors,
        status.warnings,
    );
    println!();
    println!("Backup:  {}", restore.spec.backup_name);
    if let Some(m) = &restore.spec.namespace_mapping {
        println!("Namespace mappings:");
        for (a, b) in m {
            println!("  {a}: {b}");
        }
    }
    println!(
        "Existing Resource Policy: {}",
        restore
            .spec
            .existing_resource_policy
            .as_deref()
            .unwrap_or("<none>")
    );
    if !restore.phase().is_terminal() {
        if status.start_timestamp.is_some() {
            let now = jiff::Timestamp::now();
            println!(
                "Progress:     {}",
                Snapshot::of_restore(&restore, now).line()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if status.start_timestamp.is_none() {
        return Ok(ExitCode::SUCCESS);
    }
    let trust = resolve_trust(&cluster, &location, &common.download).await?;
    println!();
    print_file(
        &cluster,
        DownloadTargetKind::RestoreResults,
        &common,
        &trust,
        "Results",
    )
    .await;
    if details {
        let kind = DownloadTargetKind::RestoreResourceList;
        print_file(&cluster, kind, &common, &trust, "Resource List").await;
    }
    Ok(ExitCode::SUCCESS)
}
