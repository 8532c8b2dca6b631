//! The `veloxide` command line: thin wrappers over the library.
//!
//! Adding a command: a variant in [`Command`] and an arm in [`Command::run`]; a verb-first
//! alias (`veloxide get schedules`) is one line in `verbs.rs`. Subcommands take no
//! `-n/--namespace`, `--kubeconfig` or `--context` of their own: those are [`Globals`], handed
//! to every `run`, and `Cluster::connect(globals)` gives the client and namespace.

mod backup;
mod cluster;
mod completion;
mod fetch;
mod install;
mod location;
mod output;
mod progress;
mod restore;
mod schedule;
mod select;
mod selector;
mod trust;
mod uninstall;
mod usage;
mod verbs;
mod verify;
mod version;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

pub use cluster::{Cluster, Globals};
pub use usage::UsageError;
use usage::parse_duration;

use crate::webhook::{self, ServeOptions, tls::CertFiles};

/// Exit statuses, the same for every command.
const EXIT_STATUS: &str = "\
Exit status:
  0  done (with --wait: the backup or restore Completed)
  1  failed, or with --wait: the backup or restore ended Failed, PartiallyFailed or
     FailedValidation
  2  usage: an unknown command or flag, a bad flag value, a missing --confirm";

/// A Kubernetes backup operator for S3-compatible storage behind private CAs, speaking
/// Velero's velero.io/v1 API.
///
/// As with Velero and kubectl, `veloxide get backups` is `veloxide backup get`, and so on for
/// describe, create and delete.
#[derive(Parser, Debug)]
#[command(name = "veloxide", version, about, after_help = EXIT_STATUS)]
pub struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "VELOXIDE_LOG_JSON")]
    log_json: bool,
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Work with backups: create, get, describe, download, logs.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Work with restores: create, get, describe, logs, delete.
    #[command(subcommand)]
    Restore(restore::RestoreCommand),
    /// Work with BackupStorageLocations: get, create, set, delete, validate, verify.
    #[command(name = "backup-location", visible_alias = "bsl", subcommand)]
    BackupLocation(location::LocationCommand),
    /// List backups, restores or backup locations (`veloxide get backups` = `backup get`).
    #[command(subcommand)]
    Get(verbs::Get),
    /// Describe a backup or restore (`veloxide describe backup NAME` = `backup describe NAME`).
    #[command(subcommand)]
    Describe(verbs::Describe),
    /// Create a backup, restore or backup location (`veloxide create backup NAME`).
    #[command(subcommand)]
    Create(verbs::Create),
    /// Delete restores or backup locations (`veloxide delete restore NAME`).
    #[command(subcommand)]
    Delete(verbs::Delete),
    /// Install veloxide into the cluster (or print what it would apply), as `velero install`.
    Install(install::InstallArgs),
    /// Remove what `veloxide install` created; never touches the object store.
    Uninstall(uninstall::UninstallArgs),
    /// Print the client's version and, when the cluster is reachable, the server's.
    Version(version::VersionArgs),
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completion(completion::CompletionArgs),
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
    /// Work with schedules: create, get, describe, pause, unpause, delete.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
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
    /// How often backups are synced from locations that set no backupSyncPeriod (0: never).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    backup_sync_period: Duration,
    /// Links for SSE-C downloads go through the API server's proxy to this Service and port
    /// (`NAME:PORT`); see docs/downloads.md.
    #[arg(long, default_value = "veloxide:metrics")]
    download_service: String,
    /// An absolute URL in front of this server's HTTP port to use in SSE-C download links
    /// instead of the API server's service proxy.
    #[arg(long)]
    download_url_base: Option<String>,
    /// Which Secrets backups read: `cluster` (every namespace's, as Velero) or `namespace`
    /// (only the server's own; Secrets elsewhere are skipped with a warning). Match it to the
    /// RBAC the server has: the chart passes its `rbac.secretsScope`.
    #[arg(long, value_enum, default_value_t = SecretsScope::Cluster)]
    secrets_scope: SecretsScope,
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
    /// The order restores create resources in (Velero's flag, syntax and default): the ones
    /// before `-` first, in order; then every other resource alphabetically; then the ones
    /// after `-`.
    #[arg(long, default_value_t = crate::restore::priorities::Priorities::default(),
          value_parser = |s: &str| s.parse::<crate::restore::priorities::Priorities>())]
    restore_resource_priorities: crate::restore::priorities::Priorities,
    /// Velero's feature flags (comma-separated). `EnableAPIGroupVersions`: backups hold every
    /// served version of each resource's group, in Velero's layout. Others are not known to
    /// veloxide and are reported at start-up.
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// How long a backup that sets no `ttl` is kept (Velero's flag and default).
    #[arg(long, default_value = "720h", value_parser = parse_duration)]
    default_backup_ttl: Duration,
    /// The location of a backup that names none, when no location is marked
    /// `spec.default: true` (Velero's flag and default).
    #[arg(long, default_value = "default")]
    default_backup_storage_location: String,
    /// Objects per list request while backing up (Velero's flag and default). Velero reads 0
    /// as "no paging"; veloxide always pages, so 0 is refused rather than read differently.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    client_page_size: u32,
    /// The longest an expired backup waits before its deletion is asked for (Velero's flag
    /// and default); a backup retention keeps past its TTL has its expiration moved this often.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    garbage_collection_frequency: Duration,
}

/// `--secrets-scope`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SecretsScope {
    Cluster,
    Namespace,
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
        let outcome = self.command.run(&self.globals).await;
        outcome.unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        })
    }
}

impl Command {
    /// What a command line parsed to, verb-first forms mapped (for the alias tests).
    #[cfg(test)]
    fn noun_first_debug(self) -> String {
        let command = match self {
            Command::Get(c) => c.noun_first(),
            Command::Describe(c) => c.noun_first(),
            Command::Create(c) => c.noun_first(),
            Command::Delete(c) => c.noun_first(),
            other => other,
        };
        format!("{command:?}")
    }

    async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Command::Backup(command) => command.run(globals).await,
            Command::Restore(command) => command.run(globals).await,
            Command::BackupLocation(command) => command.run(globals).await,
            Command::Install(args) => args.run(globals).await,
            Command::Uninstall(args) => args.run(globals).await,
            Command::Version(args) => args.run(globals).await,
            Command::Completion(args) => args.run(),
            Command::Crds { dir: None } => {
                print!("{}", crate::crds::render_all());
                Ok(ExitCode::SUCCESS)
            }
            Command::Crds { dir: Some(dir) } => write_crds(&dir).map(|()| ExitCode::SUCCESS),
            Command::Webhook(args) => run_webhook(args).await.map(|()| ExitCode::SUCCESS),
            Command::Server(args) => run_server(args, globals).await.map(|()| ExitCode::SUCCESS),
            // The verb-first forms run the noun-first command they stand for.
            Command::Schedule(command) => command.run(globals).await,
            Command::Get(c) => Box::pin(c.noun_first().run(globals)).await,
            Command::Describe(c) => Box::pin(c.noun_first().run(globals)).await,
            Command::Create(c) => Box::pin(c.noun_first().run(globals)).await,
            Command::Delete(c) => Box::pin(c.noun_first().run(globals)).await,
        }
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

async fn run_server(args: ServerArgs, globals: &Globals) -> anyhow::Result<()> {
    let namespace = globals.namespace();
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
    let mut settings = crate::controller::Settings::new(&namespace);
    settings.backup.default_ttl = args.default_backup_ttl;
    settings.backup.default_location = args.default_backup_storage_location;
    settings.backup.page_size = args.client_page_size;
    settings.default_validation_frequency = args.default_validation_frequency;
    settings.backup_sync_period = args.backup_sync_period;
    anyhow::ensure!(
        !args.garbage_collection_frequency.is_zero(),
        "--garbage-collection-frequency: must be more than 0s (the collector would never rest)"
    );
    settings.backup.gc_frequency = args.garbage_collection_frequency;
    settings.download.service = args.download_service;
    settings.download.url_base = args.download_url_base;
    if args.secrets_scope == SecretsScope::Namespace {
        settings.backup.secrets_namespace = Some(namespace.clone());
    }
    settings.store_stall_timeout = args.store_stall_timeout;
    // The limit is the /tmp volume's size: keep 16Mi of it (a quarter when small) for the
    // restore's log and other temporary files.
    let headroom = (16u64 << 20).min(args.restore_spool_limit / 4);
    settings.restore_spool_bytes = args.restore_spool_limit - headroom;
    settings.files = crate::location::FilePaths::Under(args.credentials_dirs);
    settings.restore_priorities = args.restore_resource_priorities;
    for feature in args
        .features
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
    {
        match feature {
            "EnableAPIGroupVersions" => settings.backup.api_group_versions = true,
            other => tracing::warn!(
                feature = other,
                "--features: veloxide does not know this feature flag; it has no effect"
            ),
        }
    }
    let options = crate::server::ServerOptions {
        kube: globals.kube_config().await?,
        settings,
        metrics_listen: args.metrics_listen,
        webhook,
        lease: crate::server::LeaseSettings {
            name: args.lease_name,
            namespace,
            identity,
            duration: args.lease_duration,
            // Renew halfway through (whole seconds, rounded up): a renewal that comes late by
            // up to half the lease still lands before the lease runs out, which is when this
            // replica would stop leading (server::leader).
            grace: Duration::from_secs(args.lease_duration.as_secs().div_ceil(2).max(1)),
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

/// A command's flags as clap parses `create LINE...`, for the tests of what flags become.
#[cfg(test)]
pub(crate) fn parse_flags<A: clap::Args + clap::FromArgMatches>(line: &[&str]) -> A {
    let command = A::augment_args(clap::Command::new("create"));
    let matches = command
        .try_get_matches_from(std::iter::once("create").chain(line.iter().copied()))
        .unwrap();
    A::from_arg_matches(&matches).unwrap()
}
