//! The CustomResourceDefinitions veloxide serves, generated from the Rust types.
//!
//! `veloxide crds` prints them; `crds/` holds that output, committed, and a test fails when
//! the two differ, so the schema users apply is always the one the code reads.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api::{
    Backup, BackupStorageLocation, DeleteBackupRequest, DownloadRequest, Restore, Schedule,
    ServerStatusRequest, VolumeSnapshotLocation,
};

/// Every CRD, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        BackupStorageLocation::crd(),
        Backup::crd(),
        Restore::crd(),
        DownloadRequest::crd(),
        Schedule::crd(),
        DeleteBackupRequest::crd(),
        ServerStatusRequest::crd(),
        VolumeSnapshotLocation::crd(),
    ]
}

/// The file name each CRD is committed under in `crds/`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as YAML.
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    serde_norway::to_string(crd).expect("a CRD always serializes")
}

/// Every CRD as one multi-document YAML stream.
pub fn render_all() -> String {
    all()
        .iter()
        .map(|crd| format!("---\n{}", to_yaml(crd)))
        .collect()
}
