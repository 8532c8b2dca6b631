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
mod node_agent;
mod output;
mod progress;
mod restore;
mod restore_helper;
mod schedule;
mod select;
mod selector;
mod server;
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
    // Boxed: the server's flags are many, and every other command would carry their size.
    /// Run the operator: controllers (on the lease holder), webhook, metrics and health.
    Server(Box<server::ServerArgs>),
    /// Serve the BackupStorageLocation admission webhook alone.
    Webhook(WebhookArgs),
    /// Run the node agent: file-system backup of the pod volumes on this node.
    NodeAgent(node_agent::NodeAgentArgs),
    /// Wait until the node agent has restored this pod's volumes (the restore-wait init
    /// container's command).
    RestoreHelper(restore_helper::RestoreHelperArgs),
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

impl Cli {
    /// Run the chosen command and map the outcome to an exit status.
    pub async fn run(self) -> ExitCode {
        // The server takes Velero's --log-format and --log-level too.
        let (json, level) = match &self.command {
            Command::Server(args) => (
                self.log_json || args.log_format == server::LogFormat::Json,
                args.log_level.map(server::LogLevel::filter),
            ),
            _ => (self.log_json, None),
        };
        crate::telemetry::init(json, level);
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
            Command::NodeAgent(args) => node_agent::run_agent(args, globals)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::RestoreHelper(args) => restore_helper::run(args).await,
            Command::Server(args) => server::run(*args, globals)
                .await
                .map(|()| ExitCode::SUCCESS),
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
