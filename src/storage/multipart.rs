//! Streaming upload of a body of unknown length with bounded memory: the body is cut into
//! parts of `part_size`, at most `max_in_flight` parts are being sent while the next one is
//! read, so memory stays near `(max_in_flight + 1) * part_size` whatever the size. Any
//! failure (or dropping the future) aborts the multipart upload, so no partial object and no
//! billed orphan parts remain.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::BufMut as _;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use super::error::{Result, StorageError};
use super::ops::with_customer_key;
use super::sse::Recorded;
use super::store::MIN_PART_SIZE;
use super::store::ObjectStore;

/// What an upload wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub size: u64,
    /// 0 when the body fit in one part and went as a single PutObject.
    pub parts: usize,
    pub encryption: Recorded,
}

/// Aborts the multipart upload when dropped before completion (error or cancellation).
struct AbortGuard {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    async fn abort(mut self) {
        self.armed = false;
        abort(&self.s3, &self.bucket, &self.key, &self.upload_id).await;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (s3, bucket, key, id) = (
                self.s3.clone(),
                self.bucket.clone(),
                self.key.clone(),
                self.upload_id.clone(),
            );
            handle.spawn(async move { abort(&s3, &bucket, &key, &id).await });
        }
    }
}

async fn abort(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str) {
    let result = s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await;
    if let Err(e) = result {
        tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "aborting a multipart upload failed; a lifecycle rule for incomplete uploads cleans it up");
    }
}

/// Part buffers handed back after their upload, so a long upload reuses the same few
/// allocations: allocating and freeing a fresh part-sized buffer per part lets the allocator's
/// per-thread arenas keep freed buffers around, and RSS then grows with the upload's size.
#[derive(Clone, Default)]
struct BufferPool(std::sync::Arc<std::sync::Mutex<Vec<BytesMut>>>);

impl BufferPool {
    fn take(&self, size: usize) -> BytesMut {
        let reused = self.0.lock().ok().and_then(|mut v| v.pop());
        match reused {
            Some(mut b) if b.capacity() >= size => {
                b.clear();
                b
            }
            _ => BytesMut::with_capacity(size),
        }
    }

    /// Take a part's memory back once nothing else refers to it.
    fn give(&self, part: Bytes) {
        if let Ok(mut b) = part.try_into_mut() {
            b.clear();
            if let Ok(mut v) = self.0.lock() {
                v.push(b);
            }
        }
    }
}

/// How the rest of the body is cut and sent.
struct Cutting {
    part_size: usize,
    checksum: Option<ChecksumAlgorithm>,
    pool: BufferPool,
}

/// Read up to `size` bytes; fewer only at the end of the body.
async fn read_part<R: AsyncRead + Unpin>(
    body: &mut R,
    size: usize,
    pool: &BufferPool,
) -> Result<Bytes> {
    let mut buf = pool.take(size);
    while buf.len() < size {
        let want = size - buf.len();
        let n = body
            .read_buf(&mut (&mut buf).limit(want))
            .await
            .map_err(|e| StorageError::Body(e.to_string()))?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

impl ObjectStore {
    /// Upload a body of unknown length. A body that fits in one part goes as one PutObject;
    /// anything larger as a multipart upload. The result is HEAD-checked like [`put`].
    ///
    /// [`put`]: ObjectStore::put
    pub async fn upload<R: AsyncRead + Unpin + Send>(
        &self,
        key: &str,
        mut body: R,
    ) -> Result<Uploaded> {
        let options = self.multipart;
        let part_size = options.part_size.max(MIN_PART_SIZE);
        let pool = BufferPool::default();
        let first = read_part(&mut body, part_size, &pool).await?;
        if first.len() < part_size {
            let size = first.len() as u64;
            let encryption = self.put(key, first).await?;
            return Ok(Uploaded {
                size,
                parts: 0,
                encryption,
            });
        }
        let full = self.full_key(key);
        let s3 = &self.clients.s3;
        let mut create = s3
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(&full);
        if let Some((sse, kms_key, bucket_key)) = self.sse().server_side() {
            create = create
                .server_side_encryption(sse)
                .set_ssekms_key_id(kms_key.map(str::to_owned))
                .set_bucket_key_enabled(bucket_key);
        }
        create = with_customer_key!(create, self.sse());
        let checksum = self.checksum_algorithm();
        if let Some(alg) = &checksum {
            create = create.checksum_algorithm(alg.clone());
        }
        if let Some(tags) = &self.config.tagging {
            create = create.tagging(tags);
        }
        let created = create
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("CreateMultipartUpload", &full, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let guard = AbortGuard {
            s3: s3.clone(),
            bucket: self.config.bucket.clone(),
            key: full.clone(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        match self
            .send_parts(
                (&full, &upload_id),
                first,
                &mut body,
                Cutting {
                    part_size,
                    checksum,
                    pool,
                },
            )
            .await
        {
            Ok((parts, size)) => {
                let count = parts.len();
                let complete = s3
                    .complete_multipart_upload()
                    .bucket(&self.config.bucket)
                    .key(&full)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    );
                // S3 needs the customer key here too when parts carry checksums.
                let done = with_customer_key!(complete, self.sse()).send().await;
                if let Err(e) = done {
                    guard.abort().await;
                    return Err(StorageError::from_sdk("CompleteMultipartUpload", &full, e));
                }
                let mut guard = guard;
                guard.armed = false;
                let encryption = self.verify_written(key).await?;
                Ok(Uploaded {
                    size,
                    parts: count,
                    encryption,
                })
            }
            Err(e) => {
                guard.abort().await;
                Err(e)
            }
        }
    }

    /// Send every part, `first` included, keeping at most `max_in_flight` in flight.
    async fn send_parts<R: AsyncRead + Unpin + Send>(
        &self,
        (full, upload_id): (&str, &str),
        first: Bytes,
        body: &mut R,
        cutting: Cutting,
    ) -> Result<(Vec<CompletedPart>, u64)> {
        let Cutting {
            part_size,
            checksum,
            pool,
        } = cutting;
        let max_in_flight = self.multipart.max_in_flight.max(1);
        let mut in_flight: JoinSet<Result<CompletedPart>> = JoinSet::new();
        let mut done: Vec<CompletedPart> = Vec::new();
        let mut next = Some(first);
        let mut number = 0i32;
        let mut size = 0u64;
        while let Some(part) = next.take() {
            number += 1;
            size += part.len() as u64;
            let mut req = self
                .clients
                .s3
                .upload_part()
                .bucket(&self.config.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(part.clone()));
            req = with_customer_key!(req, self.sse());
            if let Some(alg) = &checksum {
                req = req.checksum_algorithm(alg.clone());
            }
            let target = format!("{full} part {number}");
            let pool_for_part = pool.clone();
            let stall = self.stall_timeout();
            let deadline = super::stall::part_deadline(stall, part.len());
            in_flight.spawn(async move {
                let what = format!("UploadPart {target}");
                let sent = super::stall::bounded(deadline, &what, stall, req.send()).await;
                // The request (and its hold on the body) is gone once send returns.
                pool_for_part.give(part);
                let sent = sent.map_err(|message| {
                    StorageError::unanswered("UploadPart", target.clone(), message)
                })?;
                let out = sent.map_err(|e| StorageError::from_sdk("UploadPart", target, e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                    .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_owned))
                    .set_checksum_sha1(out.checksum_sha1().map(str::to_owned))
                    .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                    .set_checksum_crc64_nvme(out.checksum_crc64_nvme().map(str::to_owned))
                    .build())
            });
            // Wait for a slot before reading the next part, so buffers stay bounded.
            while in_flight.len() >= max_in_flight {
                done.push(join_one(&mut in_flight).await?);
            }
            let part = read_part(body, part_size, &pool).await?;
            if !part.is_empty() {
                next = Some(part);
            }
        }
        while !in_flight.is_empty() {
            done.push(join_one(&mut in_flight).await?);
        }
        done.sort_by_key(|p| p.part_number());
        Ok((done, size))
    }
}

async fn join_one(set: &mut JoinSet<Result<CompletedPart>>) -> Result<CompletedPart> {
    match set.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(join)) => Err(StorageError::Body(format!(
            "a part upload task failed: {join}"
        ))),
        None => Err(StorageError::Body("no part upload in flight".into())),
    }
}
