//! `veloxide backup-location create NAME`, with Velero's flags, and what `set NAME` shares.
//!
//! Both `create` and `set` build the location they would write and run it through `LocationConfig::from_spec`,
//! the parser the admission webhook uses, before anything is sent: a location the webhook
//! would refuse is refused here with the same message. `--cacert FILE` is checked as PEM and
//! stored in the Secret `<NAME>-ca-cert` (key `ca-bundle.crt`, owned by the location so it
//! goes with it), which the location names with `caCertRef`; it is never inlined.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::super::cluster::{Cluster, Globals};
use super::super::output::OutputFormat;
use super::super::usage::UsageError;
use super::cacert::{CA_KEY, ca_secret_name, put_ca_secret, read_cacert};
use crate::api::{BackupStorageLocation, SecretKeySelector};
use crate::location::LocationConfig;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessModeArg {
    #[value(name = "ReadWrite")]
    ReadWrite,
    #[value(name = "ReadOnly")]
    ReadOnly,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The location's name.
    pub name: String,
    /// The object-store provider: `aws` (any S3-compatible store).
    #[arg(long)]
    pub provider: String,
    /// The bucket backups are written to.
    #[arg(long)]
    pub bucket: String,
    /// A path inside the bucket to write under.
    #[arg(long)]
    pub prefix: Option<String>,
    /// The location's `config` (`region=us-east-1,s3Url=https://...,kmsKeyId=alias/k`).
    #[arg(long, value_delimiter = ',')]
    pub config: Vec<String>,
    /// The credential as SECRET=KEY: the Secret (in the namespace) and the key holding an AWS
    /// shared-credentials file. One pair only.
    #[arg(long, value_name = "SECRET=KEY")]
    pub credential: Option<String>,
    /// A PEM bundle to trust for the store, stored in the Secret NAME-ca-cert and named by
    /// objectStorage.caCertRef (never inlined).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Make this the default location (refused while another one is).
    #[arg(long)]
    pub default: bool,
    /// Whether backups may be written here.
    #[arg(long, value_enum, default_value = "ReadWrite")]
    pub access_mode: AccessModeArg,
    /// How often backups in the store are synced into the cluster (Go duration; 0s disables).
    #[arg(long, value_parser = go_duration)]
    pub backup_sync_period: Option<String>,
    /// How often the location is validated (Go duration; 0s validates once).
    #[arg(long, value_parser = go_duration)]
    pub validation_frequency: Option<String>,
    /// Labels to put on the location (`k=v,k2=v2`).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Print the location (yaml or json) instead of creating it.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

fn go_duration(text: &str) -> Result<String, String> {
    crate::api::duration::parse_go_duration(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// `k=v` pairs (Velero's map flags); values may hold `=`.
fn pairs(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    items
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(UsageError(format!("--{flag}: {p:?} is not KEY=VALUE"))),
        })
        .collect()
}

pub(super) fn credential(text: &str) -> Result<SecretKeySelector, UsageError> {
    let map = pairs("credential", &[text.to_owned()])?;
    if text.contains(',') {
        return Err(UsageError(
            "--credential can only contain 1 key/value pair".into(),
        ));
    }
    let (name, key) = map.into_iter().next().ok_or_else(|| {
        UsageError("--credential: give SECRET=KEY (the Secret and its key)".into())
    })?;
    Ok(SecretKeySelector {
        name: Some(name),
        key: Some(key),
        optional: None,
    })
}

/// The admission rules, offline: refuse with the webhook's own message.
pub(super) fn admit(location: &BackupStorageLocation) -> anyhow::Result<()> {
    let name = location.metadata.name.as_deref().unwrap_or_default();
    match LocationConfig::from_spec(&location.spec) {
        Ok(parsed) => {
            for w in parsed.warnings {
                eprintln!("Warning: {w}");
            }
            Ok(())
        }
        Err(rejected) => {
            for w in &rejected.warnings {
                eprintln!("Warning: {w}");
            }
            bail!("backup storage location {name:?} refused (nothing was changed): {rejected}")
        }
    }
}

/// The location the flags describe, as Velero's `BuildBackupStorageLocation` makes it.
pub fn build(args: &CreateArgs, namespace: &str) -> anyhow::Result<BackupStorageLocation> {
    let config = pairs("config", &args.config)?;
    let labels = pairs("labels", &args.labels)?;
    let credential = args.credential.as_deref().map(credential).transpose()?;
    let ca_ref = args
        .cacert
        .as_ref()
        .map(|_| json!({"name": ca_secret_name(&args.name), "key": CA_KEY}));
    let mode = match args.access_mode {
        AccessModeArg::ReadWrite => "ReadWrite",
        AccessModeArg::ReadOnly => "ReadOnly",
    };
    Ok(serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": args.name, "namespace": namespace,
                     "labels": (!labels.is_empty()).then_some(labels)},
        "spec": {
            "provider": args.provider,
            "objectStorage": {
                "bucket": args.bucket,
                "prefix": args.prefix.as_deref().filter(|p| !p.is_empty()),
                "caCertRef": ca_ref,
            },
            "credential": credential,
            "config": (!config.is_empty()).then_some(config),
            "default": args.default.then_some(true),
            "accessMode": mode,
            "backupSyncPeriod": args.backup_sync_period,
            "validationFrequency": args.validation_frequency,
        },
    }))?)
}

/// Names of default locations other than `name`.
pub(super) async fn other_defaults(
    api: &Api<BackupStorageLocation>,
    name: &str,
) -> anyhow::Result<Vec<String>> {
    Ok(api
        .list(&ListParams::default())
        .await
        .context("cannot list backup storage locations")?
        .items
        .into_iter()
        .filter(|l| l.spec.default == Some(true))
        .filter_map(|l| l.metadata.name)
        .filter(|n| n != name)
        .collect())
}

pub(super) fn default_taken(others: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "there is already a default backup storage location ({}); unset it first \
         (veloxide backup-location set {} --default=false), or leave out --default",
        others.join(", "),
        others[0]
    )
}

pub(super) fn api_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    }
}

pub async fn create(args: CreateArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.output == Some(OutputFormat::Table) {
        return Err(UsageError("-o: create prints yaml or json".into()).into());
    }
    let location = build(&args, &globals.namespace())?;
    let pem = args.cacert.as_deref().map(read_cacert).transpose()?;
    admit(&location)?;
    if let Some(format) = args.output {
        print!(
            "{}",
            format.render("BackupStorageLocationList", &[location], |_| String::new())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = Cluster::connect(globals).await?;
    let api: Api<BackupStorageLocation> = cluster.api();
    if args.default {
        let others = other_defaults(&api, &args.name).await?;
        if !others.is_empty() {
            return Err(default_taken(&others));
        }
    }
    // The Secret first, so the location is usable from its first check.
    let secret_existed = match &pem {
        Some(pem) => Some(put_ca_secret(&cluster, &args.name, None, pem).await?),
        None => None,
    };
    let created = match api.create(&PostParams::default(), &location).await {
        Ok(created) => created,
        Err(e) => {
            if secret_existed == Some(false) {
                let secrets: Api<Secret> = cluster.api();
                let _ = secrets
                    .delete(&ca_secret_name(&args.name), &DeleteParams::default())
                    .await;
            }
            if let kube::Error::Api(s) = &e
                && s.code == 409
            {
                bail!(
                    "backup storage location {:?} already exists in namespace {}; change it \
                     with veloxide backup-location set {}",
                    args.name,
                    cluster.namespace,
                    args.name
                );
            }
            bail!(
                "cannot create backup storage location {:?}: {}",
                args.name,
                api_message(e)
            );
        }
    };
    if let (Some(pem), Some(uid)) = (&pem, created.metadata.uid.as_deref()) {
        put_ca_secret(&cluster, &args.name, Some(uid), pem).await?;
    }
    println!(
        "Backup storage location {:?} configured successfully.",
        args.name
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
