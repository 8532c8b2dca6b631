//! How the controllers are tuned: the server's flags, in one place every kind reads.

use std::time::Duration;

/// How the controllers are tuned; defaults follow Velero's.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The namespace the server watches and reads Secrets from.
    pub namespace: String,
    /// Revalidation period when a location does not set `validationFrequency` (Velero: 1m).
    pub default_validation_frequency: Duration,
    /// The first retry after a failed check; it doubles up to the validation frequency.
    pub failure_backoff: Duration,
    /// Location checks run at once at most (each is a few requests to a store).
    pub location_concurrency: u16,
    /// How backups run (TTL, page size, collector period, default location).
    pub backup: BackupSettings,
    /// Where SSE-C downloads are served from.
    pub download: DownloadSettings,
    /// How often locations are synced when they set no `backupSyncPeriod` (Velero's
    /// `--backup-sync-period`, 1m; zero disables the sync).
    pub backup_sync_period: Duration,
    /// A store transfer with no byte for this long is abandoned (`--store-stall-timeout`).
    pub store_stall_timeout: Duration,
    /// Bytes a restore may spool to disk (`--restore-spool-limit`).
    pub restore_spool_bytes: u64,
    /// Where a location's file paths may point (`--credentials-dir`).
    pub files: crate::location::FilePaths,
    /// Whether backups and restores run hooks (`--hooks-enabled`, set by the chart's
    /// `hooks.enabled` together with the `pods/exec` right they need). Off, a spec with hooks
    /// fails validation saying how to enable them.
    pub hooks_enabled: bool,
    /// The order restores create kinds in (`--restore-resource-priorities`).
    pub restore_priorities: crate::restore::priorities::Priorities,
    /// Which controllers run (`--disable-controllers`, `--restore-only`).
    pub enabled: super::enabled::Enabled,
    /// How long a restore waits for a namespace it restores into to finish terminating
    /// (Velero's `--terminating-resource-timeout`, 10m).
    pub terminating_timeout: Duration,
    /// What restores bring back that is refused by default (`--restore-aggregated-cluster-roles`,
    /// `--restore-pod-security-labels`, the chart's `rbac.restore` values of those names).
    pub restore_allow: crate::restore::actions::Allow,
    /// The image of the `restore-wait` init container restored pods with file-system backed
    /// up volumes get (`--restore-helper-image`; Velero uses its server's own image).
    pub restore_helper_image: String,
}

impl Settings {
    pub fn new(namespace: impl Into<String>) -> Self {
        Settings {
            namespace: namespace.into(),
            default_validation_frequency: Duration::from_secs(60),
            failure_backoff: Duration::from_secs(5),
            location_concurrency: 16,
            backup: BackupSettings::default(),
            download: DownloadSettings::default(),
            backup_sync_period: Duration::from_secs(60),
            store_stall_timeout: crate::storage::stall::DEFAULT_STALL_TIMEOUT,
            restore_spool_bytes: crate::restore::spool::DEFAULT_SPOOL_BYTES,
            files: crate::location::FilePaths::default(),
            hooks_enabled: false,
            restore_priorities: Default::default(),
            enabled: super::enabled::Enabled::default(),
            terminating_timeout: Duration::from_secs(600),
            restore_allow: Default::default(),
            restore_helper_image: crate::restore::fsb::DEFAULT_IMAGE.to_owned(),
        }
    }
}

/// How backups are run; defaults follow Velero's server flags.
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// `ttl` when a backup gives none (Velero `--default-backup-ttl`, 720h).
    pub default_ttl: Duration,
    /// Objects per list request (Velero `--client-page-size`, 500).
    pub page_size: u32,
    /// The longest an expired backup waits for the collector (Velero's GC runs hourly).
    pub gc_frequency: Duration,
    /// The location used when none is named and none is marked default.
    pub default_location: String,
    /// `Some(ns)`: Secrets are read only in `ns` (`--secrets-scope namespace`).
    pub secrets_namespace: Option<String>,
    /// `--features=EnableAPIGroupVersions`: every served version in the archive.
    pub api_group_versions: bool,
    /// `--fs-backup-timeout` and `--default-volumes-to-fs-backup`.
    pub fs: crate::backup::volumes::FsSettings,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            default_ttl: Duration::from_secs(720 * 3600),
            page_size: 500,
            gc_frequency: Duration::from_secs(3600),
            default_location: "default".into(),
            secrets_namespace: None,
            api_group_versions: false,
            fs: Default::default(),
        }
    }
}

/// Where SSE-C downloads are served from.
#[derive(Clone, Debug)]
pub struct DownloadSettings {
    /// An absolute base URL in front of the server's HTTP port (an ingress, say); `None`
    /// means the API server's service proxy, `/api/v1/namespaces/NS/services/SERVICE/proxy`.
    pub url_base: Option<String>,
    /// The Service (and port) the service proxy reaches: `NAME:PORT`.
    pub service: String,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        DownloadSettings {
            url_base: None,
            service: "veloxide:metrics".into(),
        }
    }
}
