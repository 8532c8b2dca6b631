//! `veloxide backup-location create NAME` and `set NAME`, with Velero's flags.
//!
//! Both build the location they would write and run it through `LocationConfig::from_spec`,
//! the parser the admission webhook uses, before anything is sent: a location the webhook
//! would refuse is refused here with the same message. `--cacert FILE` is checked as PEM and
//! stored in the Secret `<NAME>-ca-cert` (key `ca-bundle.crt`, owned by the location so it
//! goes with it), which the location names with `caCertRef`; it is never inlined.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::super::output::OutputFormat;
use super::super::{Cluster, Globals, UsageError};
use crate::api::{BackupStorageLocation, SecretKeySelector};
use crate::location::{self, LocationConfig};

/// The field manager of the CA Secrets the CLI writes, and its label on them.
const FIELD_MANAGER: &str = "veloxide-cli";
pub const CA_KEY: &str = "ca-bundle.crt";

/// The Secret a location's `--cacert` is stored in.
pub fn ca_secret_name(location: &str) -> String {
    format!("{location}-ca-cert")
}

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

#[derive(Args, Debug)]
pub struct SetArgs {
    /// The location's name.
    pub name: String,
    /// Make this the default location (`--default=false` to unset it).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub default: Option<bool>,
    /// A PEM bundle to trust for the store: written to the Secret NAME-ca-cert, named by
    /// objectStorage.caCertRef; an inline caCert is removed (both are refused together).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// The credential as SECRET=KEY.
    #[arg(long, value_name = "SECRET=KEY")]
    pub credential: Option<String>,
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

fn credential(text: &str) -> Result<SecretKeySelector, UsageError> {
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

/// Read and check a `--cacert` file as the webhook checks a bundle.
fn read_cacert(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read --cacert {}", path.display()))?;
    let inspected = location::inspect_pem("--cacert", &pem, jiff::Timestamp::now())
        .map_err(|m| anyhow::anyhow!("--cacert {}: {m}", path.display()))?;
    for w in inspected.warnings {
        eprintln!("Warning: {w}");
    }
    Ok(pem)
}

/// The admission rules, offline: refuse with the webhook's own message.
fn admit(location: &BackupStorageLocation) -> anyhow::Result<()> {
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
async fn other_defaults(
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

fn default_taken(others: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "there is already a default backup storage location ({}); unset it first \
         (veloxide backup-location set {} --default=false), or leave out --default",
        others.join(", "),
        others[0]
    )
}

/// Write the CA Secret, owned by the location when its uid is known. A Secret of that name the
/// CLI did not write is never overwritten.
async fn put_ca_secret(
    cluster: &Cluster,
    location: &str,
    owner_uid: Option<&str>,
    pem: &[u8],
) -> anyhow::Result<bool> {
    let secrets: Api<Secret> = cluster.api();
    let name = ca_secret_name(location);
    let existed = match secrets.get_opt(&name).await? {
        Some(s) => {
            let ours = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                .is_some_and(|v| v == FIELD_MANAGER);
            if !ours {
                bail!(
                    "Secret {name} already exists in namespace {} and was not written by \
                     veloxide; delete or rename it, or point the location at it yourself \
                     (spec.objectStorage.caCertRef)",
                    cluster.namespace
                );
            }
            true
        }
        None => false,
    };
    let owner = owner_uid.map(|uid| {
        json!([{"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                "name": location, "uid": uid}])
    });
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": cluster.namespace,
                     "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER},
                     "ownerReferences": owner},
        "type": "Opaque",
        "data": {CA_KEY: STANDARD.encode(pem)},
    });
    secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .with_context(|| format!("cannot write Secret {name}"))?;
    Ok(existed)
}

fn api_message(e: kube::Error) -> String {
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

pub async fn set(args: SetArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.default.is_none() && args.cacert.is_none() && args.credential.is_none() {
        return Err(
            UsageError("nothing to set: give --default, --cacert or --credential".into()).into(),
        );
    }
    let credential = args.credential.as_deref().map(credential).transpose()?;
    let pem = args.cacert.as_deref().map(read_cacert).transpose()?;
    let cluster = Cluster::connect(globals).await?;
    let api: Api<BackupStorageLocation> = cluster.api();
    let mut location = api.get_opt(&args.name).await?.with_context(|| {
        format!(
            "backup storage location {:?} not found in namespace {}",
            args.name, cluster.namespace
        )
    })?;
    match args.default {
        Some(true) => {
            let others = other_defaults(&api, &args.name).await?;
            if !others.is_empty() {
                return Err(default_taken(&others));
            }
            location.spec.default = Some(true);
        }
        Some(false) => location.spec.default = Some(false),
        None => {}
    }
    if let Some(c) = credential {
        location.spec.credential = Some(c);
    }
    if pem.is_some() {
        let storage = &mut location.spec.object_storage;
        storage.ca_cert = None;
        storage.ca_cert_ref = Some(SecretKeySelector {
            name: Some(ca_secret_name(&args.name)),
            key: Some(CA_KEY.to_owned()),
            optional: None,
        });
    }
    admit(&location)?;
    if let Some(pem) = &pem {
        put_ca_secret(&cluster, &args.name, location.metadata.uid.as_deref(), pem).await?;
    }
    // A replace carries the resourceVersion read above: a change made meanwhile is not lost.
    api.replace(&args.name, &PostParams::default(), &location)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot update backup storage location {:?}: {}",
                args.name,
                api_message(e)
            )
        })?;
    println!(
        "Backup storage location {:?} configured successfully.",
        args.name
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CreateArgs,
    }

    fn args(line: &[&str]) -> CreateArgs {
        let mut argv = vec!["create"];
        argv.extend_from_slice(line);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn flags_become_velero_spec_fields() {
        let a = args(&[
            "dr",
            "--provider",
            "aws",
            "--bucket",
            "b",
            "--prefix",
            "p",
            "--config",
            "region=eu-west-1,s3Url=https://s3.example:9000",
            "--credential",
            "creds=cloud",
            "--cacert",
            "/tmp/ca.pem",
            "--access-mode",
            "ReadOnly",
            "--default",
            "--validation-frequency",
            "5m",
        ]);
        let spec = serde_json::to_value(build(&a, "velero").unwrap().spec).unwrap();
        assert_eq!(
            spec,
            json!({
                "provider": "aws",
                "objectStorage": {"bucket": "b", "prefix": "p",
                                  "caCertRef": {"name": "dr-ca-cert", "key": "ca-bundle.crt"}},
                "credential": {"name": "creds", "key": "cloud"},
                "config": {"region": "eu-west-1", "s3Url": "https://s3.example:9000"},
                "default": true,
                "accessMode": "ReadOnly",
                "validationFrequency": "5m",
            })
        );
    }

    #[test]
    fn the_webhook_s_rules_refuse_with_its_message() {
        let a = args(&[
            "x",
            "--provider",
            "aws",
            "--bucket",
            "b",
            "--config",
            "serverSideEncryption=bogus",
        ]);
        let location = build(&a, "velero").unwrap();
        let expected = LocationConfig::from_spec(&location.spec)
            .unwrap_err()
            .to_string();
        let e = admit(&location).unwrap_err().to_string();
        assert!(e.ends_with(&expected), "{e} / {expected}");
        assert!(e.contains("refused"), "{e}");
    }

    #[test]
    fn one_credential_pair_only() {
        assert!(credential("a=b").is_ok());
        assert!(credential("a=b,c=d").is_err());
        assert!(credential("nokey").is_err());
    }
}
