//! The `velero.io/v1` resource types veloxide serves.
//!
//! Field names and shapes follow Velero v1.18 so that manifests written for Velero apply
//! unchanged; our additions are marked as such on the field.

pub mod backup;
pub mod bsl;
pub mod duration;

pub use backup::{Backup, BackupEncryption, BackupPhase, BackupProgress, BackupSpec, BackupStatus};
pub use bsl::{
    AccessMode, BackupStorageLocation, BackupStorageLocationSpec, BackupStorageLocationStatus,
    LocalObjectReference, LocationPhase, ObjectStorageLocation, SecretKeySelector,
};
pub use duration::GoDuration;

/// The API group every veloxide resource lives in.
pub const GROUP: &str = "velero.io";
