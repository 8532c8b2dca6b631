//! `veloxide backup-location verify`: run the location check from a terminal, against a
//! location (and its Secrets) in a YAML file, or in the cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde::Deserialize;

use crate::api::BackupStorageLocation;
use crate::location::{CaSource, FilePaths, LocationConfig};
use crate::storage::{
    CheckReport, KubeSecrets, Outcome, SecretSource, StaticSecrets, StoreCache, inspect_ca, open,
};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The location's name, read from the cluster (KUBECONFIG) unless -f is given.
    pub name: Option<String>,
    /// YAML holding the BackupStorageLocation and, optionally, the Secrets it names.
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,
    /// A PEM CA bundle to trust instead of the location's caCertRef or caCert.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Do not check the store's certificate (man-in-the-middle risk; for diagnosis only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// An AWS shared-credentials file to use instead of the location's credential Secret.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
}

pub async fn run(args: VerifyArgs, globals: &super::Globals) -> anyhow::Result<ExitCode> {
    let (label, location, report) = match &args.file {
        Some(file) => {
            let (location, secrets) = read_file(file, args.name.as_deref())?;
            let label = label_of(&location);
            let report = verify(&location, &secrets, &args).await?;
            (label, location, report)
        }
        None => {
            let Some(name) = &args.name else {
                bail!("name a location (veloxide backup-location verify NAME) or give -f FILE");
            };
            let cluster = super::Cluster::connect(globals)
                .await
                .context("use -f FILE to verify a location without a cluster")?;
            let api: kube::Api<BackupStorageLocation> = cluster.api();
            let location = api.get(name).await.with_context(|| {
                format!(
                    "cannot read BackupStorageLocation {}/{name}",
                    cluster.namespace
                )
            })?;
            let secrets = KubeSecrets::new(cluster.client.clone(), &cluster.namespace);
            let label = label_of(&location);
            let report = verify(&location, &secrets, &args).await?;
            (label, location, report)
        }
    };
    print_report(&label, &location, &report);
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn label_of(location: &BackupStorageLocation) -> String {
    format!(
        "{}/{}",
        location.metadata.namespace.as_deref().unwrap_or("velero"),
        location.metadata.name.as_deref().unwrap_or("<unnamed>")
    )
}

/// Parse, apply the command line's overrides (`--cacert` over `caCertRef` over `caCert`),
/// resolve the Secrets and run the check.
async fn verify(
    location: &BackupStorageLocation,
    secrets: &impl SecretSource,
    args: &VerifyArgs,
) -> anyhow::Result<CheckReport> {
    let parsed = LocationConfig::from_spec_with(&location.spec, &FilePaths::Anywhere)
        .map_err(|rejected| anyhow::anyhow!("the location is invalid: {rejected}"))?;
    for warning in &parsed.warnings {
        println!("warning: {warning}");
    }
    let mut config = parsed.config;
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (bundle, warnings) = inspect_ca(&format!("--cacert {}", path.display()), &pem)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for warning in &warnings {
            println!("warning: {warning}");
        }
        config.trust.ca = CaSource::Inline(bundle);
    }
    if args.insecure_skip_tls_verify {
        config.trust.insecure_skip_tls_verify = true;
    }
    if let Some(path) = &args.credentials_file {
        config.credentials.secret = None;
        config.credentials.file = Some(path.clone());
    }
    // A cache of one: the command checks one location once.
    let opened = open(&config, secrets, &StoreCache::new(), &label_of(location)).await;
    for warning in opened.resolved.iter().flat_map(|r| &r.warnings) {
        println!("warning: {warning}");
    }
    Ok(opened.check().await)
}

fn print_report(label: &str, location: &BackupStorageLocation, report: &CheckReport) {
    let storage = &location.spec.object_storage;
    println!(
        "location {label}: s3://{}/{}",
        storage.bucket,
        storage.prefix.as_deref().unwrap_or("")
    );
    for step in &report.steps {
        let mark = match step.outcome {
            Outcome::Passed => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::Skipped => "SKIP",
        };
        println!("  {mark}  {:<22} {}", step.name.as_str(), step.message);
        if let Some(reason) = step.reason {
            println!("        reason: {reason} ({})", step.name.condition());
        }
        if let Some(remedy) = step.remedy {
            println!("        remedy: {remedy}");
        }
    }
    match report.reason() {
        None => println!("result: PASSED"),
        Some(reason) => println!("result: FAILED ({reason})"),
    }
}

/// The location (the one named, else the first) and every Secret in a YAML file.
fn read_file(
    path: &Path,
    name: Option<&str>,
) -> anyhow::Result<(BackupStorageLocation, StaticSecrets)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut locations = Vec::new();
    let mut secrets = StaticSecrets::default();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = serde_json::Value::deserialize(document)
            .with_context(|| format!("{} is not valid YAML", path.display()))?;
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("BackupStorageLocation") => {
                let location: BackupStorageLocation = serde_path_to_error::deserialize(value)
                    .with_context(|| format!("{}: a BackupStorageLocation", path.display()))?;
                locations.push(location);
            }
            Some("Secret") => {
                let (secret_name, data) =
                    secret_data(&value).with_context(|| format!("{}: a Secret", path.display()))?;
                secrets.secrets.insert(secret_name, data);
            }
            _ => {}
        }
    }
    let location = match name {
        Some(n) => locations
            .into_iter()
            .find(|l| l.metadata.name.as_deref() == Some(n))
            .with_context(|| format!("{} holds no BackupStorageLocation {n:?}", path.display()))?,
        None => locations
            .into_iter()
            .next()
            .with_context(|| format!("{} holds no BackupStorageLocation", path.display()))?,
    };
    Ok((location, secrets))
}

/// A Secret's `data` (base64, as Kubernetes stores it) and `stringData` (text), merged.
/// Errors name the Secret and key, never the value.
fn secret_data(value: &serde_json::Value) -> anyhow::Result<(String, BTreeMap<String, Vec<u8>>)> {
    let name = value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .context("metadata.name is missing")?
        .to_owned();
    let mut data = BTreeMap::new();
    if let Some(map) = value.get("data").and_then(|d| d.as_object()) {
        for (key, v) in map {
            let text = v.as_str().unwrap_or_default();
            let bytes = STANDARD
                .decode(text.trim())
                .map_err(|_| anyhow::anyhow!("Secret {name:?} data.{key} is not base64"))?;
            data.insert(key.clone(), bytes);
        }
    }
    if let Some(map) = value.get("stringData").and_then(|d| d.as_object()) {
        for (key, v) in map {
            data.insert(
                key.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
    }
    Ok((name, data))
}
