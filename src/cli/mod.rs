//! The `veloxide` command line: thin wrappers over the library.

mod backup;
mod fetch;
mod install;
mod location;
mod restore;
mod trust;
mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::webhook::{self, ServeOptions, tls::CertFiles};

/// A Kubernetes backup operator for S3-compatible storage behind private CAs, speaking
/// Velero's velero.io/v1 API.
#[derive(Parser, Debug)]
#[command(name = "veloxide", version, about)]
pub struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "VELOXIDE_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print every CustomResourceDefinition as multi-document YAML.
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run the operator: controllers (on the lease holder), webhook, metrics and health.
    Server(ServerArgs),
    /// Serve the BackupStorageLocation admission webhook alone.
    Webhook(WebhookArgs),
    /// Work with BackupStorageLocations.
    #[command(name = "backup-location", subcommand)]
    BackupLocation(location::LocationCommand),
    /// Work with backups: create, get, describe, download, logs.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Work with restores: create, describe, logs.
    #[command(subcommand)]
    Restore(restore::RestoreCommand),
    /// Install veloxide into the cluster (or print what it would apply), as `velero install`.
    Install(install::InstallArgs),
}

#[derive(Args, Debug)]
struct WebhookArgs {
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "0.0.0.0:9443")]
    listen: SocketAddr,
    /// PEM certificate chain, re-read when it changes.
    #[arg(long)]
    tls_cert_file: PathBuf,
    /// PEM private key, re-read when it changes.
    #[arg(long)]
    tls_key_file: PathBuf,
    /// How often to check the certificate files for changes.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    cert_reload_interval: Duration,
    /// The only directories a location's credentialsFile and customerKeyEncryptionFile may
    /// name (repeat for several); anything else is refused at admission.
    #[arg(long = "credentials-dir", default_value = crate::location::DEFAULT_CREDENTIALS_DIR)]
    credentials_dirs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// The namespace whose locations, backups and Secrets the server manages.
    #[arg(long, env = "VELERO_NAMESPACE", default_value = "velero")]
    namespace: String,
    /// Plain-HTTP address for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8085")]
    metrics_listen: SocketAddr,
    /// HTTPS address for the admission webhook (served when a certificate is given).
    #[arg(long, default_value = "0.0.0.0:9443")]
    webhook_listen: SocketAddr,
    /// The webhook's PEM certificate chain, re-read when it changes.
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The webhook's PEM private key, re-read when it changes.
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// The coordination.k8s.io Lease the replicas elect a leader with.
    #[arg(long, default_value = "veloxide-controller")]
    lease_name: String,
    /// How long a leader keeps the lease without renewing it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// This replica's identity in the lease (the pod name in a cluster).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Revalidation period for locations that do not set validationFrequency.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    default_validation_frequency: Duration,
    /// Links for SSE-C downloads go through the API server's proxy to this Service and port
    /// (`NAME:PORT`); see docs/downloads.md.
    #[arg(long, default_value = "veloxide:metrics")]
    download_service: String,
    /// An absolute URL in front of this server's HTTP port to use in SSE-C download links
    /// instead of the API server's service proxy.
    #[arg(long)]
    download_url_base: Option<String>,
    /// A read from or upload to the object store that makes no progress for this long is
    /// abandoned, and its backup or restore fails naming the stall.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    store_stall_timeout: Duration,
    /// Room a restore may take in the temporary directory for the archive's items (`1Gi`,
    /// `500Mi`, or bytes); a backup that needs more fails to restore, saying so, before the
    /// pod's volume fills. The chart sets it with the /tmp volume (`restoreSpool.sizeLimit`).
    #[arg(long, default_value = "1Gi", value_parser = parse_quantity)]
    restore_spool_limit: u64,
    /// The only directories a location's credentialsFile and customerKeyEncryptionFile may
    /// name (repeat for several); anything else is refused at admission and in status.
    #[arg(long = "credentials-dir", default_value = crate::location::DEFAULT_CREDENTIALS_DIR)]
    credentials_dirs: Vec<PathBuf>,
}

/// A byte quantity as Kubernetes writes it: `123`, `64Ki`, `500Mi`, `1Gi`.
fn parse_quantity(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(format!("{text:?}: use bytes or a Ki, Mi, Gi or Ti suffix")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?}: use bytes or a Ki, Mi, Gi or Ti suffix"))
}

impl Cli {
    /// Run the chosen command and map the outcome to an exit status.
    pub async fn run(self) -> ExitCode {
        crate::telemetry::init(self.log_json);
        let outcome = match self.command {
            Command::Crds { dir: None } => {
                print!("{}", crate::crds::render_all());
                Ok(ExitCode::SUCCESS)
            }
            Command::Crds { dir: Some(dir) } => write_crds(&dir).map(|()| ExitCode::SUCCESS),
            Command::Webhook(args) => run_webhook(args).await.map(|()| ExitCode::SUCCESS),
            Command::Server(args) => run_server(args).await.map(|()| ExitCode::SUCCESS),
            Command::BackupLocation(command) => command.run().await,
            Command::Backup(command) => command.run().await,
            Command::Restore(command) => command.run().await,
            Command::Install(args) => args.run().await,
        };
        outcome.unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        })
    }
}

fn write_crds(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for crd in crate::crds::all() {
        let path = dir.join(crate::crds::file_name(&crd));
        std::fs::write(&path, crate::crds::to_yaml(&crd))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let webhook = match (args.tls_cert_file, args.tls_key_file) {
        (Some(cert), Some(key)) => Some(ServeOptions {
            listen: args.webhook_listen,
            files: CertFiles { cert, key },
            reload_interval: Duration::from_secs(2),
        }),
        _ => None,
    };
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let mut settings = crate::controller::Settings::new(&args.namespace);
    settings.default_validation_frequency = args.default_validation_frequency;
    settings.download.service = args.download_service;
    settings.download.url_base = args.download_url_base;
    settings.store_stall_timeout = args.store_stall_timeout;
    // The limit is the /tmp volume's size: keep 16Mi of it (a quarter when small) for the
    // restore's log and other temporary files.
    let headroom = (16u64 << 20).min(args.restore_spool_limit / 4);
    settings.restore_spool_bytes = args.restore_spool_limit - headroom;
    settings.files = crate::location::FilePaths::Under(args.credentials_dirs);
    let options = crate::server::ServerOptions {
        settings,
        metrics_listen: args.metrics_listen,
        webhook,
        lease: crate::server::LeaseSettings {
            name: args.lease_name,
            namespace: args.namespace,
            identity,
            duration: args.lease_duration,
            grace: (args.lease_duration / 3).max(Duration::from_secs(1)),
        },
    };
    crate::server::run(options, shutdown).await
}

async fn run_webhook(args: WebhookArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let options = ServeOptions {
        listen: args.listen,
        files: CertFiles {
            cert: args.tls_cert_file,
            key: args.tls_key_file,
        },
        reload_interval: args.cert_reload_interval,
    };
    let files = crate::location::FilePaths::Under(args.credentials_dirs);
    webhook::serve(options, webhook::router_with(files), shutdown, |addr| {
        // Tests and scripts wait for this line; it also says where the port 0 went.
        println!("veloxide webhook listening on https://{addr}");
        tracing::info!(%addr, "webhook serving");
    })
    .await?;
    Ok(())
}

/// Cancel `token` on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
    token.cancel();
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::api::duration::parse_go_duration(text).map_err(|e| e.to_string())
}
