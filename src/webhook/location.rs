//! Admission for BackupStorageLocations: the same `LocationConfig` parser the location
//! controller runs, so a location admission lets in is one the controller can use.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};

use super::review::{Admits, BadRequest, Read, answer, deny, read_spec, with_warnings};
use crate::api::BackupStorageLocationSpec;
use crate::location::{FilePaths, LocationConfig};

const LOCATIONS: Admits = Admits {
    kind: "BackupStorageLocation",
    validates: "this webhook validates velero.io BackupStorageLocations",
    missing_spec_hint: "",
};

/// Answer one admission request. Rule failures and undecodable objects are answered inside an
/// AdmissionReview (HTTP 200); only a body that is not an AdmissionReview is a [`BadRequest`].
pub fn review(body: &[u8]) -> Result<Vec<u8>, BadRequest> {
    review_with(body, &FilePaths::default())
}

/// [`review`] with `files` deciding where a location's file paths may point
/// (`--credentials-dir`).
pub fn review_with(body: &[u8], files: &FilePaths) -> Result<Vec<u8>, BadRequest> {
    answer(body, |request| respond(request, files))
}

fn respond(request: &AdmissionRequest<DynamicObject>, files: &FilePaths) -> AdmissionResponse {
    let (response, spec): (_, BackupStorageLocationSpec) = match read_spec(request, &LOCATIONS) {
        Read::Spec(response, spec) => (response, spec),
        Read::Answer(answer) => return answer,
    };
    match LocationConfig::from_spec_with(&spec, files) {
        Ok(parsed) => with_warnings(response, parsed.warnings),
        Err(rejected) => {
            let message = rejected.to_string();
            deny(response, message, rejected.warnings)
        }
    }
}
