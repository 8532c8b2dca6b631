//! Single-request operations: put, get, head, list, delete and presigned links.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::io::AsyncReadExt as _;

use super::error::{Result, StorageError};
use super::sse::{Recorded, Sse};
use super::store::ObjectStore;

/// What a HEAD says about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: Option<String>,
    pub encryption: Recorded,
}

/// Keys and "directories" under a prefix, relative to the location's prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub keys: Vec<String>,
    /// Common prefixes (with their trailing delimiter), when a delimiter was given.
    pub prefixes: Vec<String>,
}

/// Fill a request builder's SSE-C fields when SSE-C applies. A macro because every operation
/// has its own builder type with the same three setters.
macro_rules! with_customer_key {
    ($builder:expr, $sse:expr) => {{
        let b = $builder;
        match $sse.customer() {
            Some((alg, key, md5)) => b
                .sse_customer_algorithm(alg)
                .sse_customer_key(key)
                .sse_customer_key_md5(md5),
            None => b,
        }
    }};
}
pub(crate) use with_customer_key;

impl ObjectStore {
    /// Put a small object in one request, with the location's encryption, then HEAD it and
    /// check the store recorded that encryption.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<Recorded> {
        self.put_object(key, body, false)
            .await?
            .ok_or_else(|| StorageError::unanswered("PutObject", self.full_key(key), "412"))
    }

    /// [`ObjectStore::put`] only if no object `key` exists (`If-None-Match: *`, one atomic
    /// request in S3, MinIO, moto and LocalStack): `None` when one does (412). A store that
    /// does not know conditional writes either refuses them (501, an error here) or ignores
    /// the header; callers that need to know read the object back ([`super::owner`]).
    pub async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<Option<Recorded>> {
        self.put_object(key, body, true).await
    }

    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        if_absent: bool,
    ) -> Result<Option<Recorded>> {
        let full = self.full_key(key);
        let size = body.len();
        let mut req = self
            .clients
            .s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(&full)
            .body(ByteStream::from(body));
        if let Some((sse, kms_key, bucket_key)) = self.sse.server_side() {
            req = req
                .server_side_encryption(sse)
                .set_ssekms_key_id(kms_key.map(str::to_owned))
                .set_bucket_key_enabled(bucket_key);
        }
        req = with_customer_key!(req, self.sse);
        if let Some(alg) = self.checksum_algorithm() {
            req = req.checksum_algorithm(alg);
        }
        if let Some(tags) = &self.config.tagging {
            req = req.tagging(tags);
        }
        if if_absent {
            req = req.if_none_match("*");
        }
        let deadline = super::stall::part_deadline(self.stall, size);
        let sent = super::stall::bounded(
            deadline,
            &format!("PutObject {full}"),
            self.stall,
            req.send(),
        )
        .await
        .map_err(|message| StorageError::unanswered("PutObject", full.clone(), message))?
        .map_err(|e| StorageError::from_sdk("PutObject", &full, e));
        match sent {
            Err(e) if if_absent && e.status() == Some(412) => Ok(None),
            Err(e) => Err(e),
            Ok(_) => self.verify_written(key).await.map(Some),
        }
    }

    /// HEAD an object just written and compare its encryption with the location's. A mismatch
    /// deletes the object: data the store did not encrypt as asked must not stay there.
    pub async fn verify_written(&self, key: &str) -> Result<Recorded> {
        let full = self.full_key(key);
        let info = self.head(key).await?.ok_or_else(|| {
            StorageError::unanswered(
                "HeadObject",
                full.clone(),
                "the object just written is not there",
            )
        })?;
        let arn = self.kms_key_arn().await;
        if let Err(message) = self.sse.verify(&info.encryption, arn.as_deref()) {
            let deleted = self.delete(key).await.is_ok();
            return Err(StorageError::EncryptionMismatch {
                target: full,
                message: format!(
                    "{message}{}",
                    if deleted {
                        "; the object was deleted"
                    } else {
                        ""
                    }
                ),
            });
        }
        Ok(info.encryption)
    }

    /// Stream an object's content (with the SSE-C key when SSE-C applies). Reading the body
    /// fails with `TimedOut` when the store sends nothing for the stall timeout.
    pub async fn get(&self, key: &str) -> Result<ObjectBody> {
        let full = self.full_key(key);
        let body = self.get_object(&full, None).await?;
        Ok(ObjectBody {
            body,
            stall: self.stall,
            what: format!("GetObject {full}"),
        })
    }

    /// A GetObject of `full` (a byte range of it when `range` is given), the SSE-C key sent
    /// when SSE-C applies, bounded by the stall timeout until the answer starts; the body's
    /// reads are for the caller to bound.
    pub(super) async fn get_object(&self, full: &str, range: Option<String>) -> Result<ByteStream> {
        let req = self
            .clients
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(full)
            .set_range(range);
        let what = format!("GetObject {full}");
        let out = super::stall::bounded(
            self.stall,
            &what,
            self.stall,
            with_customer_key!(req, self.sse).send(),
        )
        .await
        .map_err(|message| StorageError::unanswered("GetObject", full.to_owned(), message))?
        .map_err(|e| StorageError::from_sdk("GetObject", full, e))?;
        Ok(out.body)
    }

    /// An object's size, ETag and encryption; `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let full = self.full_key(key);
        let req = self
            .clients
            .s3
            .head_object()
            .bucket(&self.config.bucket)
            .key(&full);
        let what = format!("HeadObject {full}");
        let sent = super::stall::bounded(
            self.stall,
            &what,
            self.stall,
            with_customer_key!(req, self.sse).send(),
        )
        .await
        .map_err(|message| StorageError::unanswered("HeadObject", full.clone(), message))?;
        match sent {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                etag: out.e_tag().map(str::to_owned),
                encryption: Recorded::from_head(&out),
            })),
            Err(e) => {
                let err = StorageError::from_sdk("HeadObject", &full, e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Every key (and, with a delimiter, every common prefix) under `prefix`, all pages.
    pub async fn list(&self, prefix: &str, delimiter: Option<&str>) -> Result<Listing> {
        let base = self.config.key_prefix();
        let full = format!("{base}{prefix}");
        let mut listing = Listing::default();
        let mut pages = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(&full)
            .set_delimiter(delimiter.map(str::to_owned))
            .into_paginator()
            .send();
        let strip = |k: &str| k.strip_prefix(base.as_str()).unwrap_or(k).to_owned();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StorageError::from_sdk("ListObjectsV2", &full, e))?;
            listing
                .keys
                .extend(page.contents().iter().filter_map(|o| o.key()).map(strip));
            listing.prefixes.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(strip),
            );
        }
        Ok(listing)
    }

    /// Delete an object (deleting a missing object succeeds, as in S3).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let full = self.full_key(key);
        self.clients
            .s3
            .delete_object()
            .bucket(&self.config.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("DeleteObject", &full, e))?;
        Ok(())
    }

    /// A presigned GET link, addressed to `publicUrl` when set. Objects written with SSE-C
    /// cannot be fetched through a plain link (the key must travel in headers): callers stream
    /// those through the server instead.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<String> {
        let full = self.full_key(key);
        let client = self.clients.presign.as_ref().unwrap_or(&self.clients.s3);
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StorageError::Config(format!("invalid link lifetime: {e}")))?;
        let req = client
            .get_object()
            .bucket(&self.config.bucket)
            .key(&full)
            .presigned(config)
            .await
            .map_err(|e| StorageError::from_sdk("PresignGetObject", &full, e))?;
        Ok(req.uri().to_owned())
    }

    /// The ARN the configured KMS key resolves to (for comparing with what stores report);
    /// `None` when not SSE-KMS or when the key cannot be described.
    pub(crate) async fn kms_key_arn(&self) -> Option<String> {
        let Sse::Kms { key_id, .. } = &self.sse else {
            return None;
        };
        self.kms_key_arn
            .get_or_init(|| async {
                match self.clients.kms.describe_key().key_id(key_id).send().await {
                    Ok(out) => out.key_metadata().and_then(|m| m.arn()).map(str::to_owned),
                    Err(e) => {
                        tracing::debug!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), "cannot describe the KMS key");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    pub(crate) fn sse(&self) -> &Sse {
        &self.sse
    }
}

/// An object's content as it streams from the store, bounded by the stall timeout.
pub struct ObjectBody {
    body: ByteStream,
    stall: std::time::Duration,
    what: String,
}

impl ObjectBody {
    /// The content as a reader; a read fails with `TimedOut` (naming the stall) when the store
    /// sends nothing for the stall timeout.
    pub fn into_async_read(self) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
        super::stall::IdleTimed::new(Box::pin(self.body.into_async_read()), self.stall, self.what)
    }

    /// The whole content (for small objects).
    pub async fn read_all(self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.into_async_read().read_to_end(&mut out).await?;
        Ok(out)
    }
}
