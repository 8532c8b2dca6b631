//! A backup's `velero-backup.json` as other code reads it back from a store: bounded in size
//! (the bucket may be shared with clusters we do not trust), and the two facts expiry needs
//! from it, whose backup it is (`metadata.uid`) and when it expires (`status.expiration`).

use bytes::Bytes;
use jiff::Timestamp;
use tokio::io::AsyncReadExt as _;

use super::keys::backup_key;
use crate::storage::{ObjectStore, StorageError};

/// The most of a `velero-backup.json` read back (by the sync, and by expiry): the API server's
/// own limit on an object (about 3 MiB); a file over it is not a Backup any cluster wrote, and
/// reading it would only cost memory (Velero caps at 1 GiB).
pub const METADATA_LIMIT: u64 = 3 * 1024 * 1024;

/// Why a stored `velero-backup.json` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("reading {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: StorageError,
    },
    #[error("reading {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{key} is larger than {METADATA_LIMIT} bytes; no Backup is that large")]
    TooLarge { key: String },
    #[error("{key} is not a Backup's JSON: {why}")]
    Undecodable { key: String, why: String },
}

/// The stored `velero-backup.json` of backup `name`, read to at most [`METADATA_LIMIT`] bytes;
/// `None` when there is none (a clean 404).
pub async fn read(store: &ObjectStore, name: &str) -> Result<Option<Vec<u8>>, StoredError> {
    let key = backup_key(name, "velero-backup.json");
    let read_error = |source| StoredError::Read {
        key: key.clone(),
        source,
    };
    let Some(info) = store.head(&key).await.map_err(read_error)? else {
        return Ok(None);
    };
    if info.size > METADATA_LIMIT {
        return Err(StoredError::TooLarge { key });
    }
    let body = store.get(&key).await.map_err(read_error)?;
    let mut bytes = Vec::new();
    body.into_async_read()
        .take(METADATA_LIMIT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| StoredError::Io {
            key: key.clone(),
            source,
        })?;
    if bytes.len() as u64 > METADATA_LIMIT {
        return Err(StoredError::TooLarge { key });
    }
    Ok(Some(bytes))
}

/// What expiry reads from a stored `velero-backup.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `metadata.uid`: the Backup object that wrote it (in the cluster that made it).
    pub uid: Option<String>,
    /// `status.expiration`.
    pub expiration: Option<Timestamp>,
}

/// The uid and expiration of a stored `velero-backup.json`; a field of the wrong shape is an
/// error, a missing one `None`.
pub fn facts(bytes: &[u8]) -> Result<Facts, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let uid = match value.pointer("/metadata/uid") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("metadata.uid is {other}, not a string")),
    };
    let expiration = match value.pointer("/status/expiration") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(
            s.parse::<Timestamp>()
                .map_err(|e| format!("status.expiration {s:?}: {e}"))?,
        ),
        Some(other) => return Err(format!("status.expiration is {other}, not a time")),
    };
    Ok(Facts { uid, expiration })
}

/// The same document with `status.expiration` set to `to` (RFC 3339 in UTC, seconds, as
/// Kubernetes writes times); every other field is kept as it was, including ones this version
/// does not know.
pub fn with_expiration(bytes: &[u8], to: Timestamp) -> Result<Bytes, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| "not a JSON object".to_owned())?;
    let status = object
        .entry("status")
        .or_insert_with(|| serde_json::json!({}));
    if status.is_null() {
        *status = serde_json::json!({});
    }
    let status = status
        .as_object_mut()
        .ok_or_else(|| "status is not an object".to_owned())?;
    let to = to
        .round(jiff::Unit::Second)
        .map_err(|e| e.to_string())?
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    status.insert("expiration".into(), serde_json::Value::String(to));
    serde_json::to_vec_pretty(&value)
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_table() {
        let cases: [(serde_json::Value, Result<Facts, &str>); 5] = [
            (
                json!({"metadata": {"uid": "u-1"}, "status": {"expiration": "2026-12-01T00:00:00Z"}}),
                Ok(Facts {
                    uid: Some("u-1".into()),
                    expiration: Some("2026-12-01T00:00:00Z".parse().unwrap()),
                }),
            ),
            (
                json!({"metadata": {}, "status": null}),
                Ok(Facts {
                    uid: None,
                    expiration: None,
                }),
            ),
            (
                json!({"metadata": {"uid": 7}}),
                Err("metadata.uid is 7, not a string"),
            ),
            (
                json!({"status": {"expiration": "soon"}}),
                Err("status.expiration \"soon\""),
            ),
            (
                json!({"status": {"expiration": {"a": 1}}}),
                Err("not a time"),
            ),
        ];
        for (doc, want) in cases {
            let got = facts(&serde_json::to_vec(&doc).unwrap());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{doc}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{doc}: {got}"),
                (got, want) => panic!("{doc}: got {got:?}, want {want:?}"),
            }
        }
        assert!(facts(b"not json").is_err());
    }

    /// The new expiration replaces the old; every other field, known or not, is kept.
    #[test]
    fn with_expiration_changes_only_the_expiration() {
        let doc = json!({"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "uid": "u-1"}, "spec": {"ttl": "1s"},
            "status": {"phase": "Completed", "expiration": "2026-12-01T00:00:00Z",
                       "somethingNew": [1, 2]}});
        let to: Timestamp = "2026-12-02T03:04:05.6Z".parse().unwrap();
        let out = with_expiration(&serde_json::to_vec(&doc).unwrap(), to).unwrap();
        let mut want = doc.clone();
        want["status"]["expiration"] = json!("2026-12-02T03:04:06Z");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            want
        );
        // No status yet, or a null one: one is made.
        for doc in [
            json!({"kind": "Backup"}),
            json!({"kind": "Backup", "status": null}),
        ] {
            let out = with_expiration(&serde_json::to_vec(&doc).unwrap(), to).unwrap();
            let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(out["status"]["expiration"], "2026-12-02T03:04:06Z");
        }
        assert!(with_expiration(b"[1]", to).is_err());
        assert!(with_expiration(br#"{"status": 3}"#, to).is_err());
    }

    proptest::proptest! {
        /// Whatever a stored file holds: facts and the rewrite answer or refuse, never panic;
        /// a rewrite reads back with the new expiration, the same uid, and nothing else changed.
        #[test]
        fn rewrites_keep_everything_but_the_expiration(
            uid in proptest::option::of(".{0,40}"),
            status in 0u8..4,
            key in "[a-zA-Z]{1,12}",
            value in ".{0,40}",
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let _ = facts(&noise);
            let _ = with_expiration(&noise, Timestamp::UNIX_EPOCH);
            let mut doc = json!({"kind": "Backup", "metadata": {}, "spec": {key.clone(): value}});
            if let Some(uid) = &uid {
                doc["metadata"]["uid"] = json!(uid);
            }
            match status {
                0 => {}
                1 => doc["status"] = json!(null),
                2 => doc["status"] = json!({"phase": "Completed", "expiration": "2026-01-01T00:00:00Z"}),
                _ => doc["status"] = json!({"expiration": 5}),
            }
            let bytes = serde_json::to_vec(&doc).unwrap();
            let to: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
            let out = with_expiration(&bytes, to).unwrap();
            let read = facts(&out).unwrap();
            proptest::prop_assert_eq!(read.expiration, Some(to));
            proptest::prop_assert_eq!(read.uid, uid);
            let mut back: serde_json::Value = serde_json::from_slice(&out).unwrap();
            back["status"].as_object_mut().unwrap().remove("expiration");
            let mut want = doc.clone();
            if !want["status"].is_object() {
                want["status"] = json!({});
            }
            want["status"].as_object_mut().unwrap().remove("expiration");
            proptest::prop_assert_eq!(back, want);
        }
    }
}
