//! The DownloadRequest controller: give each new request a link valid for ten minutes, and
//! delete requests once their link has expired (Velero's behaviour).
//!
//! The link is a presigned GET (addressed to `publicUrl` when set) unless the location uses
//! SSE-C: a presigned link cannot carry the customer key without handing it out (Velero's
//! issue 8668), so those objects are streamed by veloxide itself from `/downloads/NAME`, a
//! capability link checked against the request (see `docs/downloads.md`).

mod link;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DeleteParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::{Context, Error, patch_status, run_until};
use crate::api::{DownloadRequest, DownloadRequestPhase, DownloadRequestStatus};
use link::link;
pub use link::{target, token_of};
use state::{CONTROLLER, LINK_TTL, RESYNC};

pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<DownloadRequest> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = Controller::new(api, watcher::Config::default());
    run_until(controller, term, reconcile, error_policy, ctx, CONTROLLER).await;
}

fn error_policy(_r: Arc<DownloadRequest>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, error, Duration::from_secs(5))
}

async fn reconcile(request: Arc<DownloadRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let api: Api<DownloadRequest> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let name = request.name_any();
    let now = jiff::Timestamp::now();
    let status = request.status.clone().unwrap_or_default();
    if let Some(expiration) = &status.expiration {
        if expiration.0 <= now {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Action::await_change());
        }
        if status.phase == Some(DownloadRequestPhase::Processed) {
            return Ok(Action::requeue(until(expiration, now).min(RESYNC)));
        }
    }
    let expiration = Time(now + LINK_TTL);
    let mut next = DownloadRequestStatus {
        expiration: Some(expiration.clone()),
        ..Default::default()
    };
    let retry = match link(&ctx, &request).await {
        Ok(url) => {
            next.phase = Some(DownloadRequestPhase::Processed);
            next.download_url = Some(url);
            until(&expiration, now).min(RESYNC)
        }
        Err(message) => {
            // Velero leaves the request New and tries again; the message says why.
            next.phase = Some(DownloadRequestPhase::New);
            next.message = Some(message);
            // Keep the first expiration so a request that never works still goes away.
            next.expiration = status.expiration.or(next.expiration);
            Duration::from_secs(5)
        }
    };
    patch_status(&api, &name, &next).await?;
    Ok(Action::requeue(retry))
}

fn until(expiration: &Time, now: jiff::Timestamp) -> Duration {
    Duration::try_from(expiration.0.duration_since(now)).unwrap_or(Duration::ZERO)
        + Duration::from_millis(100)
}
