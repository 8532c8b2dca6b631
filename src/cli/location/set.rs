//! `veloxide backup-location set`: change a location's default flag, CA bundle or credential.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use kube::Api;
use kube::api::PostParams;

use super::super::cluster::{Cluster, Globals};
use super::super::usage::UsageError;
use super::cacert::{CA_KEY, ca_secret_name, put_ca_secret, read_cacert};
use super::create::{admit, api_message, credential, default_taken, other_defaults};
use crate::api::{BackupStorageLocation, SecretKeySelector};

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
