//! `VolumeSnapshotLocation`: where Velero's volume snapshotter plugins take native (provider)
//! snapshots, e.g. EBS snapshots in a region. veloxide snapshots volumes through CSI only, so
//! it keeps these for manifests written for Velero and names them in a backup's warning when a
//! backup asks for one (`backup::not_done`); nothing else reads them.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bsl::SecretKeySelector;

/// A place for native volume snapshots: the provider and its settings.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "VolumeSnapshotLocation",
    doc = "A location for a volume snapshotter plugin's native snapshots (Velero's); kept for Velero manifests, veloxide takes CSI snapshots only.",
    namespaced,
    shortname = "vsl",
    status = "VolumeSnapshotLocationStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotLocationSpec {
    /// The volume snapshotter plugin (`aws`, `velero.io/aws`, ...).
    pub provider: String,
    /// The plugin's settings (`region`, `profile`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// The Secret key holding the plugin's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<SecretKeySelector>,
}

/// Velero's phases of a snapshot location.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum VolumeSnapshotLocationPhase {
    Available,
    Unavailable,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct VolumeSnapshotLocationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<VolumeSnapshotLocationPhase>,
}
