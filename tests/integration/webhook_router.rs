//! The webhook's routes in-process: every rule case, plus the protocol edges.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::cases;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use veloxide::webhook::{VALIDATE_BSL_PATH, router};

async fn post(path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, bytes)
}

async fn admit(review: &Value) -> Value {
    let (status, body) = post(VALIDATE_BSL_PATH, serde_json::to_vec(review).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn every_rule_case() {
    let mut failures = Vec::new();
    for (i, case) in cases::all().into_iter().enumerate() {
        for operation in ["CREATE", "UPDATE"] {
            let uid = format!("uid-{i}-{operation}");
            let review = cases::review(&uid, operation, Some(cases::object(&case.spec)));
            let answer = admit(&review).await;
            assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(answer["kind"], "AdmissionReview");
            if let Err(e) = cases::check_response(&case, &uid, &answer) {
                failures.push(format!("{} ({operation}): {e}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn delete_is_allowed_even_for_a_bad_location() {
    let bad = cases::object(&json!({"provider": "gcp", "objectStorage": {"bucket": ""}}));
    let answer = admit(&cases::review("del", "DELETE", Some(bad.clone()))).await;
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(answer["response"]["uid"], "del");
    // The same object is refused on CREATE, so the DELETE answer is not an accident.
    let answer = admit(&cases::review("create", "CREATE", Some(bad))).await;
    assert_eq!(answer["response"]["allowed"], false);
}

#[tokio::test]
async fn undecodable_object_is_denied_with_the_field() {
    let mut object = cases::object(&json!({"provider": "aws", "objectStorage": {"bucket": "b"}}));
    object["spec"]["accessMode"] = json!("Sometimes");
    let answer = admit(&cases::review("u1", "CREATE", Some(object))).await;
    assert_eq!(answer["response"]["allowed"], false);
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("spec.accessMode"), "{message}");
}

#[tokio::test]
async fn other_kinds_and_missing_objects_are_invalid_not_errors() {
    let mut review = cases::review(
        "k1",
        "CREATE",
        Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})),
    );
    review["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Secret"});
    let answer = admit(&review).await;
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 400);
    let answer = admit(&cases::review("k2", "CREATE", None)).await;
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["uid"], "k2");
}

#[tokio::test]
async fn a_body_that_is_not_an_admission_review_is_a_400() {
    for body in [&b"not json"[..], b"{}", b"{\"request\": 5}", b"[]", b""] {
        let (status, reason) = post(VALIDATE_BSL_PATH, body.to_vec()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(body)
        );
        let reason = String::from_utf8(reason).unwrap();
        assert!(reason.contains("AdmissionReview"), "{reason}");
    }
}

/// Found by `make fuzz`: a review whose kind or apiVersion is not AdmissionReview v1 was
/// answered with that same kind echoed back; it is a bad request.
#[tokio::test]
async fn a_review_of_another_kind_or_version_is_a_400() {
    let object = cases::object(&json!({"provider": "aws", "objectStorage": {"bucket": "b"}}));
    for (api_version, kind) in [
        ("admission.k8s.io/v1", "CdmissionReview"),
        ("admission.k8s.io/v1beta1", "AdmissionReview"),
        ("", ""),
    ] {
        let mut review = cases::review("fz", "CREATE", Some(object.clone()));
        review["apiVersion"] = json!(api_version);
        review["kind"] = json!(kind);
        let (status, reason) = post(VALIDATE_BSL_PATH, serde_json::to_vec(&review).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{api_version} {kind}");
        assert!(
            String::from_utf8(reason)
                .unwrap()
                .contains("admissionReviewVersions")
        );
    }
}

#[tokio::test]
async fn healthz_answers() {
    let response = router()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
