//! Location gauges from the live objects, on every replica: rebuilt from a full list at
//! start-up (so a restart loses nothing), and dropped when a location is deleted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use kube::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio_util::sync::CancellationToken;

use crate::api::BackupStorageLocation;
use crate::metrics::Metrics;

/// Watch locations in `api` and keep `metrics` in step. `synced` turns true after the first
/// complete list (the readiness signal for "caches are synced").
pub async fn mirror_locations(
    api: Api<BackupStorageLocation>,
    metrics: Metrics,
    synced: Arc<AtomicBool>,
    forget: impl Fn(&str) + Send,
    shutdown: CancellationToken,
) {
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut relisting: BTreeSet<String> = BTreeSet::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = stream.next() => event,
        };
        let Some(event) = event else { return };
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "watching BackupStorageLocations failed; retrying");
                continue;
            }
        };
        match event {
            Event::Init => relisting.clear(),
            Event::InitApply(location) => {
                let name = location.metadata.name.clone().unwrap_or_default();
                metrics.observe_location(&location);
                relisting.insert(name);
            }
            Event::InitDone => {
                for gone in known.difference(&relisting) {
                    metrics.forget_location(gone);
                    forget(gone);
                }
                known = std::mem::take(&mut relisting);
                synced.store(true, Ordering::Release);
            }
            Event::Apply(location) => {
                metrics.observe_location(&location);
                known.insert(location.metadata.name.clone().unwrap_or_default());
            }
            Event::Delete(location) => {
                let name = location.metadata.name.clone().unwrap_or_default();
                metrics.forget_location(&name);
                forget(&name);
                known.remove(&name);
            }
        }
    }
}
