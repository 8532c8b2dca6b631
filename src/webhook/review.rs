//! What every admission endpoint shares: decode the AdmissionReview, pass deletes, refuse
//! another kind, read the spec, and encode the answer (allowed, denied or invalid).

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde::de::DeserializeOwned;

/// A body that is not an AdmissionReview at all: answered with HTTP 400 and this reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

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

/// How an endpoint names what it admits, in its refusals.
pub(super) struct Admits {
    /// The velero.io kind (`Schedule`).
    pub kind: &'static str,
    /// The start of the answer to a request for another kind (`this endpoint validates
    /// velero.io Schedules`).
    pub validates: &'static str,
    /// Said after "spec: missing field" (empty, or `; give spec.schedule ...`).
    pub missing_spec_hint: &'static str,
}

/// What [`read_spec`] found.
pub(super) enum Read<S> {
    /// The decoded spec, for the endpoint's rules, and the response to answer with.
    Spec(AdmissionResponse, S),
    /// The answer is already decided: a delete allowed, an invalid request, a spec denied.
    Answer(AdmissionResponse),
}

/// The checks before an endpoint's own rules: a delete (or connect) is allowed as it is, a
/// request for another kind or without an object is invalid, and a spec that is missing or
/// cannot be decoded is denied naming the field.
pub(super) fn read_spec<S: DeserializeOwned>(
    request: &AdmissionRequest<DynamicObject>,
    admits: &Admits,
) -> Read<S> {
    let response = AdmissionResponse::from(request);
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return Read::Answer(response);
    }
    if request.kind.group != "velero.io" || request.kind.kind != admits.kind {
        return Read::Answer(invalid(
            response,
            format!(
                "{}, not {}/{}; check the rules of the ValidatingWebhookConfiguration",
                admits.validates, request.kind.group, request.kind.kind
            ),
        ));
    }
    let Some(object) = &request.object else {
        return Read::Answer(invalid(
            response,
            "the request carries no object to validate",
        ));
    };
    // Only the spec is validated; read it straight from the object, without re-encoding it.
    let kind = admits.kind;
    match object.data.get("spec") {
        None => Read::Answer(deny(
            response,
            format!(
                "the {kind} could not be read: spec: missing field{}",
                admits.missing_spec_hint
            ),
            Vec::new(),
        )),
        Some(spec) => match serde_path_to_error::deserialize(spec) {
            Ok(spec) => Read::Spec(response, spec),
            Err(e) => Read::Answer(deny(
                response,
                format!("the {kind} could not be read: spec.{e}"),
                Vec::new(),
            )),
        },
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

pub(super) fn with_warnings(
    mut response: AdmissionResponse,
    warnings: Vec<String>,
) -> AdmissionResponse {
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}
