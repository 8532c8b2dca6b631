//! Plain-HTTP endpoints every replica serves: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// What `/readyz` waits for.
#[derive(Clone, Default)]
pub struct Readiness {
    /// The first full list of locations arrived (the API is reachable and the CRD installed).
    pub caches_synced: Arc<AtomicBool>,
    /// The webhook's certificate is loaded and it is listening (or no webhook is configured).
    pub webhook_ready: Arc<AtomicBool>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.caches_synced.load(Ordering::Acquire) && self.webhook_ready.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    readiness: Readiness,
}

pub fn router(metrics: Metrics, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, readiness })
}

async fn metrics_handler(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let r = &state.readiness;
    if r.is_ready() {
        (StatusCode::OK, "ok".to_owned())
    } else {
        let mut waiting = Vec::new();
        if !r.caches_synced.load(Ordering::Acquire) {
            waiting.push("caches not synced");
        }
        if !r.webhook_ready.load(Ordering::Acquire) {
            waiting.push("webhook certificate not loaded");
        }
        (StatusCode::SERVICE_UNAVAILABLE, waiting.join(", "))
    }
}
