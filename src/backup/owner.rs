//! Which files in `backups/<name>/` a backup may delete, and how it knows. A folder of that
//! name may hold another cluster's backup (clusters sharing a bucket name backups on their
//! own), so nothing is deleted on the strength of the name alone: the folder's owner marker
//! (written by the run's claim) or, for a backup of an older release or of Velero, the uid in
//! the stored `velero-backup.json` must name the backup.

use tokio::io::AsyncReadExt as _;

use super::keys::{backup_dir, backup_key};
use super::volumes::record::SUFFIXES;
use crate::storage::{OWNER_FILE, ObjectStore, Order, Owner, StorageError};

/// The file whose presence means a backup is complete.
pub const METADATA_FILE: &str = "velero-backup.json";
/// No Backup object is larger (the API server's own limit is about 3 MiB).
const METADATA_LIMIT: u64 = 8 * 1024 * 1024;

/// What the store shows about whose the folder is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proof {
    /// The marker (or, without one, the stored metadata) names this backup's uid.
    Ours,
    /// They name another backup: its uid, or why it names none.
    Other(String),
    /// Neither file is there: nothing in the folder can be this backup's.
    Absent,
}

/// The decision, from what the marker and the stored metadata say (each `None` when the
/// store answered 404 for it; the metadata's uid `None` when it carries none). The marker
/// speaks first: it is written before any other file and deleted after all of them.
pub fn prove(marker: Option<&Owner>, metadata: Option<Option<&str>>, uid: &str) -> Proof {
    match (marker, metadata) {
        (Some(owner), _) if owner.uid == uid => Proof::Ours,
        (Some(owner), _) => Proof::Other(format!(
            "its owner marker names {} {}/{} (uid {})",
            owner.kind, owner.namespace, owner.name, owner.uid
        )),
        (None, Some(Some(stored))) if stored == uid => Proof::Ours,
        (None, Some(Some(stored))) => {
            Proof::Other(format!("its {METADATA_FILE} is backup uid {stored}"))
        }
        (None, Some(None)) => Proof::Other(format!("its {METADATA_FILE} carries no uid")),
        (None, None) => Proof::Absent,
    }
}

/// Read what [`prove`] needs. Any answer other than a clean 404 is an error: what cannot be
/// read proves nothing, and nothing is deleted on it.
pub async fn proof(store: &ObjectStore, name: &str, uid: &str) -> Result<Proof, StorageError> {
    let marker = store.dir_owner(&backup_dir(name)).await?;
    if marker.is_some() {
        return Ok(prove(marker.as_ref(), None, uid));
    }
    let key = backup_key(name, METADATA_FILE);
    let body = match store.get(&key).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(prove(None, None, uid)),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    body.into_async_read()
        .take(METADATA_LIMIT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| StorageError::Body(format!("reading {key}: {e}")))?;
    let value: serde_json::Value = if bytes.len() as u64 > METADATA_LIMIT {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    };
    let stored = value.pointer("/metadata/uid").and_then(|u| u.as_str());
    Ok(prove(None, Some(stored), uid))
}

/// The files a run of backup `name` may write, in the order they are deleted:
/// `velero-backup.json` first (a reader that sees it must find the rest), the marker last (an
/// interrupted cleanup can still prove the leftovers its own). The volumes' side files are
/// among them: every backup writes its volume info and operations.
pub fn own_files(name: &str) -> Vec<String> {
    let mut files = vec![METADATA_FILE.to_owned(), format!("{name}.tar.gz")];
    files.extend(SUFFIXES.iter().map(|s| format!("{name}-{s}")));
    files.extend([
        format!("{name}-resource-list.json.gz"),
        format!("{name}-results.gz"),
        format!("{name}-logs.gz"),
        OWNER_FILE.to_owned(),
    ]);
    files
}

/// What a cleanup or a deletion did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    /// The folder was proven this backup's: uploads aborted and objects deleted.
    Deleted { aborted: usize, deleted: usize },
    /// The folder is another backup's (why): nothing was touched.
    NotOurs(String),
    /// Nothing in the folder is this backup's: nothing was touched.
    Nothing,
}

/// Who is cleaning up after a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleaner {
    /// The run itself, in the process that wrote the files (after its own failure, or once
    /// fenced out by a new leader).
    Runner,
    /// Someone who knows the run only from its Backup object: the start-up sweep, a retry.
    Other,
}

/// Whether a cleanup by `cleaner` may delete the run's files, given the proof: a folder naming
/// the run; and, for the runner itself, a folder naming nobody. (A new leader's sweep deletes
/// the marker last while the runner, not yet aware it lost the lease, may still be writing:
/// what it wrote since is its own, and no other run can have claimed a folder that still holds
/// files, since a claim needs an empty folder.)
pub fn may_remove(proof: &Proof, cleaner: Cleaner) -> bool {
    match proof {
        Proof::Ours => true,
        Proof::Absent => cleaner == Cleaner::Runner,
        Proof::Other(_) => false,
    }
}

/// A run's cleanup (after a failure, by the sweep, by a retry, by a run fenced out): only the
/// files a run writes, only their uploads, and only while the folder proves this run's
/// ([`may_remove`]).
pub async fn remove_own(
    store: &ObjectStore,
    name: &str,
    uid: &str,
    cleaner: Cleaner,
) -> Result<Removed, StorageError> {
    let proof = proof(store, name, uid).await?;
    if !may_remove(&proof, cleaner) {
        return Ok(match proof {
            Proof::Other(why) => Removed::NotOurs(why),
            _ => Removed::Nothing,
        });
    }
    let keys: Vec<String> = own_files(name)
        .iter()
        .map(|f| backup_key(name, f))
        .collect();
    let mut aborted = 0;
    for key in &keys {
        aborted += store.abort_uploads_of(key).await?;
    }
    let present = store.list(&backup_dir(name), None).await?.keys;
    let mut deleted = 0;
    for key in keys.iter().filter(|k| present.contains(k)) {
        store.delete(key).await?;
        deleted += 1;
    }
    if proof == Proof::Absent && aborted == 0 && deleted == 0 {
        return Ok(Removed::Nothing);
    }
    Ok(Removed::Deleted { aborted, deleted })
}

/// A DeleteBackupRequest's deletion: the whole folder (Velero's files included), once it is
/// proven this backup's; `velero-backup.json` first, the marker last.
pub async fn delete_proven(
    store: &ObjectStore,
    name: &str,
    uid: &str,
) -> Result<Removed, StorageError> {
    match proof(store, name, uid).await? {
        Proof::Other(why) => Ok(Removed::NotOurs(why)),
        Proof::Absent => Ok(Removed::Nothing),
        Proof::Ours => {
            let order = Order {
                first: Some(METADATA_FILE),
                last: Some(OWNER_FILE),
            };
            let deleted = store.delete_dir(&backup_dir(name), order).await?;
            Ok(Removed::Deleted {
                aborted: 0,
                deleted,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str) -> Owner {
        Owner {
            kind: "Backup".into(),
            namespace: "velero".into(),
            name: "b".into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn only_the_marker_or_the_metadata_naming_the_uid_proves_a_folder_ours() {
        let mine = owner("u-1");
        let theirs = owner("u-2");
        // (marker, stored metadata's uid, proven ours)
        type Case<'a> = (Option<&'a Owner>, Option<Option<&'a str>>, bool);
        let cases: [Case; 8] = [
            // The marker decides, whatever the metadata says.
            (Some(&mine), None, true),
            (Some(&mine), Some(Some("u-2")), true),
            (Some(&theirs), Some(Some("u-1")), false),
            (Some(&theirs), None, false),
            // No marker (an older release, or Velero): the stored metadata's uid.
            (None, Some(Some("u-1")), true),
            (None, Some(Some("u-2")), false),
            (None, Some(None), false),
            (None, None, false),
        ];
        for (marker, metadata, ours) in cases {
            let proof = prove(marker, metadata, "u-1");
            assert_eq!(
                proof == Proof::Ours,
                ours,
                "{marker:?} {metadata:?}: {proof:?}"
            );
        }
        assert_eq!(prove(None, None, "u-1"), Proof::Absent);
        let Proof::Other(why) = prove(Some(&theirs), None, "u-1") else {
            panic!()
        };
        assert!(why.contains("uid u-2"), "{why}");
    }

    #[test]
    fn only_the_runner_itself_removes_from_a_folder_naming_nobody() {
        let other = Proof::Other("uid u-2".into());
        for (proof, cleaner, may) in [
            (Proof::Ours, Cleaner::Runner, true),
            (Proof::Ours, Cleaner::Other, true),
            (Proof::Absent, Cleaner::Runner, true),
            (Proof::Absent, Cleaner::Other, false),
            (other.clone(), Cleaner::Runner, false),
            (other, Cleaner::Other, false),
        ] {
            assert_eq!(may_remove(&proof, cleaner), may, "{proof:?} {cleaner:?}");
        }
    }

    #[test]
    fn own_files_go_metadata_first_and_marker_last() {
        let files = own_files("b");
        assert_eq!(files[0], "velero-backup.json");
        assert_eq!(files.last().unwrap(), OWNER_FILE);
        for file in [
            "b.tar.gz",
            "b-volumeinfo.json.gz",
            "b-itemoperations.json.gz",
        ] {
            assert!(files.contains(&file.to_owned()), "{file}");
        }
    }
}
