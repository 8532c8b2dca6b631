//! `veloxide server`: its flags (Velero's where Velero has one) and how they become the
//! controllers' `Settings`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::cancel_on_signal;
use super::cluster::Globals;
use super::usage::{UsageError, parse_duration};
use crate::webhook::{ServeOptions, tls::CertFiles};

#[derive(Args, Debug)]
pub struct ServerArgs {
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
    /// How long a backup waits for its PodVolumeBackups (file-system backup by the node
    /// agents), from when its volumes step began (Velero's default).
    #[arg(long, default_value = "4h", value_parser = parse_duration)]
    fs_backup_timeout: Duration,
    /// The image of the `restore-wait` init container a restore adds to pods whose volumes
    /// were backed up file by file (it runs `veloxide restore-helper`); the chart passes the
    /// server's own image, as Velero uses its own.
    #[arg(long, env = "VELOXIDE_IMAGE", default_value = crate::restore::fsb::DEFAULT_IMAGE)]
    restore_helper_image: String,
    /// Back up every pod volume file by file when a Backup leaves defaultVolumesToFsBackup
    /// unset (`--default-volumes-to-fs-backup` alone means true, as in Velero).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    default_volumes_to_fs_backup: bool,
    /// Once SIGTERM arrives, how long in-flight backups, restores and deletions may take to end
    /// before they are dropped: under the pod's terminationGracePeriodSeconds (the chart passes
    /// its value less 5s), so the process ends on its own rather than by SIGKILL.
    #[arg(long, default_value = "25s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Room a restore may take in the temporary directory for the archive's items (`1Gi`,
    /// `500Mi`, or bytes); a backup that needs more fails to restore, saying so, before the
    /// pod's volume fills. The chart sets it with the /tmp volume (`restoreSpool.sizeLimit`).
    #[arg(long, default_value = "1Gi", value_parser = parse_quantity)]
    restore_spool_limit: u64,
    /// The only directories a location's credentialsFile and customerKeyEncryptionFile may
    /// name (repeat for several); anything else is refused at admission and in status.
    #[arg(long = "credentials-dir", default_value = crate::location::DEFAULT_CREDENTIALS_DIR)]
    credentials_dirs: Vec<PathBuf>,
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
    /// Run backup and restore hooks (exec into pods through the API server). Off, a Backup or
    /// Restore with spec.hooks fails validation. The chart sets it with `hooks.enabled`, which
    /// also grants the `pods/exec` right hooks need (docs/hooks.md).
    #[arg(long)]
    hooks_enabled: bool,
    /// Restore ClusterRoles carrying a built-in aggregation label
    /// (rbac.authorization.k8s.io/aggregate-to-*), which adds their rules to admin, edit or
    /// view. Off, they are refused with an item error. The chart's
    /// `rbac.restore.aggregatedClusterRoles`.
    #[arg(long)]
    restore_aggregated_cluster_roles: bool,
    /// Restore Namespaces whose pod security labels could loosen admission (an `enforce`
    /// level other than restricted, `enforce-version`). Off, they are refused with an item
    /// error. The chart's `rbac.restore.podSecurityLabels`.
    #[arg(long)]
    restore_pod_security_labels: bool,
    /// The level to log at (Velero's flag: trace, debug, info, warning, error, fatal, panic;
    /// default info). `RUST_LOG`, when set, wins: it can name single modules.
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
    /// `text` or `json` lines (Velero's flag; `--log-json` is the same as `json`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How long a restore waits for a namespace it restores into to finish terminating
    /// (Velero's flag and default).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    terminating_resource_timeout: Duration,
    /// Controllers not to run, by Velero's names (comma-separated): backup-queue, backup,
    /// backup-operations, backup-deletion, backup-finalizer, backup-sync, download-request,
    /// gc, backup-repo, restore, restore-operations, schedule, server-status-request,
    /// restore-finalizer. Any other name stops the server, as in Velero.
    #[arg(long, value_delimiter = ',')]
    disable_controllers: Vec<String>,
    /// Deprecated in Velero: run restores only. Backups, backup deletion, expiry and schedules
    /// stop (Velero's list); use a ReadOnly location instead.
    #[arg(long)]
    restore_only: bool,
    /// Velero serves Go's pprof here (on localhost:6060 by default). veloxide has no profiler
    /// endpoint: off unless given, and given it is said in the log, not served.
    #[arg(long, default_value = "")]
    profiler_address: String,
}

/// `--log-level`: Velero's (logrus') level names.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
    Panic,
}

impl LogLevel {
    /// The tracing filter for the level; fatal and panic are errors (tracing has nothing above).
    pub fn filter(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Fatal | LogLevel::Panic => "error",
        }
    }
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
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

/// `veloxide server`: the flags into `Settings` and `ServerOptions`, then the server.
pub async fn run(args: ServerArgs, globals: &Globals) -> anyhow::Result<()> {
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
    settings.backup.fs = crate::backup::volumes::FsSettings {
        timeout: args.fs_backup_timeout,
        default_volumes: args.default_volumes_to_fs_backup,
    };
    // The limit is the /tmp volume's size: keep 16Mi of it (a quarter when small) for the
    // restore's log and other temporary files.
    let headroom = (16u64 << 20).min(args.restore_spool_limit / 4);
    settings.restore_spool_bytes = args.restore_spool_limit - headroom;
    settings.files = crate::location::FilePaths::Under(args.credentials_dirs);
    settings.terminating_timeout = args.terminating_resource_timeout;
    settings.hooks_enabled = args.hooks_enabled;
    anyhow::ensure!(
        !args.restore_helper_image.trim().is_empty(),
        "--restore-helper-image is empty: name the veloxide image restored pods' restore-wait \
         init container runs"
    );
    settings.restore_helper_image = args.restore_helper_image;
    settings.restore_allow = crate::restore::actions::Allow {
        aggregated_cluster_roles: args.restore_aggregated_cluster_roles,
        pod_security_labels: args.restore_pod_security_labels,
    };
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
    let (enabled, notes) =
        crate::controller::enabled::parse(&args.disable_controllers, args.restore_only)
            .map_err(UsageError)?;
    if args.restore_only {
        tracing::warn!(
            "--restore-only is deprecated (as in Velero): not starting the backup, \
             backup-deletion, gc or schedule controllers; make the locations ReadOnly instead"
        );
    }
    for note in notes {
        tracing::info!("{note}");
    }
    settings.enabled = enabled;
    if !args.profiler_address.is_empty() {
        tracing::warn!(
            address = %args.profiler_address,
            "--profiler-address: veloxide has no profiler endpoint (Velero serves Go's pprof \
             there); nothing is served"
        );
    }
    let options = crate::server::ServerOptions {
        kube: globals.kube_config().await?,
        settings,
        metrics_listen: args.metrics_listen,
        webhook,
        shutdown_timeout: args.shutdown_timeout,
        lease: crate::server::LeaseSettings {
            name: args.lease_name,
            namespace,
            identity,
            duration: args.lease_duration,
            grace: renew_grace(args.lease_duration),
        },
    };
    crate::server::run(options, shutdown).await
}

/// How long before the lease runs out the leader renews it (kube-lease-manager's grace): a
/// third of the way in (whole seconds), so a renewal that fails is retried (every 2 s at
/// most, server::leader) for two thirds of the lease before it runs out, which is when this
/// replica stops leading.
fn renew_grace(lease: Duration) -> Duration {
    let seconds = lease.as_secs().max(2);
    Duration::from_secs((seconds - (seconds / 3).max(1)).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_renews_a_third_of_the_way_into_its_lease() {
        let grace = |s| renew_grace(Duration::from_secs(s)).as_secs();
        assert_eq!(grace(15), 10, "renewed 5 s in, 10 s left for retries");
        assert_eq!(grace(60), 40);
        assert_eq!(grace(3), 2);
        // The lease manager needs 0 < grace < duration (it panics otherwise); a lease under
        // 2 s is taken as 2 s.
        assert_eq!(grace(2), 1);
        assert_eq!(grace(1), 1);
        assert_eq!(grace(0), 1);
    }
}
