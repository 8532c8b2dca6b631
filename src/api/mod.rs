//! The `velero.io/v1` resource types veloxide serves.
//!
//! Field names and shapes follow Velero v1.18 so that manifests written for Velero apply
//! unchanged; our additions are marked as such on the field.

pub mod backup;
pub mod backup_repository;
pub mod bsl;
pub mod delete;
pub mod download;
pub mod duration;
pub mod hooks;
pub mod label;
pub mod phase_times;
pub mod podvolume;
pub mod restore;
pub mod schedule;
pub mod serverstatus;
pub mod uploader;
pub mod vsl;
pub mod written_to;

pub use backup::{
    Backup, BackupEncryption, BackupPhase, BackupPhaseMillis, BackupProgress, BackupSpec,
    BackupStatus, BackupTemplateMetadata, BackupWrittenTo,
};
pub use backup_repository::{BackupRepository, BackupRepositorySpec, BackupRepositoryStatus};
pub use bsl::{
    AccessMode, BackupStorageLocation, BackupStorageLocationSpec, BackupStorageLocationStatus,
    LocalObjectReference, LocationPhase, ObjectStorageLocation, SecretKeySelector,
};
pub use delete::{
    DeleteBackupRequest, DeleteBackupRequestPhase, DeleteBackupRequestSpec,
    DeleteBackupRequestStatus,
};
pub use download::{
    DownloadRequest, DownloadRequestPhase, DownloadRequestSpec, DownloadRequestStatus,
    DownloadTarget, DownloadTargetKind,
};
pub use duration::GoDuration;
pub use hooks::{
    BackupHooks, BackupResourceHook, BackupResourceHookSpec, ExecHook, ExecRestoreHook,
    HookErrorMode, HookStatus, InitRestoreHook, RestoreHooks, RestoreResourceHook,
    RestoreResourceHookSpec,
};
pub use podvolume::{
    PodVolumeBackup, PodVolumeBackupSpec, PodVolumeBackupStatus, PodVolumePhase, PodVolumeRestore,
    PodVolumeRestoreSpec, PodVolumeRestoreStatus, UploaderType,
};
pub use restore::{Restore, RestorePhase, RestoreProgress, RestoreSpec, RestoreStatus};
pub use schedule::{Retention, Schedule, SchedulePhase, ScheduleSpec, ScheduleStatus};
pub use serverstatus::{
    PluginInfo, ServerStatusRequest, ServerStatusRequestPhase, ServerStatusRequestSpec,
    ServerStatusRequestStatus,
};
pub use uploader::{UploaderConfigForBackup, UploaderConfigForRestore};
pub use vsl::{VolumeSnapshotLocation, VolumeSnapshotLocationSpec, VolumeSnapshotLocationStatus};

/// The name every write veloxide makes (status, events, restored objects) is attributed to.
pub const FIELD_MANAGER: &str = "veloxide";

/// The API group every veloxide resource lives in.
pub const GROUP: &str = "velero.io";
