//! `veloxide backup delete NAME... | --selector S | --all [--confirm]`: one DeleteBackupRequest
//! per backup, as Velero's command makes them. The server deletes the files (through the
//! location the backup was written to), the backup's restores, then the Backup object.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use kube::Api;
use kube::api::{ListParams, PostParams};

use crate::api::{Backup, DeleteBackupRequest};
use crate::cli::cluster::{Cluster, Globals};

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Backups to delete.
    pub names: Vec<String>,
    /// The namespace veloxide (and the backups) live in: the global `-n`, set by `run`.
    #[arg(skip)]
    pub namespace: String,
    /// Delete the backups whose labels match this selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete every backup in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub confirm: bool,
}

/// Exactly one of names, `--selector` and `--all` (Velero's rule).
fn check(args: &DeleteArgs) -> anyhow::Result<()> {
    let given = [!args.names.is_empty(), args.selector.is_some(), args.all]
        .iter()
        .filter(|g| **g)
        .count();
    if given != 1 {
        bail!("name backups, or give --selector or --all (exactly one of the three)");
    }
    Ok(())
}

pub async fn delete(mut args: DeleteArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    args.namespace = globals.namespace();
    check(&args)?;
    if !args.confirm && !confirmed(&args)? {
        println!("Cancelled.");
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = Cluster::connect(globals).await?;
    let backups: Api<Backup> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut failed = false;
    let targets = if args.names.is_empty() {
        let mut params = ListParams::default();
        if let Some(s) = &args.selector {
            params = params.labels(s);
        }
        let found = backups
            .list(&params)
            .await
            .context("cannot list backups")?
            .items;
        if found.is_empty() {
            println!("No backups found.");
        }
        found
    } else {
        let mut found = Vec::new();
        for name in &args.names {
            match backups.get_opt(name).await? {
                Some(b) => found.push(b),
                None => {
                    eprintln!(
                        "error: backup {name:?} not found in namespace {}",
                        args.namespace
                    );
                    failed = true;
                }
            }
        }
        found
    };
    let requests: Api<DeleteBackupRequest> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    for backup in &targets {
        let name = backup.metadata.name.as_deref().unwrap_or("");
        match requests
            .create(
                &PostParams::default(),
                &DeleteBackupRequest::for_backup(backup),
            )
            .await
        {
            Ok(r) => println!(
                "Request to delete backup {name:?} submitted ({}): its files, its restores and \
                 the Backup object are deleted by the server; `kubectl get deletebackuprequests \
                 -n {}` shows how it went.",
                r.metadata.name.as_deref().unwrap_or(""),
                args.namespace
            ),
            Err(e) => {
                eprintln!("error: cannot ask for the deletion of backup {name:?}: {e}");
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

/// Ask on a terminal; refuse to guess anywhere else.
fn confirmed(args: &DeleteArgs) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("deleting backups needs confirmation: run on a terminal, or pass --confirm");
    }
    let what = if args.all {
        "every backup".to_owned()
    } else if let Some(s) = &args.selector {
        format!("every backup matching {s:?}")
    } else {
        format!("backup(s) {}", args.names.join(", "))
    };
    print!(
        "This deletes {what} in namespace {}: their files in the store, their restores and the \
         Backup objects. Continue (Y/N)? ",
        args.namespace
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(names: &[&str], selector: Option<&str>, all: bool) -> DeleteArgs {
        DeleteArgs {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            namespace: "velero".into(),
            selector: selector.map(str::to_owned),
            all,
            confirm: true,
        }
    }

    #[test]
    fn exactly_one_way_of_naming_backups() {
        assert!(check(&args(&["a", "b"], None, false)).is_ok());
        assert!(check(&args(&[], Some("x=y"), false)).is_ok());
        assert!(check(&args(&[], None, true)).is_ok());
        assert!(check(&args(&[], None, false)).is_err());
        assert!(check(&args(&["a"], None, true)).is_err());
        assert!(check(&args(&[], Some("x=y"), true)).is_err());
    }
}
