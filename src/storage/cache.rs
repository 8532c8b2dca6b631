//! Clients cached per location and rebuilt when anything they were built from changes
//! (endpoint, trust, credentials: see [`Fingerprint`]). Building a client is cheap but not
//! free, and a cached one keeps its connection pool warm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ObjectStore;
use super::client::{Clients, Fingerprint};
use super::error::Result;
use super::secrets::Resolved;

/// Clients by location (e.g. `namespace/name`).
#[derive(Default)]
pub struct StoreCache {
    entries: Mutex<HashMap<String, Arc<Clients>>>,
}

impl std::fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("StoreCache").field("locations", &n).finish()
    }
}

impl StoreCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store of `location`, reusing its clients when the fingerprint is unchanged.
    pub fn store(&self, location: &str, resolved: &Resolved) -> Result<ObjectStore> {
        let fingerprint = Fingerprint::of(resolved);
        let cached = self
            .entries
            .lock()
            .expect("cache lock is never poisoned: no code panics while holding it")
            .get(location)
            .filter(|c| c.fingerprint == fingerprint)
            .cloned();
        let clients = match cached {
            Some(clients) => clients,
            None => {
                let clients = Clients::build(resolved)?;
                tracing::debug!(location, "built object-store clients");
                self.entries
                    .lock()
                    .expect("cache lock is never poisoned")
                    .insert(location.to_owned(), clients.clone());
                clients
            }
        };
        ObjectStore::new(clients, resolved)
    }

    /// Forget a location (when it is deleted).
    pub fn remove(&self, location: &str) {
        self.entries
            .lock()
            .expect("cache lock is never poisoned")
            .remove(location);
    }
}
