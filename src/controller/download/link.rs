//! A request's link: a presigned GET, or for SSE-C objects a capability link to veloxide's own
//! `/downloads/NAME`, and the store and key behind it.

use kube::{Api, ResourceExt};

use super::state::LINK_TTL;
use crate::api::{Backup, DownloadRequest, Restore};
use crate::controller::Context;
use crate::controller::written::{Unreachable, files_of};
use crate::location::Encryption;
use crate::storage::ObjectStore;

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
    // Through the location the backup was written to, and only while it still points there.
    let store = files_of(ctx, &backup)
        .await
        .map_err(|e| match e {
            // The store's own message, as before (the CLI prints it after its wait).
            Unreachable::Unusable(_, why) => why,
            other => other.to_string(),
        })?
        .store;
    let sse_c = matches!(store.config().encryption, Encryption::SseC(_));
    Ok((store, target.kind.key(&backup_name, &target.name), sse_c))
}

pub(super) async fn link(ctx: &Context, request: &DownloadRequest) -> Result<String, String> {
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
