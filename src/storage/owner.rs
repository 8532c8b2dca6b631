//! Proving a folder is one's own. Clusters sharing a bucket pick names on their own, so two of
//! them may start a backup (or a restore) of the same name at the same moment, and a folder may
//! hold another cluster's files under a name this cluster is using. A run therefore claims its
//! folder before its first byte: a small marker naming the object (kind, namespace, name, uid),
//! written with `If-None-Match: *` so that of two writers exactly one succeeds, then read back.
//! Every later cleanup reads the marker again and deletes only while it still names the run.
//!
//! Stores: S3, MinIO, moto 5.x and LocalStack honour the condition (a second writer gets 412).
//! A store answering 501 NotImplemented is written to without it; a store ignoring the header
//! is caught by the read-back unless two writers interleave within one round trip.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use super::error::{Result, StorageError};
use super::store::ObjectStore;

/// The marker's file name inside a claimed folder.
pub const OWNER_FILE: &str = "veloxide-owner.json";
/// The marker's kind, so a reader can tell it from any other JSON file.
const MARKER_KIND: &str = "FolderOwner";
/// No marker is larger; a bigger object under that name is not ours to trust.
const MARKER_LIMIT: u64 = 16 * 1024;

/// Who claimed a folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `Backup` or `Restore`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The object's uid: what every later cleanup compares with.
    pub uid: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    api_version: String,
    kind: String,
    owner: Owner,
}

/// What a claim came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The folder is this owner's: nothing was in it, and the marker names it.
    Claimed,
    /// Something else is there (another run's marker, or files): nothing was written.
    Taken(String),
}

/// The marker's key for folder `dir` (which ends with `/`).
pub fn owner_key(dir: &str) -> String {
    format!("{dir}{OWNER_FILE}")
}

impl ObjectStore {
    /// Whether any object is under `dir`. Decided only by a listing the store answered; any
    /// other outcome (5xx, a timeout, a refusal) is an error, never "nothing there".
    pub async fn holds_any(&self, dir: &str) -> Result<bool> {
        let full = self.full_key(dir);
        let req = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(&full)
            .max_keys(1);
        let what = format!("ListObjectsV2 {full}");
        let page = super::stall::bounded(self.stall, &what, self.stall, req.send())
            .await
            .map_err(|m| StorageError::unanswered("ListObjectsV2", full.clone(), m))?
            .map_err(|e| StorageError::from_sdk("ListObjectsV2", &full, e))?;
        Ok(page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .any(|k| k.starts_with(&full)))
    }

    /// Claim folder `dir` (found empty by [`ObjectStore::holds_any`]) for `owner`: the marker
    /// is written only if absent, then read back and compared. An error means the outcome is
    /// unknown (the marker may or may not be there): callers treat the folder as not theirs
    /// until [`ObjectStore::dir_owner`] says otherwise.
    pub async fn claim_dir(&self, dir: &str, owner: &Owner) -> Result<Claim> {
        let key = owner_key(dir);
        let marker = Marker {
            api_version: "veloxide.io/v1".into(),
            kind: MARKER_KIND.into(),
            owner: owner.clone(),
        };
        let body = Bytes::from(serde_json::to_vec_pretty(&marker).expect("a marker serializes"));
        match self.put_if_absent(&key, body.clone()).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(Claim::Taken(format!("{key} was written first by another"))),
            // A store without conditional writes: write plainly, the read-back decides.
            Err(e) if e.status() == Some(501) => {
                tracing::info!(key = %key, "the store does not support conditional writes; claiming by write and read-back");
                self.put(&key, body).await?;
            }
            Err(e) => return Err(e),
        }
        match self.dir_owner(dir).await? {
            Some(found) if found.uid == owner.uid => Ok(Claim::Claimed),
            Some(found) => Ok(Claim::Taken(format!(
                "{key} names {} {}/{} (uid {})",
                found.kind, found.namespace, found.name, found.uid
            ))),
            None => Err(StorageError::unanswered(
                "GetObject",
                self.full_key(&key),
                "the marker just written is not there",
            )),
        }
    }

    /// Who the marker in `dir` names; `None` only when the store answers 404 for it. A marker
    /// that does not decode is an error (it proves nothing either way).
    pub async fn dir_owner(&self, dir: &str) -> Result<Option<Owner>> {
        let key = owner_key(dir);
        let body = match self.get(&key).await {
            Ok(body) => body,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        body.into_async_read()
            .take(MARKER_LIMIT + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| StorageError::Body(format!("reading {key}: {e}")))?;
        let unreadable = |why: String| StorageError::RoundTrip {
            target: self.full_key(&key),
            message: format!("not a folder owner marker: {why}"),
        };
        if bytes.len() as u64 > MARKER_LIMIT {
            return Err(unreadable(format!("larger than {MARKER_LIMIT} bytes")));
        }
        let marker: Marker =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
        if marker.kind != MARKER_KIND {
            return Err(unreadable(format!("kind {:?}", marker.kind)));
        }
        Ok(Some(marker.owner))
    }
}
