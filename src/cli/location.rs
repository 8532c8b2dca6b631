//! `veloxide backup-location get|create|set|delete|validate|verify`.

mod cacert;
pub(super) mod create;
pub(super) mod delete;
pub(super) mod get;
pub(super) mod set;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde::Deserialize;

use super::cluster::Globals;
use crate::api::BackupStorageLocation;
use crate::location::LocationConfig;

#[derive(Subcommand, Debug)]
pub enum LocationCommand {
    /// List locations, or show the named ones, as a table, YAML or JSON.
    Get(get::GetArgs),
    /// Create a location (Velero's flags), checked first by the same rules as the admission
    /// webhook; --cacert goes into a Secret the location names with caCertRef.
    Create(create::CreateArgs),
    /// Change a location's default flag, CA bundle or credential, checked first by the same
    /// rules as the admission webhook.
    Set(set::SetArgs),
    /// Delete locations. Backups made to them, and everything in the bucket, stay.
    Delete(delete::DeleteArgs),
    /// Check locations in a YAML file against the admission rules, offline, or by asking a
    /// running webhook. Exits non-zero when any location is refused.
    Validate {
        /// YAML file with one or more documents; documents of other kinds are skipped.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Ask this webhook (its full URL, e.g. https://127.0.0.1:9443/validate-velero-io-v1-backupstoragelocation)
        /// instead of validating in this process.
        #[arg(long)]
        webhook: Option<String>,
        /// CA bundle to trust for --webhook.
        #[arg(long)]
        cacert: Option<PathBuf>,
    },
    /// Check that a location works: TLS, credentials, bucket, layout, KMS key and an
    /// encryption round trip. Exits non-zero unless every step passes.
    Verify(super::verify::VerifyArgs),
}

impl LocationCommand {
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            LocationCommand::Get(args) => get::get(args, globals).await,
            LocationCommand::Create(args) => create::create(args, globals).await,
            LocationCommand::Set(args) => set::set(args, globals).await,
            LocationCommand::Delete(args) => delete::delete(args, globals).await,
            LocationCommand::Validate {
                file,
                webhook,
                cacert,
            } => validate(file, webhook, cacert).await,
            LocationCommand::Verify(args) => super::verify::run(args, globals).await,
        }
    }
}

/// What a check said about one location.
struct Verdict {
    allowed: bool,
    message: String,
    warnings: Vec<String>,
}

async fn validate(
    file: PathBuf,
    webhook: Option<String>,
    cacert: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let client = match &webhook {
        Some(_) => Some(webhook_client(cacert.as_deref())?),
        None => None,
    };
    let mut all_allowed = true;
    let mut seen = 0;
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = serde_json::Value::deserialize(document)
            .with_context(|| format!("{} is not valid YAML", file.display()))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("BackupStorageLocation") {
            continue;
        }
        seen += 1;
        let name = format!(
            "{}/{}",
            value
                .pointer("/metadata/namespace")
                .and_then(|v| v.as_str())
                .unwrap_or("default"),
            value
                .pointer("/metadata/name")
                .and_then(|v| v.as_str())
                .unwrap_or("<unnamed>")
        );
        let verdict = match (&client, &webhook) {
            (Some(client), Some(url)) => ask_webhook(client, url, value).await?,
            _ => check_offline(value),
        };
        all_allowed &= verdict.allowed;
        let state = if verdict.allowed { "allowed" } else { "DENIED" };
        println!("{name}: {state}");
        if !verdict.allowed {
            println!("  reason: {}", verdict.message);
        }
        for warning in &verdict.warnings {
            println!("  warning: {warning}");
        }
    }
    anyhow::ensure!(
        seen > 0,
        "{} holds no BackupStorageLocation",
        file.display()
    );
    Ok(if all_allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_offline(value: serde_json::Value) -> Verdict {
    let location: BackupStorageLocation = match serde_path_to_error::deserialize(value) {
        Ok(location) => location,
        Err(e) => {
            return Verdict {
                allowed: false,
                message: format!("the BackupStorageLocation could not be read: {e}"),
                warnings: Vec::new(),
            };
        }
    };
    match LocationConfig::from_spec(&location.spec) {
        Ok(parsed) => Verdict {
            allowed: true,
            message: String::new(),
            warnings: parsed.warnings,
        },
        Err(rejected) => Verdict {
            allowed: false,
            message: rejected.to_string(),
            warnings: rejected.warnings,
        },
    }
}

fn webhook_client(cacert: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().use_native_tls();
    if let Some(path) = cacert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no PEM certificate", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

async fn ask_webhook(
    client: &reqwest::Client,
    url: &str,
    object: serde_json::Value,
) -> anyhow::Result<Verdict> {
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("veloxide-cli-{}", std::process::id()),
            "kind": {"group": "velero.io", "version": "v1", "kind": "BackupStorageLocation"},
            "resource": {"group": "velero.io", "version": "v1", "resource": "backupstoragelocations"},
            "name": object.pointer("/metadata/name").cloned().unwrap_or_default(),
            "namespace": object.pointer("/metadata/namespace").cloned().unwrap_or_default(),
            "operation": "CREATE",
            "userInfo": {"username": "veloxide-cli"},
            "object": object,
            "dryRun": true,
        }
    });
    let reply = client
        .post(url)
        .json(&review)
        .send()
        .await
        .with_context(|| format!("cannot reach the webhook at {url}"))?;
    let status = reply.status();
    let body: serde_json::Value = reply
        .json()
        .await
        .with_context(|| format!("the webhook answered {status} without an AdmissionReview"))?;
    let response = body.get("response").cloned().unwrap_or_default();
    Ok(Verdict {
        allowed: response
            .get("allowed")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        message: response
            .pointer("/status/message")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned(),
        warnings: response
            .get("warnings")
            .and_then(|w| serde_json::from_value(w.clone()).ok())
            .unwrap_or_default(),
    })
}
