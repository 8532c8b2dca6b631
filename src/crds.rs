//! The CustomResourceDefinitions veloxide serves, generated from the Rust types.
//!
//! `veloxide crds` prints them; `crds/` holds that output, committed, and a test fails when
//! the two differ, so the schema users apply is always the one the code reads.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api::{
    Backup, BackupRepository, BackupStorageLocation, DeleteBackupRequest, DownloadRequest,
    PodVolumeBackup, PodVolumeRestore, Restore, Schedule, ServerStatusRequest,
    VolumeSnapshotLocation,
};

/// Every CRD, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        BackupStorageLocation::crd(),
        Backup::crd(),
        Restore::crd(),
        DownloadRequest::crd(),
        Schedule::crd(),
        DeleteBackupRequest::crd(),
        ServerStatusRequest::crd(),
        VolumeSnapshotLocation::crd(),
        PodVolumeBackup::crd(),
        PodVolumeRestore::crd(),
        BackupRepository::crd(),
    ];
    crds.iter_mut().for_each(spec_optional_when_empty_is_valid);
    crds
}

/// kube's derive makes `spec` required; Velero's CRDs do not, and a Backup or a
/// ServerStatusRequest without one is a manifest Velero takes. Where an empty spec is valid
/// (none of its fields is required), `spec` is optional and defaults to `{}`, so the objects
/// the API server stores, and the controllers read, always have one.
fn spec_optional_when_empty_is_valid(crd: &mut CustomResourceDefinition) {
    for version in &mut crd.spec.versions {
        let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        let Some(spec) = root.properties.as_mut().and_then(|p| p.get_mut("spec")) else {
            continue;
        };
        if spec.required.as_ref().is_some_and(|r| !r.is_empty()) {
            continue;
        }
        spec.default = Some(
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON(
                serde_json::json!({}),
            ),
        );
        if let Some(required) = root.required.as_mut() {
            required.retain(|r| r != "spec");
        }
        if root.required.as_ref().is_some_and(Vec::is_empty) {
            root.required = None;
        }
    }
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
