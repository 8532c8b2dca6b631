//! Multipart uploads left behind under a prefix: a process killed mid-upload cannot abort its
//! own, so whoever takes over lists and aborts them (the backup start-up sweep does).

use super::ObjectStore;
use super::error::{Result, StorageError};

/// A page marker of ListMultipartUploads: the key marker and the upload id marker.
type Marker = (Option<String>, Option<String>);

/// Where the next page of a listing starts: `None` when the listing is done. A page that says
/// more follow but gives no marker (or the marker it started from) would list the same page
/// for ever: that is the store's error, not an endless loop.
fn next_page(
    truncated: bool,
    from: &Marker,
    next: Marker,
) -> std::result::Result<Option<Marker>, String> {
    if !truncated {
        return Ok(None);
    }
    if next.0.is_none() && next.1.is_none() {
        return Err("the store said more uploads follow but gave no marker to list them".into());
    }
    if next == *from {
        return Err("the store gave the same page marker twice".into());
    }
    Ok(Some(next))
}

impl ObjectStore {
    /// Abort every multipart upload in progress under `prefix` (relative to the location's
    /// prefix); returns how many were aborted.
    pub async fn abort_uploads(&self, prefix: &str) -> Result<usize> {
        self.abort_matching(prefix, |_| true).await
    }

    /// Abort the multipart uploads in progress of exactly `key` (not of longer keys it is a
    /// prefix of); returns how many were aborted.
    pub async fn abort_uploads_of(&self, key: &str) -> Result<usize> {
        let full = self.full_key(key);
        self.abort_matching(key, |k| k == full).await
    }

    async fn abort_matching(&self, prefix: &str, matches: impl Fn(&str) -> bool) -> Result<usize> {
        let full = self.full_key(prefix);
        let s3 = &self.clients().s3;
        let mut aborted = 0;
        let mut from: Marker = (None, None);
        loop {
            let page = s3
                .list_multipart_uploads()
                .bucket(&self.config().bucket)
                .prefix(&full)
                .set_key_marker(from.0.clone())
                .set_upload_id_marker(from.1.clone())
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("ListMultipartUploads", &full, e))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                if !key.starts_with(&full) || !matches(key) {
                    continue;
                }
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
            let next = (
                page.next_key_marker().map(str::to_owned),
                page.next_upload_id_marker().map(str::to_owned),
            );
            match next_page(page.is_truncated() == Some(true), &from, next) {
                Ok(None) => return Ok(aborted),
                Ok(Some(next)) => from = next,
                Err(why) => {
                    return Err(StorageError::unanswered("ListMultipartUploads", full, why));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(k: Option<&str>, u: Option<&str>) -> Marker {
        (k.map(str::to_owned), u.map(str::to_owned))
    }

    #[test]
    fn a_listing_of_uploads_always_ends() {
        let start = m(None, None);
        // The last page.
        assert_eq!(next_page(false, &start, m(Some("k"), Some("u"))), Ok(None));
        // More, from a new marker.
        assert_eq!(
            next_page(true, &start, m(Some("k"), Some("u"))),
            Ok(Some(m(Some("k"), Some("u"))))
        );
        assert_eq!(
            next_page(true, &start, m(Some("k"), None)),
            Ok(Some(m(Some("k"), None)))
        );
        // More, but no marker, or the same one again: an error, not a loop.
        assert!(next_page(true, &start, m(None, None)).is_err());
        let at = m(Some("k"), Some("u"));
        assert!(next_page(true, &at, at.clone()).is_err());
    }
}
