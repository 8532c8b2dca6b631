//! Every list a controller makes of its own kinds (Backups, Restores, DeleteBackupRequests),
//! page by page and without `managedFields`, and the controllers' caches of them without
//! `managedFields` too: with 100,000 Backups synced from a bucket, one unpaged list is one
//! response of hundreds of megabytes, held whole in memory, and much of every cached object is
//! field-manager bookkeeping no controller reads.

use kube::api::ListParams;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Controller;
use kube::runtime::{WatchStreamExt as _, reflector, watcher};
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

/// A controller over `api` (as `Controller::new`), whose cache keeps each object without
/// `managedFields`, listed [`PAGE`] at a time.
pub fn controller<K>(api: Api<K>, config: watcher::Config) -> Controller<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let objects = watcher(api, config.page_size(PAGE)).modify(|object| {
        object.meta_mut().managed_fields = None;
    });
    Controller::for_stream(reflector(writer, objects).applied_objects(), reader)
}
