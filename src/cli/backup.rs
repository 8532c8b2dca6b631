//! `veloxide backup create|get|describe|download|logs`, as Velero's commands behave.

pub(super) mod create;
pub(super) mod delete;
pub(super) mod get;
pub(super) mod spec;
mod volumes;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use kube::Api;

use super::cluster::{Cluster, Globals};
use super::fetch::{DownloadArgs, download, resolve_trust};
use super::output::print_outcome;
use super::progress::Snapshot;
use crate::api::{Backup, DownloadTargetKind};

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Create a backup (Velero's flags); with --wait, wait for it to finish.
    Create(create::CreateArgs),
    /// List backups, or show the named ones, as a table, YAML or JSON.
    Get(get::GetArgs),
    /// Ask for backups to be deleted: their files, their restores, then the objects.
    Delete(delete::DeleteArgs),
    /// Show a backup's status, progress while it runs, results and (with --details) its
    /// resource list and each volume (claim, driver, snapshot handle, size, ready).
    Describe(DescribeArgs),
    /// Download a backup's archive (`NAME-data.tar.gz` unless -o is given).
    Download {
        #[command(flatten)]
        common: Common,
        /// Where to write the archive.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Overwrite the file when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print a backup's log.
    Logs {
        #[command(flatten)]
        common: Common,
    },
}

/// What every command here that reads one backup takes.
#[derive(Args, Debug)]
pub struct Common {
    pub name: String,
    #[command(flatten)]
    pub download: DownloadArgs,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also list every resource the backup (or restore) holds.
    #[arg(long)]
    pub details: bool,
}

impl BackupCommand {
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            BackupCommand::Create(args) => create::create(args, globals).await,
            BackupCommand::Get(args) => get::get(args, globals).await,
            BackupCommand::Delete(args) => delete::delete(args, globals).await,
            BackupCommand::Describe(args) => describe(args, globals).await,
            BackupCommand::Download {
                common,
                output,
                force,
            } => {
                let path =
                    output.unwrap_or_else(|| PathBuf::from(format!("{}-data.tar.gz", common.name)));
                if path.exists() && !force {
                    bail!(
                        "file {} already exists; use --force to overwrite it",
                        path.display()
                    );
                }
                let (cluster, backup) = get(&common, globals).await?;
                let trust =
                    resolve_trust(&cluster, &location_of(&backup), &common.download).await?;
                let mut file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let kind = DownloadTargetKind::BackupContents;
                if let Err(e) = download(
                    &cluster,
                    kind,
                    &common.name,
                    &trust,
                    &common.download,
                    &mut file,
                )
                .await
                {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
                println!(
                    "Backup {} has been successfully downloaded to {}",
                    common.name,
                    path.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            BackupCommand::Logs { common } => {
                let (cluster, backup) = get(&common, globals).await?;
                let trust =
                    resolve_trust(&cluster, &location_of(&backup), &common.download).await?;
                let kind = DownloadTargetKind::BackupLog;
                let mut out = std::io::stdout().lock();
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

fn location_of(backup: &Backup) -> String {
    backup.spec.storage_location.clone().unwrap_or_default()
}

async fn get(common: &Common, globals: &Globals) -> anyhow::Result<(Cluster, Backup)> {
    let cluster = Cluster::connect(globals).await?;
    let api: Api<Backup> = cluster.api();
    let backup = api.get_opt(&common.name).await?.with_context(|| {
        format!(
            "backup {:?} not found in namespace {}",
            common.name, cluster.namespace
        )
    })?;
    Ok((cluster, backup))
}

async fn describe(args: DescribeArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let DescribeArgs { common, details } = args;
    let (cluster, backup) = get(&common, globals).await?;
    let status = backup.status.clone().unwrap_or_default();
    println!("Name:         {}", common.name);
    println!("Namespace:    {}", cluster.namespace);
    println!("Phase:        {}", backup.phase().as_str());
    print_outcome(
        status.validation_errors.as_deref(),
        status.failure_reason.as_deref(),
        status.errors,
        status.warnings,
    );
    println!();
    println!("Storage Location: {}", location_of(&backup));
    if let Some(e) = &status.encryption {
        println!(
            "Encryption:       {}{}",
            e.mode.as_deref().unwrap_or("unknown"),
            if e.verified == Some(true) {
                " (verified by HEAD)"
            } else {
                ""
            }
        );
    }
    let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref().map_or("<n/a>".to_owned(), |t| t.0.to_string())
    };
    println!("Started:    {}", time(&status.start_timestamp));
    println!("Completed:  {}", time(&status.completion_timestamp));
    println!("Expiration: {}", time(&status.expiration));
    if let Some(p) = &status.progress {
        println!(
            "Total items to be backed up:  {}",
            p.total_items.unwrap_or(0)
        );
        println!(
            "Items backed up:              {}",
            p.items_backed_up.unwrap_or(0)
        );
    }
    if let Some(t) = &status.phase_millis {
        // veloxide's own: where the time went (listing, encoding and upload overlap).
        println!("Time per phase:");
        for (name, ms) in t.phases() {
            println!("  {:<22}{:.3}s", format!("{name}:"), ms as f64 / 1000.0);
        }
    }
    if let Some(h) = &status.hook_status {
        println!("HooksAttempted:  {}", h.hooks_attempted.unwrap_or(0));
        println!("HooksFailed:     {}", h.hooks_failed.unwrap_or(0));
    }
    if !backup.phase().is_terminal() {
        if status.start_timestamp.is_some() {
            let now = jiff::Timestamp::now();
            println!("Progress:     {}", Snapshot::of_backup(&backup, now).line());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if status.start_timestamp.is_none() {
        return Ok(ExitCode::SUCCESS);
    }
    print_pod_volume_backups(&cluster, &common.name, details).await;
    let trust = resolve_trust(&cluster, &location_of(&backup), &common.download).await?;
    println!();
    print_file(
        &cluster,
        DownloadTargetKind::BackupResults,
        &common,
        &trust,
        "Results",
    )
    .await;
    if details {
        print_file(
            &cluster,
            DownloadTargetKind::BackupResourceList,
            &common,
            &trust,
            "Resource List",
        )
        .await;
        if status.hook_status.is_some() {
            print_hooks(&cluster, &common, &trust).await;
        }
        print_volumes(&cluster, &common, &trust).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The backup's PodVolumeBackups (labelled with its name), as Velero's describe lists them
/// from the cluster; nothing when there are none. A failed list is said, not fatal.
async fn print_pod_volume_backups(cluster: &Cluster, name: &str, details: bool) {
    let api: kube::Api<crate::api::PodVolumeBackup> = cluster.api();
    let selector = format!(
        "{}={}",
        crate::api::delete::BACKUP_NAME_LABEL,
        crate::api::label::valid_name(name)
    );
    match api
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
    {
        Ok(list) => {
            let lines = volumes::pod_volume_lines(&list.items, details);
            if !lines.is_empty() {
                println!();
            }
            for line in lines {
                println!("{line}");
            }
        }
        Err(e) => println!("\nPod Volume Backups:\n  <error getting pod volume backups: {e}>"),
    }
}

/// Each volume the backup took (its `-volumeinfo.json.gz`), as Velero's "CSI Snapshots".
async fn print_volumes(cluster: &Cluster, common: &Common, trust: &super::trust::Trust) {
    match fetched(
        cluster,
        DownloadTargetKind::BackupVolumeInfos,
        common,
        trust,
    )
    .await
    {
        Ok(bytes) => {
            let infos: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            // Velero's one line for a backup that took no claim (its list is empty).
            if infos.as_array().is_none_or(Vec::is_empty) {
                println!("CSI Snapshots: <none included>");
                return;
            }
            println!("CSI Snapshots:");
            for line in volumes::lines(&infos) {
                println!("  {line}");
            }
        }
        // No volume information file: a backup from before Velero 1.13 (or veloxide before it
        // wrote one for backups without claims), which Velero describes so.
        Err(e) if e.downcast_ref::<super::fetch::NotFound>().is_some() => {
            println!("CSI Snapshots: <none included or not detectable>")
        }
        Err(e) => println!("CSI Snapshots:\n  <error getting volume information: {e:#}>"),
    }
}

/// One of the backup's files, whole, through a DownloadRequest.
async fn fetched(
    cluster: &Cluster,
    kind: DownloadTargetKind,
    common: &Common,
    trust: &super::trust::Trust,
) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    download(
        cluster,
        kind,
        &common.name,
        trust,
        &common.download,
        &mut bytes,
    )
    .await?;
    Ok(bytes)
}

/// Download a JSON side file and print it under `title`; a failure is printed, not fatal
/// (Velero's describe does the same).
pub(super) async fn print_file(
    cluster: &Cluster,
    kind: DownloadTargetKind,
    common: &Common,
    trust: &super::trust::Trust,
    title: &str,
) {
    match fetched(cluster, kind, common, trust).await {
        Ok(bytes) => {
            let text = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| serde_norway::to_string(&v).ok())
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            println!("{title}:");
            for line in text.lines() {
                println!("  {line}");
            }
        }
        Err(e) => println!(
            "{title}:\n  <error getting {}: {e:#}>",
            title.to_lowercase()
        ),
    }
}

/// Each hook and its outcome, from the backup's log (the lines every hook writes there).
async fn print_hooks(cluster: &Cluster, common: &Common, trust: &super::trust::Trust) {
    match fetched(cluster, DownloadTargetKind::BackupLog, common, trust).await {
        Ok(bytes) => {
            println!("Hooks:");
            for line in String::from_utf8_lossy(&bytes).lines() {
                if let Some(hook) = crate::hooks::outcome::from_log_line(line) {
                    println!("  {hook}");
                }
            }
        }
        Err(e) => println!("Hooks:\n  <error getting the backup log: {e:#}>"),
    }
}
