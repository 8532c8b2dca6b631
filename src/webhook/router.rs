//! The webhook's HTTP routes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};

use super::{VALIDATE_BSL_PATH, VALIDATE_SCHEDULE_PATH};

/// The API server sends at most 3 MiB objects; leave room for the review around them.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// `POST /validate-velero-io-v1-backupstoragelocation`, `POST /validate-velero-io-v1-schedule`
/// and `/healthz`.
pub fn router() -> Router {
    Router::new()
        .route(VALIDATE_BSL_PATH, post(validate))
        .route(VALIDATE_SCHEDULE_PATH, post(validate_schedule))
        // Any method, so a benchmark can post the same body to it and measure the transport
        // alone; the body is read and dropped.
        .route("/healthz", any(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn validate(body: Bytes) -> Response {
    match super::review(&body) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(bad) => (StatusCode::BAD_REQUEST, bad.0).into_response(),
    }
}

async fn validate_schedule(body: Bytes) -> Response {
    match super::review_schedule(&body) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(bad) => (StatusCode::BAD_REQUEST, bad.0).into_response(),
    }
}

async fn healthz(_body: Bytes) -> &'static str {
    "ok"
}
