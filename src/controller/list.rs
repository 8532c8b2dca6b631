//! Every list a controller makes of its own kinds (Backups, Restores, DeleteBackupRequests),
//! page by page and without `managedFields`: with 100,000 Backups synced from a bucket, one
//! unpaged list is one response of hundreds of megabytes, held whole in memory, most of it
//! field-manager bookkeeping no controller reads.

use kube::api::ListParams;
use kube::core::NamespaceResourceScope;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Objects per page: Velero's `--client-page-size` default, and kube's watcher's.
pub const PAGE: u32 = 500;

/// Every object `params` selects, read `PAGE` at a time, each without `managedFields`.
pub async fn all<K>(api: &Api<K>, params: &ListParams) -> Result<Vec<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut params = params.clone().limit(PAGE);
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        out.extend(page.items.into_iter().map(|mut item| {
            item.meta_mut().managed_fields = None;
            item
        }));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}
