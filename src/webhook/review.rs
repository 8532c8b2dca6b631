//! Decode an AdmissionReview, run the location parser, encode the answer.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use crate::api::BackupStorageLocationSpec;
use crate::location::{FilePaths, LocationConfig};

/// A body that is not an AdmissionReview at all: answered with HTTP 400 and this reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

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

/// Decode the review in `body`, let `respond` decide, encode the answer.
pub(super) fn answer(
    body: &[u8],
    respond: impl FnOnce(&AdmissionRequest<DynamicObject>) -> AdmissionResponse,
) -> Result<Vec<u8>, BadRequest> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| {
        BadRequest(format!(
            "the body is not an admission.k8s.io/v1 AdmissionReview: {e}"
        ))
    })?;
    // The response echoes the request's apiVersion and kind, so anything else is refused here
    // rather than answered with a review the API server would not recognise.
    if review.types.api_version != "admission.k8s.io/v1" || review.types.kind != "AdmissionReview" {
        return Err(BadRequest(format!(
            "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got {:?} {:?}; \
             set admissionReviewVersions: [v1] in the ValidatingWebhookConfiguration",
            review.types.api_version, review.types.kind
        )));
    }
    let request: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| BadRequest("the AdmissionReview has no request".to_owned()))?;
    let response = respond(&request);
    Ok(serde_json::to_vec(&response.into_review()).expect("an AdmissionReview serializes"))
}

fn respond(request: &AdmissionRequest<DynamicObject>, files: &FilePaths) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return response;
    }
    if request.kind.group != "velero.io" || request.kind.kind != "BackupStorageLocation" {
        return invalid(
            response,
            format!(
                "this webhook validates velero.io BackupStorageLocations, not {}/{}; check the \
                 rules of the ValidatingWebhookConfiguration",
                request.kind.group, request.kind.kind
            ),
        );
    }
    let Some(object) = &request.object else {
        return invalid(response, "the request carries no object to validate");
    };
    // Only the spec is validated; read it straight from the object, without re-encoding it.
    let spec: BackupStorageLocationSpec = match object.data.get("spec") {
        None => {
            return deny(
                response,
                "the BackupStorageLocation could not be read: spec: missing field".into(),
                Vec::new(),
            );
        }
        Some(spec) => match serde_path_to_error::deserialize(spec) {
            Ok(spec) => spec,
            Err(e) => {
                return deny(
                    response,
                    format!("the BackupStorageLocation could not be read: spec.{e}"),
                    Vec::new(),
                );
            }
        },
    };
    match LocationConfig::from_spec_with(&spec, files) {
        Ok(parsed) => with_warnings(response, parsed.warnings),
        Err(rejected) => {
            let message = rejected.to_string();
            deny(response, message, rejected.warnings)
        }
    }
}

pub(super) fn deny(
    response: AdmissionResponse,
    message: String,
    warnings: Vec<String>,
) -> AdmissionResponse {
    let mut response = with_warnings(response.deny(message), warnings);
    response.result.code = 403;
    response.result.reason = "Forbidden".into();
    response
}

pub(super) fn invalid(
    response: AdmissionResponse,
    message: impl Into<String>,
) -> AdmissionResponse {
    let mut response = response.deny(message.into());
    response.result.code = 400;
    response.result.reason = "Invalid".into();
    response
}

fn with_warnings(mut response: AdmissionResponse, warnings: Vec<String>) -> AdmissionResponse {
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}
