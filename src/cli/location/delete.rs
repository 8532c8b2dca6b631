//! `veloxide backup-location delete NAME... | --selector S | --all [--confirm]`.
//!
//! Deletes the location objects only (and, through its owner reference, the CA Secret
//! `backup-location create --cacert` made for it). Unlike Velero, the Backup objects made to a
//! location are left in place: the bucket is the source of truth, and a Backup object is its
//! cache, which comes back by itself when a location for that bucket is created again.
//! Nothing in the bucket is touched.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use super::super::select::{SelectArgs, Selection, confirmed};
use super::super::{Cluster, Globals};
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
    let names: Vec<String> = match selection {
        Selection::Names(names) => names,
        Selection::Selector(selector) => api
            .list(&ListParams::default().labels(&selector))
            .await
            .context("cannot list backup storage locations")?
            .items
            .into_iter()
            .filter_map(|l| l.metadata.name)
            .collect(),
    };
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
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
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
            Err(kube::Error::Api(e)) if e.code == 404 => {
                eprintln!(
                    "backup storage location {name:?} not found in namespace {}",
                    cluster.namespace
                );
                failed = true;
            }
            Err(e) => {
                eprintln!("backup storage location {name:?}: cannot delete: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
