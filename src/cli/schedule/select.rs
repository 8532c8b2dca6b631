//! `schedule pause|unpause|delete NAME... | --selector S | --all`.

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::Schedule;
use crate::cli::cluster::{Cluster, Globals};

/// Which schedules a command acts on: names, a selector, or all (exactly one).
#[derive(Args, Debug)]
pub struct Select {
    pub names: Vec<String>,
    #[arg(skip)]
    pub namespace: String,
    /// Schedules whose labels match this selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every schedule in the namespace.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    #[command(flatten)]
    pub select: Select,
}

#[derive(Args, Debug)]
pub struct UnpauseArgs {
    #[command(flatten)]
    pub select: Select,
    /// Skip the run that is due at once (otherwise a run missed while paused is made now).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub skip_immediately: Option<bool>,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub select: Select,
    /// Delete without asking.
    #[arg(long)]
    pub confirm: bool,
}

async fn resolve(
    select: &Select,
    globals: &Globals,
) -> anyhow::Result<(Api<Schedule>, Vec<Schedule>)> {
    let given = [
        !select.names.is_empty(),
        select.selector.is_some(),
        select.all,
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        bail!("name the schedules, or give --selector or --all (exactly one of them)");
    }
    let cluster = Cluster::connect(globals).await?;
    let api: Api<Schedule> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let schedules = if !select.names.is_empty() {
        let mut out = Vec::new();
        for name in &select.names {
            out.push(api.get_opt(name).await?.with_context(|| {
                format!(
                    "schedule {name:?} not found in namespace {}",
                    select.namespace
                )
            })?);
        }
        out
    } else {
        let mut params = ListParams::default();
        if let Some(s) = &select.selector {
            params = params.labels(s);
        }
        api.list(&params)
            .await
            .context("cannot list schedules")?
            .items
    };
    Ok((api, schedules))
}

pub async fn pause(
    select: Select,
    paused: bool,
    skip_immediately: Option<bool>,
    globals: &Globals,
) -> anyhow::Result<ExitCode> {
    let (api, schedules) = resolve(&select, globals).await?;
    let word = if paused { "paused" } else { "unpaused" };
    if schedules.is_empty() {
        println!("No schedules found.");
    }
    for s in schedules {
        let name = s.name_any();
        if s.spec.paused == paused {
            println!("Schedule {name} is already {word}, skip");
            continue;
        }
        let mut spec = json!({"paused": paused});
        if let Some(skip) = skip_immediately {
            spec["skipImmediately"] = json!(skip);
        }
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .with_context(|| format!("cannot update schedule {name}"))?;
        println!("Schedule {name} {word} successfully");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(args: DeleteArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let (api, schedules) = resolve(&args.select, globals).await?;
    if schedules.is_empty() {
        println!("No schedules found.");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.confirm {
        println!(
            "Are you sure you want to continue (Y/N)? (deleting schedules {}; their backups stay)",
            schedules
                .iter()
                .map(|s| s.name_any())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            println!("Cancelling schedule deletion.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    for s in schedules {
        let name = s.name_any();
        api.delete(&name, &DeleteParams::default())
            .await
            .with_context(|| format!("cannot delete schedule {name}"))?;
        println!("Schedule deleted: {name}");
    }
    Ok(ExitCode::SUCCESS)
}
