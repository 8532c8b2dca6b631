//! The DownloadRequest controller: give each new request a link valid for ten minutes, and
//! delete requests once their link has expired (Velero's behaviour).
//!
//! The link is a presigned GET (addressed to `publicUrl` when set) unless the location uses
//! SSE-C: a presigned link cannot carry the customer key without handing it out (Velero's
//! issue 8668), so those objects are streamed by veloxide itself from `/downloads/NAME`, a
//! capability link checked against the request (see `docs/downloads.md`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::api::{
    Backup, BackupStorageLocation, DownloadRequest, DownloadRequestPhase, DownloadRequestStatus,
    Restore,
};
use crate::location::Encryption;
use crate::storage::ObjectStore;

pub const CONTROLLER: &str = "downloadrequest";
/// How long a link works (Velero's `DownloadURLTTL`).
pub const LINK_TTL: Duration = Duration::from_secs(600);
/// Velero enqueues every request each minute, so expired ones go within a minute.
const RESYNC: Duration = Duration::from_secs(60);

/// Where SSE-C downloads are served from.
#[derive(Clone, Debug)]
pub struct DownloadSettings {
    /// An absolute base URL in front of the server's HTTP port (an ingress, say); `None`
    /// means the API server's service proxy, `/api/v1/namespaces/NS/services/SERVICE/proxy`.
    pub url_base: Option<String>,
    /// The Service (and port) the service proxy reaches: `NAME:PORT`.
    pub service: String,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        DownloadSettings {
            url_base: None,
            service: "veloxide:metrics".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
}

pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<DownloadRequest> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(term.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(_r: Arc<DownloadRequest>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, "KubeApi", error, Duration::from_secs(5))
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
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": next})),
    )
    .await?;
    Ok(Action::requeue(retry))
}

fn until(expiration: &Time, now: jiff::Timestamp) -> Duration {
    Duration::try_from(expiration.0.duration_since(now)).unwrap_or(Duration::ZERO)
        + Duration::from_millis(100)
}

/// The request's store and object key, and whether the object is SSE-C encrypted.
pub async fn target(
    ctx: &Context,
    request: &DownloadRequest,
) -> Result<(ObjectStore, String, bool), String> {
    let ns = &ctx.settings.namespace;
    let target = &request.spec.target;
    let backup_name = if target.kind.is_restore() {
        let restores: Api<Restore> = Api::namespaced(ctx.client.clone(), ns);
        restores
            .get_opt(&target.name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("restore {:?} does not exist", target.name))?
            .spec
            .backup_name
    } else {
        target.name.clone()
    };
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), ns);
    let backup = backups
        .get_opt(&backup_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("backup {backup_name:?} does not exist"))?;
    let location_name = backup.spec.storage_location.clone().unwrap_or_default();
    let locations: Api<BackupStorageLocation> = Api::namespaced(ctx.client.clone(), ns);
    let location = locations
        .get_opt(&location_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("backup storage location {location_name:?} does not exist"))?;
    let store = super::backup::store_for(ctx, &location)
        .await
        .map_err(|e| e.to_string())?;
    let sse_c = matches!(store.config().encryption, Encryption::SseC(_));
    Ok((store, target.kind.key(&backup_name, &target.name), sse_c))
}

async fn link(ctx: &Context, request: &DownloadRequest) -> Result<String, String> {
    let (store, key, sse_c) = target(ctx, request).await?;
    if !sse_c {
        return store
            .presigned_get(&key, LINK_TTL)
            .await
            .map_err(|e| e.to_string());
    }
    let mut token = [0u8; 32];
    openssl::rand::rand_bytes(&mut token).map_err(|e| e.to_string())?;
    let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
    let settings = &ctx.settings.download;
    let base = settings.url_base.clone().unwrap_or_else(|| {
        format!(
            "/api/v1/namespaces/{}/services/{}/proxy",
            ctx.settings.namespace, settings.service
        )
    });
    Ok(format!(
        "{}/downloads/{}?token={token}",
        base.trim_end_matches('/'),
        request.name_any()
    ))
}

/// The token a streamed link carries, read back from the request's status.
pub fn token_of(request: &DownloadRequest) -> Option<String> {
    let url = request.status.as_ref()?.download_url.as_deref()?;
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}
