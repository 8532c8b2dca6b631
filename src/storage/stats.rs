//! Counts of what the storage layer built and opened, so the client cache can be seen at work
//! (exported as metrics; printed by `make bench-locations`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// Shared by every client a [`super::StoreCache`] builds.
#[derive(Debug, Default)]
pub struct StorageStats {
    clients_built: AtomicU64,
    connections_opened: AtomicU64,
}

impl StorageStats {
    /// S3/KMS client sets built (one per distinct endpoint + trust + credentials).
    pub fn clients_built(&self) -> u64 {
        self.clients_built.load(Ordering::Relaxed)
    }

    /// Connections the SDK clients opened; for `https://` stores each is one TLS handshake.
    pub fn connections_opened(&self) -> u64 {
        self.connections_opened.load(Ordering::Relaxed)
    }

    pub(crate) fn client_built(&self) {
        self.clients_built.fetch_add(1, Ordering::Relaxed);
    }
}

/// A connector that counts the connections it opens (hyper 0.14's connector contract).
#[derive(Clone)]
pub(crate) struct Counting<C> {
    pub(crate) inner: C,
    pub(crate) stats: Arc<StorageStats>,
}

impl<C> tower_service::Service<hyper::Uri> for Counting<C>
where
    C: tower_service::Service<hyper::Uri>,
{
    type Response = C::Response;
    type Error = C::Error;
    type Future = C::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        self.stats
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        self.inner.call(uri)
    }
}
