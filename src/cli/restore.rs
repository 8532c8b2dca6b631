//! `veloxide restore create|get|describe|logs|delete`, as Velero's commands behave.

pub(super) mod create;
pub(super) mod delete;
pub(super) mod get;

pub use create::CreateArgs;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use kube::Api;

use super::backup::{Common, DescribeArgs, print_file};
use super::cluster::{Cluster, Globals};
use super::fetch::{download, resolve_trust};
use super::output::print_outcome;
use super::progress::Snapshot;
use crate::api::{Backup, DownloadTargetKind, Restore};

#[derive(Subcommand, Debug)]
pub enum RestoreCommand {
    /// Create a restore from a backup; with --wait, wait for it to finish.
    Create(Box<CreateArgs>),
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

impl RestoreCommand {
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            RestoreCommand::Create(args) => {
                let dry_run = args.dry_run;
                let (code, name) = create::create(*args, globals).await?;
                if !dry_run {
                    return Ok(code);
                }
                // A dry run's report: the restore described with what it would do to each
                // object; the exit status stays the run's (1 when anything would be refused).
                let common = Common {
                    name,
                    download: super::fetch::DownloadArgs {
                        cacert: None,
                        insecure_skip_tls_verify: false,
                        timeout: std::time::Duration::from_secs(60),
                    },
                };
                describe(
                    DescribeArgs {
                        common,
                        details: true,
                    },
                    globals,
                )
                .await?;
                Ok(code)
            }
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
    if let Some(h) = &status.hook_status {
        println!("HooksAttempted:  {}", h.hooks_attempted.unwrap_or(0));
        println!("HooksFailed:     {}", h.hooks_failed.unwrap_or(0));
    }
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
