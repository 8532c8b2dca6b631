//! rustic_core's storage backend over [`ObjectStore`]: every config, key, snapshot, index and
//! pack file of the repository goes through the location's one client, so its trust (CA,
//! client certificate) and SSE apply, and every write is HEAD-verified (`ObjectStore::put`).
//!
//! rustic_core calls backends synchronously from its own worker threads; each call here blocks
//! on the async store through a runtime handle. Callers therefore run repository work on
//! blocking threads (`spawn_blocking`), never on the runtime's workers.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustic_core::{BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, WriteBackend};

use crate::storage::{ObjectStore, StorageError};

/// The repository's files under `root` (`restic/<namespace>/`), restic's S3 layout: `config`,
/// `keys/<id>`, `snapshots/<id>`, `index/<id>`, `data/<first two hex digits>/<id>`.
pub struct StoreBackend {
    store: Arc<ObjectStore>,
    root: String,
    runtime: tokio::runtime::Handle,
    /// The first store failure since the last [`StoreBackend::take_failure`]: rustic_core wraps
    /// errors in its own type, and the caller wants the store's (its reason, e.g.
    /// `X509UnknownAuthority`, and its message naming the object).
    failure: Mutex<Option<StorageError>>,
}

impl StoreBackend {
    pub fn new(store: Arc<ObjectStore>, root: String, runtime: tokio::runtime::Handle) -> Self {
        StoreBackend {
            store,
            root,
            runtime,
            failure: Mutex::new(None),
        }
    }

    /// The store failure that made the last operation fail, if it was one.
    pub fn take_failure(&self) -> Option<StorageError> {
        self.failure.lock().ok()?.take()
    }

    fn failed(&self, operation: &'static str, e: StorageError) -> Box<RusticError> {
        let text = e.to_string();
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(e);
        }
        RusticError::new(
            ErrorKind::Backend,
            "object store: {operation} failed: {error}",
        )
        .attach_context("operation", operation)
        .attach_context("error", text)
    }

    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }
}

/// The key of one repository file, relative to the location's prefix.
pub fn object_key(root: &str, tpe: FileType, id: &Id) -> String {
    let hex = id.to_hex();
    let hex = hex.as_str();
    match tpe {
        FileType::Config => format!("{root}config"),
        FileType::Pack => format!("{root}data/{}/{hex}", &hex[..2]),
        other => format!("{root}{}/{hex}", other.dirname()),
    }
}

/// The folder listed for a file type (`None` for the single config file).
fn folder(root: &str, tpe: FileType) -> Option<String> {
    match tpe {
        FileType::Config => None,
        other => Some(format!("{root}{}/", other.dirname())),
    }
}

/// The id a listed key names, or `None` for a key that is no repository file of that type (a
/// stray object, a folder marker): such keys are passed over, as restic passes them over.
fn id_of(folder: &str, tpe: FileType, key: &str) -> Option<Id> {
    let rest = key.strip_prefix(folder)?;
    let name = match tpe {
        FileType::Pack => {
            let (sub, name) = rest.split_once('/')?;
            if sub.len() != 2 || !name.starts_with(sub) {
                return None;
            }
            name
        }
        _ if rest.contains('/') => return None,
        _ => rest,
    };
    name.parse().ok()
}

impl ReadBackend for StoreBackend {
    fn location(&self) -> String {
        format!(
            "s3:{}/{}",
            self.store.config().bucket,
            self.store.full_key(&self.root)
        )
    }

    fn list_with_size(&self, tpe: FileType) -> rustic_core::RusticResult<Vec<(Id, u32)>> {
        let Some(folder) = folder(&self.root, tpe) else {
            // The config file: present or not.
            let key = format!("{}config", self.root);
            return match self.block(self.store.head(&key)) {
                Ok(Some(info)) => Ok(vec![(Id::default(), clamp(info.size))]),
                Ok(None) => Ok(Vec::new()),
                Err(e) => Err(self.failed("HeadObject", e)),
            };
        };
        let listed = self
            .block(self.store.list_sized(&folder))
            .map_err(|e| self.failed("ListObjectsV2", e))?;
        Ok(listed
            .into_iter()
            .filter_map(|(key, size)| Some((id_of(&folder, tpe, &key)?, clamp(size))))
            .collect())
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> rustic_core::RusticResult<Bytes> {
        let key = object_key(&self.root, tpe, id);
        let body = self.block(async {
            let object = self.store.get(&key).await?;
            object
                .read_all()
                .await
                .map_err(|e| StorageError::RoundTrip {
                    target: self.store.full_key(&key),
                    message: format!("reading the object failed: {e}"),
                })
        });
        body.map(Bytes::from)
            .map_err(|e| self.failed("GetObject", e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> rustic_core::RusticResult<Bytes> {
        let key = object_key(&self.root, tpe, id);
        self.block(
            self.store
                .get_range(&key, u64::from(offset), u64::from(length)),
        )
        .map_err(|e| self.failed("GetObject", e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        object_key(&self.root, tpe, id)
    }
}

impl WriteBackend for StoreBackend {
    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> rustic_core::RusticResult<()> {
        let key = object_key(&self.root, tpe, id);
        let parts = content.into_vec();
        let body = if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            let mut joined = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
            for part in parts {
                joined.extend_from_slice(&part);
            }
            Bytes::from(joined)
        };
        // `put` HEADs the object and deletes it when the store did not record the location's
        // encryption: no repository file stays unencrypted. Every other file is named by its
        // content's hash, so writing it twice is harmless; the config is not, and two agents
        // creating one namespace's repository at once must not both succeed.
        if tpe == FileType::Config {
            return match self.block(self.store.put_if_absent(&key, body)) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(RusticError::new(
                    ErrorKind::Repository,
                    "the repository's config was created by another writer meanwhile; open it again",
                )),
                Err(e) => Err(self.failed("PutObject", e)),
            };
        }
        self.block(self.store.put(&key, body))
            .map(|_| ())
            .map_err(|e| self.failed("PutObject", e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> rustic_core::RusticResult<()> {
        let key = object_key(&self.root, tpe, id);
        self.block(self.store.delete(&key))
            .map_err(|e| self.failed("DeleteObject", e))
    }
}

/// rustic_core counts file sizes in `u32` (restic's packs and indexes stay far below 4 GiB).
fn clamp(size: u64) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

    #[test]
    fn keys_follow_restic_s3_layout() {
        let id: Id = HEX.parse().unwrap();
        let table = [
            (FileType::Config, "restic/shop/config".to_owned()),
            (FileType::Key, format!("restic/shop/keys/{HEX}")),
            (FileType::Snapshot, format!("restic/shop/snapshots/{HEX}")),
            (FileType::Index, format!("restic/shop/index/{HEX}")),
            (FileType::Pack, format!("restic/shop/data/0a/{HEX}")),
        ];
        for (tpe, want) in table {
            assert_eq!(object_key("restic/shop/", tpe, &id), want, "{tpe:?}");
        }
    }

    #[test]
    fn listing_reads_back_what_keys_name() {
        let id: Id = HEX.parse().unwrap();
        for tpe in [
            FileType::Key,
            FileType::Snapshot,
            FileType::Index,
            FileType::Pack,
        ] {
            let folder = folder("r/", tpe).unwrap();
            assert_eq!(id_of(&folder, tpe, &object_key("r/", tpe, &id)), Some(id));
        }
        let packs = folder("r/", FileType::Pack).unwrap();
        let strays = [
            format!("r/data/{HEX}"),
            format!("r/data/ff/{HEX}"),
            "r/data/0a/not-hex".to_owned(),
            format!("r/data/0a/x/{HEX}"),
        ];
        for stray in strays {
            assert_eq!(id_of(&packs, FileType::Pack, &stray), None, "{stray}");
        }
        let keys = folder("r/", FileType::Key).unwrap();
        assert_eq!(
            id_of(&keys, FileType::Key, &format!("r/keys/a/{HEX}")),
            None
        );
        assert_eq!(folder("r/", FileType::Config), None);
    }
}
