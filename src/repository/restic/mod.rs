//! The restic repository format through `rustic_core`: content-defined chunking, deduplication
//! across every volume of a namespace, zstd compression (repository version 2) and client-side
//! encryption (AES-256-CTR + Poly1305), with every file carried by [`backend::StoreBackend`].
//! The `restic` CLI and Velero 1.18's restic restore read what this writes.

pub mod backend;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustic_core::{
    BackupOptions, ConfigOptions, Credentials, KeyOptions, LocalDestination, LsOptions, OpenStatus,
    ParentOptions, PathList, Progress as RusticProgressHandle, ProgressBars, ProgressType,
    Repository, RepositoryBackends, RepositoryOptions, RestoreOptions, RusticError, RusticProgress,
    SnapshotOptions, repofile::SnapshotFile,
};

use super::{
    Create, Forgotten, Progress, RepoAddress, RepoPassword, RepositoryError, Restored, Result,
    Snapshot, SnapshotRequest, VolumeRepository,
};
use crate::storage::ObjectStore;
use backend::StoreBackend;

/// Velero's `--host` for every restic snapshot: one name whatever the agent pod is called, so
/// a recreated agent still finds its parents.
pub const SNAPSHOT_HOST: &str = "velero";

/// An open restic-format repository. rustic_core's open repository is consumed by indexing,
/// so each operation opens it again from the master key (one GET of the config; the password's
/// key derivation, scrypt, runs once, in [`ResticRepository::open`]).
pub struct ResticRepository {
    address: RepoAddress,
    backend: Arc<StoreBackend>,
    key: Credentials,
}

impl ResticRepository {
    /// Open the repository at `address` (blocking); create it when missing and `create` allows.
    pub fn open(
        store: Arc<ObjectStore>,
        address: RepoAddress,
        password: &RepoPassword,
        create: Create,
        runtime: tokio::runtime::Handle,
    ) -> Result<ResticRepository> {
        let backend = Arc::new(StoreBackend::new(store, address.root(), runtime));
        let fail = |e: Box<RusticError>| to_error(&backend, &address, e);
        let backends = RepositoryBackends::new(backend.clone(), None);
        // No local cache: the agent's disk is the node's, and a cache there would hold index
        // and snapshot files outside the location's encryption.
        let options = RepositoryOptions::default().no_cache(true);
        let repo = Repository::new(&options, &backends).map_err(fail)?;
        let credentials = Credentials::password(password.expose());
        let exists = repo.config_id().map_err(fail)?.is_some();
        let repo = match (exists, create) {
            (true, _) => repo.open(&credentials).map_err(fail)?,
            (false, Create::IfMissing) => repo
                .init(
                    &credentials,
                    &KeyOptions::default(),
                    &ConfigOptions::default(),
                )
                .map_err(fail)?,
            (false, Create::Never) => {
                return Err(RepositoryError::Missing {
                    root: address.root(),
                });
            }
        };
        Ok(ResticRepository {
            address,
            backend,
            key: Credentials::Masterkey(repo.key()),
        })
    }

    /// The repository opened again, its byte counts (the bytes backed up or restored) going
    /// to `progress`.
    fn reopen(&self, progress: &Progress) -> Result<Repository<OpenStatus>> {
        let options = RepositoryOptions::default().no_cache(true);
        let backends = RepositoryBackends::new(self.backend.clone(), None);
        Repository::new_with_progress(&options, &backends, Bars(progress.clone()))
            .and_then(|repo| repo.open(&self.key))
            .map_err(|e| self.fail(e))
    }

    fn fail(&self, e: Box<RusticError>) -> RepositoryError {
        to_error(&self.backend, &self.address, e)
    }
}

/// The store's error when a store request failed (its reason and the object it names), else
/// the format's, with a wrong password said in words that point at the Secret.
fn to_error(backend: &StoreBackend, address: &RepoAddress, e: Box<RusticError>) -> RepositoryError {
    let root = address.root();
    if let Some(source) = backend.take_failure() {
        return RepositoryError::Store { root, source };
    }
    if e.is_incorrect_password() {
        return RepositoryError::Password(format!(
            "repository {root}: the password in Secret {} (key {}) does not open it; it was \
             created with another password",
            super::SECRET_NAME,
            super::SECRET_KEY
        ));
    }
    RepositoryError::Format {
        root,
        message: e.to_string(),
    }
}

/// restic's tags are a comma-separated list of strings; Velero writes `key=value`.
fn tag_strings(tags: &BTreeMap<String, String>) -> Result<Vec<String>> {
    tags.iter()
        .map(|(k, v)| {
            let tag = format!("{k}={v}");
            if tag.contains(',') {
                Err(RepositoryError::Address(format!(
                    "snapshot tag {tag:?} holds a comma, which restic reads as two tags"
                )))
            } else {
                Ok(tag)
            }
        })
        .collect()
}

fn parse_tags<'a>(tags: impl Iterator<Item = &'a String>) -> BTreeMap<String, String> {
    tags.filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn to_snapshot(snap: &SnapshotFile) -> Snapshot {
    let summary = snap.summary.as_ref();
    Snapshot {
        id: snap.id.to_hex().as_str().to_owned(),
        tags: parse_tags(snap.tags.iter()),
        total_bytes: summary.map_or(0, |s| s.total_bytes_processed),
        files: summary.map_or(0, |s| s.total_files_processed),
        added_bytes: summary.map_or(0, |s| s.data_added_packed),
    }
}

impl VolumeRepository for ResticRepository {
    fn address(&self) -> &RepoAddress {
        &self.address
    }

    fn backup(
        &self,
        source: &Path,
        request: &SnapshotRequest,
        progress: &Progress,
    ) -> Result<Snapshot> {
        let mut options = SnapshotOptions::default().host(SNAPSHOT_HOST.to_owned());
        for tag in tag_strings(&request.tags)? {
            options = options.add_tags(&tag).map_err(|e| self.fail(e))?;
        }
        let snap = options.to_snapshot().map_err(|e| self.fail(e))?;
        let parents = ParentOptions::default()
            .force(request.parent.is_none())
            .parents(request.parent.iter().cloned().collect::<Vec<_>>());
        // The snapshot's root is the directory's contents (snapshot path `/`), as Velero's
        // `restic backup .` run inside the volume's directory records them, so a restore of
        // the snapshot into a new volume puts the files at its top.
        let backup = BackupOptions::default()
            .as_path(Some(PathBuf::from("/")))
            .parent_opts(parents);
        let source = source.to_str().ok_or_else(|| {
            RepositoryError::Address(format!("{} is not a UTF-8 path", source.display()))
        })?;
        let paths = PathList::from_string(source).map_err(|e| self.fail(e))?;
        let indexed = self
            .reopen(progress)?
            .to_indexed_ids()
            .map_err(|e| self.fail(e))?;
        let saved = indexed
            .backup(&backup, &paths, snap)
            .map_err(|e| self.fail(e))?;
        Ok(to_snapshot(&saved))
    }

    fn restore(&self, id: &str, target: &Path, progress: &Progress) -> Result<Restored> {
        let target_str = target.to_str().ok_or_else(|| {
            RepositoryError::Address(format!("{} is not a UTF-8 path", target.display()))
        })?;
        let indexed = self
            .reopen(progress)?
            .to_indexed()
            .map_err(|e| self.fail(e))?;
        let node = indexed
            .node_from_snapshot_path(id, |_| true)
            .map_err(|e| self.fail(e))?;
        let listing = indexed
            .ls(&node, &LsOptions::default())
            .map_err(|e| self.fail(e))?;
        let dest =
            LocalDestination::new(target_str, true, !node.is_dir()).map_err(|e| self.fail(e))?;
        // Numeric owners: the agent's container has no user database matching the pod's.
        let options = RestoreOptions::default().numeric_id(true);
        let plan = indexed
            .prepare_restore(&options, listing.clone(), &dest, false)
            .map_err(|e| self.fail(e))?;
        let restored = Restored {
            files: plan.stats.files.restore,
            bytes: plan.restore_size,
        };
        // rustic_core 0.13 unwraps a blob that fails its authentication check (a pack changed
        // in the bucket) inside its restore workers, so the failure arrives as a panic. It is
        // caught here and said as what it is: the blob's bytes were never written, and the
        // files that needed them are incomplete (holes), which is why the restore must fail.
        let run = std::panic::AssertUnwindSafe(|| indexed.restore(plan, &options, listing, &dest));
        match std::panic::catch_unwind(run) {
            Ok(done) => done.map_err(|e| self.fail(e))?,
            Err(panic) => {
                if let Some(store) = self.backend.take_failure() {
                    return Err(RepositoryError::Store {
                        root: self.address.root(),
                        source: store,
                    });
                }
                return Err(RepositoryError::Format {
                    root: self.address.root(),
                    message: format!(
                        "restoring snapshot {id}: {}; the repository is damaged or was changed in \
                         the bucket (`restic check --read-data` names the pack); the files that \
                         needed the data are incomplete",
                        panic_reason(panic.as_ref())
                    ),
                });
            }
        }
        Ok(restored)
    }

    fn snapshots(&self) -> Result<Vec<Snapshot>> {
        let snaps = self
            .reopen(&Progress::default())?
            .get_all_snapshots()
            .map_err(|e| self.fail(e))?;
        Ok(snaps.iter().map(to_snapshot).collect())
    }

    fn forget(&self, ids: &[String], tags: &BTreeMap<String, String>) -> Result<Forgotten> {
        let repo = self.reopen(&Progress::default())?;
        let all = repo.get_all_snapshots().map_err(|e| self.fail(e))?;
        let (gone, forgotten) = choose_forgotten(
            all.iter()
                .map(|s| (s.id.to_hex().as_str().to_owned(), parse_tags(s.tags.iter()))),
            ids,
            tags,
        );
        let gone: Vec<_> = all
            .iter()
            .filter(|s| gone.contains(&s.id.to_hex().as_str().to_owned()))
            .map(|s| s.id)
            .collect();
        if !gone.is_empty() {
            repo.delete_snapshots(&gone).map_err(|e| self.fail(e))?;
        }
        Ok(forgotten)
    }
}

/// Which of `snapshots` (full id, tags) `ids` forget (pure): the full ids to delete, and what
/// became of each id asked for.
fn choose_forgotten(
    snapshots: impl Iterator<Item = (String, BTreeMap<String, String>)>,
    ids: &[String],
    tags: &BTreeMap<String, String>,
) -> (Vec<String>, Forgotten) {
    let snapshots: Vec<_> = snapshots.collect();
    let mut out = Forgotten::default();
    let mut gone = Vec::new();
    for id in ids {
        let matching: Vec<_> = snapshots
            .iter()
            .filter(|(full, _)| id.len() >= 8 && full.starts_with(id.as_str()))
            .collect();
        match matching.as_slice() {
            [] if id.len() >= 8 => out.missing.push(id.clone()),
            [(full, have)] if tags.iter().all(|(k, v)| have.get(k) == Some(v)) => {
                if !gone.contains(full) {
                    gone.push(full.clone());
                }
                out.forgotten.push(id.clone());
            }
            _ => out.kept.push(id.clone()),
        }
    }
    (gone, out)
}

/// rustic_core's progress reports, kept for the one that counts bytes (the files backed up or
/// restored); the counters (index files, snapshots) are not shown to anyone.
#[derive(Debug)]
struct Bars(Progress);

impl ProgressBars for Bars {
    fn progress(&self, kind: ProgressType, _prefix: &str) -> RusticProgressHandle {
        match kind {
            ProgressType::Bytes => RusticProgressHandle::new(ByteCounts(self.0.clone())),
            ProgressType::Spinner | ProgressType::Counter => RusticProgressHandle::hidden(),
        }
    }
}

/// Not hidden, so rustic_core scans the source first and sets the length (the total).
#[derive(Debug)]
struct ByteCounts(Progress);

impl RusticProgress for ByteCounts {
    fn is_hidden(&self) -> bool {
        false
    }
    fn set_length(&self, len: u64) {
        self.0.set_total(len);
    }
    fn set_title(&self, _title: &str) {}
    fn inc(&self, inc: u64) {
        self.0.add(inc);
    }
    fn finish(&self) {}
}

/// What a rustic_core worker panicked with, in a few words: its error's guidance when it is
/// one ("Data decryption failed, MAC check failed."), never the whole debug print.
fn panic_reason(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a repository worker failed");
    match text.split_once("guidance: \"") {
        Some((_, rest)) => rest.split('"').next().unwrap_or(rest).to_owned(),
        None => text.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a snapshot carrying every tag asked for goes; a short id naming one snapshot is
    /// enough, one naming two or shorter than 8 digits forgets nothing.
    #[test]
    fn forget_takes_only_the_backup_s_own_snapshots() {
        let tagged = |uid: &str| BTreeMap::from([("backup-uid".to_owned(), uid.to_owned())]);
        let snaps = vec![
            ("aaaaaaaa11".to_owned(), tagged("u1")),
            ("bbbbbbbb22".to_owned(), tagged("u2")),
            ("cccccccc33".to_owned(), tagged("u1")),
            ("cccccccc44".to_owned(), tagged("u1")),
        ];
        let ids: Vec<String> = ["aaaaaaaa11", "bbbbbbbb", "cccccccc", "dddddddd", "aaaa"]
            .map(String::from)
            .to_vec();
        let (gone, out) = choose_forgotten(snaps.into_iter(), &ids, &tagged("u1"));
        assert_eq!(gone, ["aaaaaaaa11"]);
        assert_eq!(out.forgotten, ["aaaaaaaa11"]);
        assert_eq!(out.missing, ["dddddddd"]);
        assert_eq!(out.kept, ["bbbbbbbb", "cccccccc", "aaaa"]);
    }

    #[test]
    fn tags_round_trip_as_velero_writes_them() {
        let tags = BTreeMap::from([
            ("backup".to_owned(), "shop-1".to_owned()),
            ("pvc".to_owned(), "data".to_owned()),
        ]);
        let strings = tag_strings(&tags).unwrap();
        assert_eq!(strings, ["backup=shop-1", "pvc=data"]);
        assert_eq!(parse_tags(strings.iter()), tags);
        let comma = BTreeMap::from([("pod".to_owned(), "a,b".to_owned())]);
        assert!(tag_strings(&comma).is_err());
    }

    #[test]
    fn panics_are_told_in_a_few_words() {
        let rustic = String::from(
            "called `Result::unwrap()` on an `Err` value: RusticError { kind: Cryptography, \
             guidance: \"Data decryption failed, MAC check failed.\", docs_url: None }",
        );
        assert_eq!(
            panic_reason(&rustic),
            "Data decryption failed, MAC check failed."
        );
        assert_eq!(panic_reason(&"plain"), "plain");
        assert_eq!(panic_reason(&42u8), "a repository worker failed");
    }
}
