//! `veloxide restore delete NAME... | --selector S | --all [--confirm]`: deletes the Restore
//! objects; the server then removes each one's own files under `restores/<name>/` (its
//! finalizer) and nothing else in the store.

use std::process::ExitCode;

use clap::Args;
use kube::Api;

use super::super::cluster::{Cluster, Globals};
use super::super::select::{SelectArgs, confirmed, delete_one};
use crate::api::Restore;

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub select: SelectArgs,
}

pub async fn delete(args: DeleteArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let selection = args.select.selection("restore")?;
    let cluster = Cluster::connect(globals).await?;
    let api: Api<Restore> = cluster.api();
    let mut failed = false;
    let names = selection.names(&api, "restores").await?;
    if names.is_empty() {
        println!("No restores found");
        return Ok(ExitCode::SUCCESS);
    }
    let prompt = format!(
        "You are about to delete {} restore(s) in namespace {}: {}",
        names.len(),
        cluster.namespace,
        names.join(", ")
    );
    if !confirmed(args.select.confirm, &prompt)? {
        println!("Nothing was deleted.");
        return Ok(ExitCode::FAILURE);
    }
    for name in &names {
        if delete_one(&api, name, "restore", &cluster.namespace).await {
            println!(
                "Request to delete restore {name:?} submitted successfully.\nThe restore will be \
                 fully deleted after all associated data (restore files in object storage) are \
                 removed."
            );
        } else {
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
