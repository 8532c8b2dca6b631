//! What a file-system backup repository asks of a store beyond whole objects: a byte range of an
//! object (a blob inside a pack) and a listing with sizes (a repository checks and prunes packs
//! by size). Same client, same SSE-C headers, same stall bound as the other operations.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::error::{Result, StorageError};
use super::store::ObjectStore;

impl ObjectStore {
    /// Bytes `offset..offset + length` of an object (the SSE-C key sent when SSE-C applies).
    /// A shorter answer is an error naming the object: a truncated pack must never be read as
    /// if it were whole.
    pub async fn get_range(&self, key: &str, offset: u64, length: u64) -> Result<Bytes> {
        let full = self.full_key(key);
        if length == 0 {
            return Ok(Bytes::new());
        }
        let range = format!("bytes={}-{}", offset, offset + length - 1);
        let body = self.get_object(&full, Some(range)).await?;
        let what = format!("GetObject {full}");
        let body = collect(body, self.stall, &what).await?;
        if body.len() as u64 != length {
            return Err(StorageError::RoundTrip {
                target: full,
                message: format!(
                    "asked for {length} bytes at offset {offset}, the store sent {}",
                    body.len()
                ),
            });
        }
        Ok(body)
    }

    /// Every key under `prefix` (relative to the location's prefix) with its size, all pages.
    pub async fn list_sized(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let base = self.config.key_prefix();
        let full = format!("{base}{prefix}");
        let mut out = Vec::new();
        let mut pages = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(&full)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StorageError::from_sdk("ListObjectsV2", &full, e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    let relative = key.strip_prefix(base.as_str()).unwrap_or(key).to_owned();
                    out.push((relative, object.size().unwrap_or(0).max(0) as u64));
                }
            }
        }
        Ok(out)
    }
}

/// A whole body, each read bounded by the stall timeout.
async fn collect(body: ByteStream, stall: std::time::Duration, what: &str) -> Result<Bytes> {
    use tokio::io::AsyncReadExt as _;
    let mut reader =
        super::stall::IdleTimed::new(Box::pin(body.into_async_read()), stall, what.to_owned());
    let mut buf = Vec::new();
    reader
        .read_to_end(&mut buf)
        .await
        .map_err(|e| StorageError::unanswered("GetObject", what.to_owned(), e.to_string()))?;
    Ok(Bytes::from(buf))
}
