//! The webhook's HTTP routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};

use super::location::review_with;
use super::schedule::review_schedule;
use crate::location::FilePaths;

/// Where the API server sends BackupStorageLocation admission reviews.
pub const VALIDATE_BSL_PATH: &str = "/validate-velero-io-v1-backupstoragelocation";

/// Where the API server sends Schedule admission reviews.
pub const VALIDATE_SCHEDULE_PATH: &str = "/validate-velero-io-v1-schedule";

/// The API server sends at most 3 MiB objects; leave room for the review around them.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// `POST /validate-velero-io-v1-backupstoragelocation`, `POST /validate-velero-io-v1-schedule`
/// and `/healthz`, with a location's file paths allowed only under the default credentials
/// directory.
pub fn router() -> Router {
    router_with(FilePaths::default())
}

/// [`router`] with `files` deciding where a location's file paths may point.
pub fn router_with(files: FilePaths) -> Router {
    let files = Arc::new(files);
    Router::new()
        .route(
            VALIDATE_BSL_PATH,
            post(move |body: Bytes| validate(body, files.clone())),
        )
        .route(VALIDATE_SCHEDULE_PATH, post(validate_schedule))
        // Any method, so a benchmark can post the same body to it and measure the transport
        // alone; the body is read and dropped.
        .route("/healthz", any(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn validate(body: Bytes, files: Arc<FilePaths>) -> Response {
    match review_with(&body, &files) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(bad) => (StatusCode::BAD_REQUEST, bad.0).into_response(),
    }
}

async fn validate_schedule(body: Bytes) -> Response {
    match review_schedule(&body) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(bad) => (StatusCode::BAD_REQUEST, bad.0).into_response(),
    }
}

async fn healthz(_body: Bytes) -> &'static str {
    "ok"
}
