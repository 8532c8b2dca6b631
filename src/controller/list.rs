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
    let mut out = Vec::new();
    each(api, params, |item| out.push(item)).await?;
    Ok(out)
}

/// Every object `params` selects, handed to `f` one at a time as its page arrives (without
/// `managedFields`): a caller that keeps a little of each holds one page, not the whole list.
pub async fn each<K>(
    api: &Api<K>,
    params: &ListParams,
    mut f: impl FnMut(K),
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut params = params.clone().limit(PAGE);
    loop {
        let page = api.list(&params).await?;
        for mut item in page.items {
            item.meta_mut().managed_fields = None;
            f(item);
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(()),
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
    trimmed_controller(api, config, |object| {
        object.meta_mut().managed_fields = None;
    })
}

/// [`controller`], with `trim` applied to each object before the cache keeps it (a cache of
/// many objects keeps only what its reconciles read).
pub fn trimmed_controller<K>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
) -> Controller<K>
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
    let objects = watcher(api, config.page_size(PAGE)).modify(trim);
    Controller::for_stream(reflector(writer, objects).applied_objects(), reader)
}
