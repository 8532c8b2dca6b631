//! `veloxide restore delete NAME... | --selector S | --all [--confirm]`: deletes the Restore
//! objects; the server then removes each one's own files under `restores/<name>/` (its
//! finalizer) and nothing else in the store.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use super::super::select::{SelectArgs, Selection, confirmed};
use super::super::{Cluster, Globals};
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
    let mut failed = Vec::new();
    let names: Vec<String> = match selection {
        Selection::Names(names) => names,
        Selection::Selector(selector) => api
            .list(&ListParams::default().labels(&selector))
            .await
            .context("cannot list restores")?
            .items
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect(),
    };
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
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => println!(
                "Request to delete restore {name:?} submitted successfully.\nThe restore will be \
                 fully deleted after all associated data (restore files in object storage) are \
                 removed."
            ),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                eprintln!(
                    "restore {name:?} not found in namespace {}",
                    cluster.namespace
                );
                failed.push(name.clone());
            }
            Err(e) => {
                eprintln!("restore {name:?}: cannot delete: {e}");
                failed.push(name.clone());
            }
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
