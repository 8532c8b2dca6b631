//! Clients cached by what they are built from (endpoint, trust, credentials: see
//! [`Fingerprint`]) and shared by every location with the same fingerprint, so a thousand
//! locations on one store share one connection pool. A location whose Secrets change gets a
//! new fingerprint, hence new clients; clients no location uses any more are dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::client::{Clients, Fingerprint};
use super::error::Result;
use super::secrets::Resolved;
use super::stats::StorageStats;
use super::store::ObjectStore;

#[derive(Default)]
struct Entries {
    clients: HashMap<Fingerprint, Arc<Clients>>,
    /// Which fingerprint each location (e.g. `namespace/name`) last used.
    locations: HashMap<String, Fingerprint>,
}

impl Entries {
    /// Drop clients that no location refers to.
    fn collect_unused(&mut self) {
        let used: std::collections::HashSet<Fingerprint> =
            self.locations.values().copied().collect();
        self.clients
            .retain(|fingerprint, _| used.contains(fingerprint));
    }
}

/// The cache, and counts of what it built and opened.
#[derive(Default)]
pub struct StoreCache {
    entries: Mutex<Entries>,
    stats: Arc<StorageStats>,
    /// The stall timeout of every store handed out (`None`: the default).
    stall: Option<std::time::Duration>,
}

impl std::fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (locations, clients) = self
            .entries
            .lock()
            .map(|e| (e.locations.len(), e.clients.len()))
            .unwrap_or((0, 0));
        f.debug_struct("StoreCache")
            .field("locations", &locations)
            .field("clients", &clients)
            .finish()
    }
}

impl StoreCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every store handed out abandons a transfer stalled for `limit`.
    pub fn with_stall_timeout(mut self, limit: std::time::Duration) -> Self {
        self.stall = Some(limit);
        self
    }

    /// What this cache built and the connections its clients opened.
    pub fn stats(&self) -> Arc<StorageStats> {
        self.stats.clone()
    }

    /// The store of `location`, reusing clients built for the same fingerprint.
    pub fn store(&self, location: &str, resolved: &Resolved) -> Result<ObjectStore> {
        let fingerprint = Fingerprint::of(resolved);
        let cached = {
            let mut entries = self.entries.lock().expect("cache lock is never poisoned");
            let previous = entries.locations.insert(location.to_owned(), fingerprint);
            if previous.is_some_and(|p| p != fingerprint) {
                entries.collect_unused();
            }
            entries.clients.get(&fingerprint).cloned()
        };
        let clients = match cached {
            Some(clients) => clients,
            None => {
                // Built outside the lock: building loads certificates and is not instant.
                let clients = Clients::build_counted(resolved, &self.stats)?;
                tracing::debug!(location, "built object-store clients");
                self.entries
                    .lock()
                    .expect("cache lock is never poisoned")
                    .clients
                    .entry(fingerprint)
                    .or_insert(clients)
                    .clone()
            }
        };
        let store = ObjectStore::new(clients, resolved)?;
        Ok(match self.stall {
            Some(limit) => store.with_stall_timeout(limit),
            None => store,
        })
    }

    /// Forget a location (when it is deleted), and its clients if nobody else uses them.
    pub fn remove(&self, location: &str) {
        let mut entries = self.entries.lock().expect("cache lock is never poisoned");
        entries.locations.remove(location);
        entries.collect_unused();
    }

    /// How many distinct client sets are cached.
    pub fn clients_cached(&self) -> usize {
        self.entries.lock().map(|e| e.clients.len()).unwrap_or(0)
    }
}
