//! `GET /downloads/NAME?token=T`: the objects a presigned link cannot serve (SSE-C), streamed
//! by the server with the customer key, which never leaves it.
//!
//! Any replica can answer: the token is checked against the DownloadRequest's own status
//! (read from the API), so no state is shared between replicas, and deleting or expiring the
//! request revokes the link. Reached through the API server's service proxy, the caller has
//! also passed the API server's authentication and its RBAC check on `services/proxy`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kube::Api;
use serde::Deserialize;

use crate::api::DownloadRequest;
use crate::controller::Context;
use crate::controller::download::{target, token_of};

#[derive(Deserialize)]
struct Params {
    token: Option<String>,
}

pub fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/downloads/{name}", get(download))
        .with_state(ctx)
}

fn refuse(code: StatusCode, message: &str) -> Response {
    (code, format!("{message}\n")).into_response()
}

async fn download(
    State(ctx): State<Arc<Context>>,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let api: Api<DownloadRequest> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let request = match api.get_opt(&name).await {
        Ok(Some(r)) => r,
        // The same answer for a missing request and a wrong token: nothing to probe.
        Ok(None) => return refuse(StatusCode::FORBIDDEN, "the link is not valid"),
        Err(e) => {
            tracing::warn!(error = %e, "reading a download request failed");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let (Some(given), Some(expected)) = (params.token, token_of(&request)) else {
        return refuse(StatusCode::FORBIDDEN, "the link is not valid");
    };
    if given.len() != expected.len() || !openssl::memcmp::eq(given.as_bytes(), expected.as_bytes())
    {
        return refuse(StatusCode::FORBIDDEN, "the link is not valid");
    }
    let expired = request
        .status
        .as_ref()
        .and_then(|s| s.expiration.as_ref())
        .is_none_or(|e| e.0 <= jiff::Timestamp::now());
    if expired {
        return refuse(StatusCode::FORBIDDEN, "the link has expired");
    }
    let (store, key, _) = match target(&ctx, &request).await {
        Ok(t) => t,
        Err(message) => return refuse(StatusCode::NOT_FOUND, &message),
    };
    match store.get(&key).await {
        Ok(body) => {
            let stream = tokio_util::io::ReaderStream::new(body.into_async_read());
            (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(e) if e.is_not_found() => refuse(StatusCode::NOT_FOUND, "file not found"),
        Err(e) => {
            tracing::warn!(error = %e, key, "streaming a download failed");
            refuse(
                StatusCode::BAD_GATEWAY,
                &format!("the store refused the read ({})", e.reason().as_str()),
            )
        }
    }
}
