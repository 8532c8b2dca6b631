//! Multipart uploads left behind under a prefix: a process killed mid-upload cannot abort its
//! own, so whoever takes over lists and aborts them (the backup start-up sweep does).

use super::ObjectStore;
use super::error::{Result, StorageError};

impl ObjectStore {
    /// Abort every multipart upload in progress under `prefix` (relative to the location's
    /// prefix); returns how many were aborted.
    pub async fn abort_uploads(&self, prefix: &str) -> Result<usize> {
        let full = self.full_key(prefix);
        let s3 = &self.clients().s3;
        let mut aborted = 0;
        let mut key_marker: Option<String> = None;
        let mut id_marker: Option<String> = None;
        loop {
            let page = s3
                .list_multipart_uploads()
                .bucket(&self.config().bucket)
                .prefix(&full)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("ListMultipartUploads", &full, e))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                let result = s3
                    .abort_multipart_upload()
                    .bucket(&self.config().bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| StorageError::from_sdk("AbortMultipartUpload", key, e));
                match result {
                    Ok(_) => aborted += 1,
                    // Aborted meanwhile (by the failed upload's own guard): already gone.
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(aborted);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            id_marker = page.next_upload_id_marker().map(str::to_owned);
        }
    }
}
