//! [`ObjectStore`]: one location's clients and settings. Its operations are in the sibling
//! files (`ops`, `multipart`, `check`), each an `impl ObjectStore` block of its own.

use std::sync::Arc;

use super::client::Clients;
use super::error::{Result, StorageError};
use super::secrets::Resolved;
use super::sse::Sse;
use crate::location::{Checksum, LocationConfig};

/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// How an upload is cut and how many parts travel at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartOptions {
    /// Bytes per part; at least [`MIN_PART_SIZE`].
    pub part_size: usize,
    /// Parts being sent at the same time (at least 1).
    pub max_in_flight: usize,
}

impl Default for MultipartOptions {
    /// 8 MiB parts, 4 in flight: enough to keep a store busy, about 40 MiB of buffers.
    fn default() -> Self {
        MultipartOptions {
            part_size: 8 * 1024 * 1024,
            max_in_flight: 4,
        }
    }
}

/// A location's store: its (shared, cached) clients plus what every operation needs to know.
pub struct ObjectStore {
    pub(super) clients: Arc<Clients>,
    pub(super) config: LocationConfig,
    pub(super) sse: Sse,
    pub(super) multipart: MultipartOptions,
    /// How long a transfer may go without a byte (see [`super::stall`]).
    pub(super) stall: std::time::Duration,
    /// The ARN the configured KMS key id or alias resolves to, looked up once.
    pub(super) kms_key_arn: tokio::sync::OnceCell<Option<String>>,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("bucket", &self.config.bucket)
            .field("prefix", &self.config.prefix)
            .field("encryption", &self.config.encryption.mode())
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// A store over already-built clients (see [`StoreCache`], which reuses them).
    pub fn new(clients: Arc<Clients>, resolved: &Resolved) -> Result<ObjectStore> {
        let sse = Sse::new(
            &resolved.config.encryption,
            resolved.secrets.customer_key.as_ref(),
        )
        .ok_or_else(|| {
            StorageError::Config("SSE-C is configured but no customer key was resolved".to_owned())
        })?;
        Ok(ObjectStore {
            clients,
            config: resolved.config.clone(),
            sse,
            multipart: MultipartOptions::default(),
            stall: super::stall::DEFAULT_STALL_TIMEOUT,
            kms_key_arn: tokio::sync::OnceCell::new(),
        })
    }

    /// Build a store with fresh clients (no cache); for one-shot use such as the CLI.
    pub fn build(resolved: &Resolved) -> Result<ObjectStore> {
        ObjectStore::new(Clients::build(resolved)?, resolved)
    }

    /// Change how multipart uploads are cut and how many parts may be in flight.
    pub fn with_multipart(mut self, options: MultipartOptions) -> Self {
        self.multipart = options;
        self
    }

    /// Change how long a body read or a part upload may go without progress.
    pub fn with_stall_timeout(mut self, limit: std::time::Duration) -> Self {
        self.stall = limit;
        self
    }

    pub fn stall_timeout(&self) -> std::time::Duration {
        self.stall
    }

    pub fn config(&self) -> &LocationConfig {
        &self.config
    }

    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }

    /// The full object key for a key relative to the location's prefix.
    pub fn full_key(&self, key: &str) -> String {
        format!(
            "{}{}",
            self.config.key_prefix(),
            key.trim_start_matches('/')
        )
    }

    pub(super) fn checksum_algorithm(&self) -> Option<aws_sdk_s3::types::ChecksumAlgorithm> {
        use aws_sdk_s3::types::ChecksumAlgorithm as A;
        match self.config.checksum {
            Checksum::Disabled => None,
            Checksum::Crc32 => Some(A::Crc32),
            Checksum::Crc32c => Some(A::Crc32C),
            Checksum::Sha1 => Some(A::Sha1),
            Checksum::Sha256 => Some(A::Sha256),
            Checksum::Crc64Nvme => Some(A::Crc64Nvme),
        }
    }
}
