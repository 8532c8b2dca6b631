//! `veloxide backup-location delete NAME... | --selector S | --all [--confirm]`.
//!
//! Deletes the location objects only (and, through its owner reference, the CA Secret
//! `backup-location create --cacert` made for it). Unlike Velero, the Backup objects made to a
//! location are left in place: the bucket is the source of truth, and a Backup object is its
//! cache, which comes back by itself when a location for that bucket is created again.
//! Nothing in the bucket is touched.

use std::process::ExitCode;

use clap::Args;
use kube::Api;
use kube::api::ListParams;

use super::super::cluster::{Cluster, Globals};
use super::super::select::{SelectArgs, confirmed, delete_one};
use crate::api::backup::STORAGE_LOCATION_LABEL;
use crate::api::{Backup, BackupStorageLocation};

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub select: SelectArgs,
}

pub async fn delete(args: DeleteArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let selection = args.select.selection("backup-location")?;
    let cluster = Cluster::connect(globals).await?;
    let api: Api<BackupStorageLocation> = cluster.api();
    let names = selection.names(&api, "backup storage locations").await?;
    if names.is_empty() {
        println!("No backup-locations found");
        return Ok(ExitCode::SUCCESS);
    }
    let prompt = format!(
        "You are about to delete {} backup storage location(s) in namespace {}: {}\n\
         Nothing in the bucket is deleted, and backups made to them stay listed.",
        names.len(),
        cluster.namespace,
        names.join(", ")
    );
    if !confirmed(args.select.confirm, &prompt)? {
        println!("Nothing was deleted.");
        return Ok(ExitCode::FAILURE);
    }
    let backups: Api<Backup> = cluster.api();
    let mut failed = false;
    for name in &names {
        if !delete_one(&api, name, "backup storage location", &cluster.namespace).await {
            failed = true;
            continue;
        }
        println!("Backup storage location {name:?} deleted successfully.");
        let selector = format!("{STORAGE_LOCATION_LABEL}={name}");
        if let Ok(list) = backups.list(&ListParams::default().labels(&selector)).await
            && !list.items.is_empty()
        {
            println!(
                "  {} backup(s) made to it stay, as do their files in the bucket.",
                list.items.len()
            );
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
