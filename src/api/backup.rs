//! `Backup`: a request to copy the cluster's resources into a location, and what came of it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;
use super::hooks::{BackupHooks, HookStatus};
pub use super::phase_times::BackupPhaseMillis;
use super::uploader::UploaderConfigForBackup;
pub use super::written_to::BackupWrittenTo;

/// Which resources to back up, where to, and for how long to keep them.
///
/// Fields veloxide does not act on (volume snapshots) are kept so Velero manifests
/// apply unchanged; `docs/backups.md` says which are honoured.
// clippy reads the repeated `type_ = ...` inside separate printcolumn(...) groups as one
// attribute given twice; they are different columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "Backup",
    doc = "A backup of the cluster's resources into a BackupStorageLocation, as one encrypted, verified archive in Velero's layout.",
    namespaced,
    status = "BackupStatus",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "The backup's phase"
    ),
    printcolumn(
        name = "Location",
        type_ = "string",
        json_path = ".spec.storageLocation",
        description = "The location the backup is written to"
    ),
    // A `date` column shows an age, and kubectl prints `<invalid>` for a time in the future:
    // the expiry is shown as the timestamp (`veloxide backup get` shows it as Velero's `29d`).
    printcolumn(
        name = "Expires",
        type_ = "string",
        json_path = ".status.expiration",
        description = "When the backup is deleted (UTC)"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Labels for the backups a Schedule makes from this spec (Velero's `template.metadata`;
    /// ignored on a Backup itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BackupTemplateMetadata>,
    /// Namespaces to include (`*` or empty means all; shell-style `*` wildcards allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_namespaces: Option<Vec<String>>,
    /// Namespaces to leave out (wildcards allowed); wins over `includedNamespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_namespaces: Option<Vec<String>>,
    /// Resources to include, as `pods`, `deployments.apps`, a kind or a short name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_resources: Option<Vec<String>>,
    /// Resources to leave out; wins over `includedResources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_resources: Option<Vec<String>>,
    /// Velero's scoped filters: cluster-scoped resources to include (`*` for all), and the
    /// rest below. They cannot be mixed with `includedResources`, `excludedResources` or
    /// `includeClusterResources` (Velero refuses that too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_cluster_scoped_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_cluster_scoped_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_namespace_scoped_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_namespace_scoped_resources: Option<Vec<String>>,
    /// Only objects matching this selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub label_selector: Option<LabelSelector>,
    /// Objects matching any of these selectors (not combined with `labelSelector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub or_label_selectors: Option<Vec<LabelSelector>>,
    /// Whether cluster-scoped resources are included: unset means only when every
    /// namespace is backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub include_cluster_resources: Option<bool>,
    /// The location to write to; empty means the default location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    /// How long the backup is kept (Go duration; unset or 0 means 720h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<GoDuration>,
    /// Accepted for compatibility; veloxide backs up resources, not volume data (a backup
    /// taking claims while this is unset or true says so in a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub snapshot_volumes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_locations: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub default_volumes_to_fs_backup: Option<bool>,
    /// Deprecated by Velero for `defaultVolumesToFsBackup`; `true` means the same (Velero
    /// remaps it, and so does [`BackupSpec::volumes_to_fs_backup`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub default_volumes_to_restic: Option<bool>,
    /// The label whose value groups claims into one VolumeGroupSnapshot (Velero's server
    /// default is `velero.io/volume-group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_group_snapshot_label_key: Option<String>,
    /// How the file-system uploader moves pod volume files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub uploader_config: Option<UploaderConfigForBackup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub snapshot_move_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datamover: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_snapshot_timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_operation_timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub ordered_resources: Option<BTreeMap<String, String>>,
    /// Velero's resource policy (a ConfigMap); not applied by veloxide yet (the backup says
    /// so in a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub resource_policy: Option<k8s_openapi::api::core::v1::TypedLocalObjectReference>,
    /// Velero's pre/post exec hooks, run on the backup's pods (`docs/hooks.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<BackupHooks>,
}

/// Velero's `Metadata` of a backup template: the labels a scheduled backup gets.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct BackupTemplateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// Velero's phases, in the order a backup moves through them.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BackupPhase {
    New,
    FailedValidation,
    Queued,
    ReadyToStart,
    InProgress,
    WaitingForPluginOperations,
    WaitingForPluginOperationsPartiallyFailed,
    Finalizing,
    FinalizingPartiallyFailed,
    Completed,
    PartiallyFailed,
    Failed,
    Deleting,
}

impl BackupPhase {
    /// Whether nothing more happens to the backup (other than expiry and deletion).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BackupPhase::FailedValidation
                | BackupPhase::Completed
                | BackupPhase::PartiallyFailed
                | BackupPhase::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BackupPhase::New => "New",
            BackupPhase::FailedValidation => "FailedValidation",
            BackupPhase::Queued => "Queued",
            BackupPhase::ReadyToStart => "ReadyToStart",
            BackupPhase::InProgress => "InProgress",
            BackupPhase::WaitingForPluginOperations => "WaitingForPluginOperations",
            BackupPhase::WaitingForPluginOperationsPartiallyFailed => {
                "WaitingForPluginOperationsPartiallyFailed"
            }
            BackupPhase::Finalizing => "Finalizing",
            BackupPhase::FinalizingPartiallyFailed => "FinalizingPartiallyFailed",
            BackupPhase::Completed => "Completed",
            BackupPhase::PartiallyFailed => "PartiallyFailed",
            BackupPhase::Failed => "Failed",
            BackupPhase::Deleting => "Deleting",
        }
    }
}

/// How far the backup has got.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupProgress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_items: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_backed_up: Option<i64>,
    /// veloxide extension: archive bytes handed to the store so far (while running, at most
    /// one upload part ahead of what the store has acknowledged; when done, the archive's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_uploaded: Option<i64>,
}

/// veloxide extension: the encryption the store confirmed for the backup's objects.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupEncryption {
    /// `None`, `SSE-S3`, `SSE-KMS` or `SSE-C`, as the store recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The KMS key the store recorded (SSE-KMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether the store recorded an S3 Bucket Key (SSE-KMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_key: Option<bool>,
    /// True when a HEAD of every object written confirmed the location's encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// How many objects were checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<i64>,
}

/// What happened to the backup.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// Deprecated by Velero; always 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The archive format, `1.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_version: Option<String>,
    /// When the backup is deleted by the collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub expiration: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BackupPhase>,
    /// Why the spec was refused (phase `FailedValidation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_errors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub start_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub completion_timestamp: Option<Time>,
    /// Items that could not be backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<i64>,
    /// Why the backup failed (phase `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub progress: Option<BackupProgress>,
    /// How many hooks ran and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub hook_status: Option<HookStatus>,
    /// CSI VolumeSnapshots the backup attempted and completed (Velero's fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_volume_snapshots_attempted: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_volume_snapshots_completed: Option<i64>,
    /// Velero's item operations (one per CSI snapshot here, waited for within the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_item_operations_attempted: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_item_operations_completed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_item_operations_failed: Option<i64>,
    /// Velero's place of a backup waiting in its queue (veloxide does not write it; a backup
    /// Velero wrote keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<i64>,
    /// Velero's native (provider) volume snapshots attempted and completed (veloxide takes none
    /// and does not write these; a backup Velero wrote keeps them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshots_attempted: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshots_completed: Option<i64>,
    /// veloxide extension: the encryption the store confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BackupEncryption>,
    /// veloxide extension: where the backup's files are (set when it starts running, or by the
    /// sync for a backup found in a location). A DeleteBackupRequest deletes through this, never
    /// through a `spec.storageLocation` edited later; a backup without it wrote nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_to: Option<BackupWrittenTo>,
    /// veloxide extension: where the backup's time went, per phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_millis: Option<BackupPhaseMillis>,
    /// veloxide extension: standard conditions (`Ready`, and why a backup waits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl BackupSpec {
    /// Whether every pod volume is asked to go file by file: `defaultVolumesToFsBackup`, or
    /// the deprecated `defaultVolumesToRestic` when true (Velero's remapping, in its backup
    /// controller: a true `defaultVolumesToRestic` overrides).
    pub fn volumes_to_fs_backup(&self) -> Option<bool> {
        match self.default_volumes_to_restic {
            Some(true) => Some(true),
            _ => self.default_volumes_to_fs_backup,
        }
    }
}

impl Backup {
    /// The phase, `New` when none was written yet.
    pub fn phase(&self) -> BackupPhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(BackupPhase::New)
    }

    /// The location the backup's files are in: the one recorded when it ran, else (a Backup
    /// from an older veloxide or from Velero) `spec.storageLocation`.
    pub fn files_location(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.written_to.as_ref())
            .map(|w| w.location.as_str())
            .or(self.spec.storage_location.as_deref())
            .filter(|l| !l.is_empty())
    }

    /// Velero's `schedule` metric label: the `velero.io/schedule-name` label, or "".
    pub fn schedule(&self) -> &str {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SCHEDULE_LABEL))
            .map_or("", String::as_str)
    }
}

/// The label Velero's schedules put on their backups.
pub const SCHEDULE_LABEL: &str = "velero.io/schedule-name";
/// The label naming a backup's location, as Velero sets it.
pub const STORAGE_LOCATION_LABEL: &str = "velero.io/storage-location";
/// veloxide's annotation on a Backup the sync created from a location's files, naming that
/// location; such a Backup is never run.
pub const SYNCED_ANNOTATION: &str = "veloxide.io/synced-from";
/// The archive format Velero writes, and veloxide with it.
pub const FORMAT_VERSION: &str = "1.1.0";

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        bucket: &str,
        prefix: &str,
        config: &[(&str, &str)],
    ) -> super::super::BackupStorageLocationSpec {
        serde_json::from_value(serde_json::json!({
            "provider": "velero.io/aws",
            "objectStorage": {"bucket": bucket, "prefix": prefix},
            "config": config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }))
        .unwrap()
    }

    /// The store a backup was written to is its bucket, prefix, endpoint, region and provider:
    /// a location changed in any of them points elsewhere; spelling differences do not.
    #[test]
    fn a_location_pointing_at_another_store_has_moved() {
        let here = [("s3Url", "https://s3.one:9000/"), ("region", "eu-1")];
        let written = BackupWrittenTo::of("default", &spec("b", "/p/", &here));
        assert_eq!(written.s3_url.as_deref(), Some("https://s3.one:9000"));
        assert_eq!(written.provider.as_deref(), Some("aws"));
        let same = BackupWrittenTo::of(
            "default",
            &spec(
                "b",
                "p",
                &[("s3Url", "https://s3.one:9000"), ("region", "eu-1")],
            ),
        );
        assert_eq!(written.moved(&same), None);
        let cases = [
            spec("other", "p", &here),
            spec("b", "q", &here),
            spec(
                "b",
                "p",
                &[("s3Url", "https://s3.two:9000"), ("region", "eu-1")],
            ),
            spec(
                "b",
                "p",
                &[("s3Url", "https://s3.one:9000"), ("region", "eu-2")],
            ),
            spec("b", "p", &[("region", "eu-1")]),
        ];
        for now in cases {
            let now = BackupWrittenTo::of("default", &now);
            let why = written.moved(&now).expect("moved");
            assert!(
                why.starts_with("backup storage location default now points at"),
                "{why}"
            );
            assert!(why.contains("point the location back"), "{why}");
        }
        // A record of an older release names bucket and prefix only: only those are compared.
        let old = BackupWrittenTo {
            location: "default".into(),
            bucket: "b".into(),
            prefix: "p".into(),
            ..Default::default()
        };
        let elsewhere = BackupWrittenTo::of("default", &spec("b", "p", &[("s3Url", "https://x")]));
        assert_eq!(old.moved(&elsewhere), None);
        assert!(
            old.moved(&BackupWrittenTo::of("default", &spec("c", "p", &[])))
                .is_some()
        );
        // Records decode without the new fields (older releases, and Velero's objects have none).
        let decoded: BackupWrittenTo =
            serde_json::from_value(serde_json::json!({"location": "l", "bucket": "b"})).unwrap();
        assert_eq!(decoded.uid, None);
    }

    /// A Velero manifest with fields veloxide does not act on still decodes and round-trips.
    #[test]
    fn velero_manifests_round_trip() {
        let manifest = serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "nightly", "namespace": "velero",
                         "labels": {"velero.io/schedule-name": "daily"}},
            "spec": {
                "includedNamespaces": ["app-*"], "excludedNamespaces": ["app-test"],
                "includedResources": ["configmaps", "deployments.apps"],
                "labelSelector": {"matchLabels": {"tier": "web"}},
                "includeClusterResources": false, "storageLocation": "default",
                "ttl": "72h0m0s", "snapshotVolumes": false,
                "csiSnapshotTimeout": "10m0s", "orderedResources": {"pods": "ns/a"},
            },
            "status": {"phase": "PartiallyFailed", "errors": 2, "formatVersion": "1.1.0",
                       "progress": {"totalItems": 10, "itemsBackedUp": 8}},
        });
        let backup: Backup = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(backup.phase(), BackupPhase::PartiallyFailed);
        assert_eq!(backup.schedule(), "daily");
        assert_eq!(serde_json::to_value(&backup).unwrap(), manifest);
    }
}
