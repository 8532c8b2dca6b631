//! Shared by the repository groups: a directory of known bytes with every kind of entry a pod
//! volume holds, an inventory that compares two trees entry by entry, and the `restic` CLI as
//! the independent peer (`e2e/tools/install-restic.sh` installs it).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::peers::Moto;
use crate::storage_support::{ACCESS_KEY, SECRET_KEY};

/// Bytes that do not compress or repeat: a xorshift stream from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Fill `dir` with: files of several sizes (one spanning many chunks, one empty, two equal),
/// a sparse file, two hard links to one file, relative, absolute and dangling symlinks,
/// modes (setuid, sticky, 0600, 0700), another owner, an empty directory, a 255-byte name,
/// a path over 1,000 bytes deep, and non-ASCII names.
pub fn known_tree(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mib = 1024 * 1024;
    write(&dir.join("big.bin"), &noise(1, 5 * mib + 123), 0o644);
    write(&dir.join("small.txt"), b"hello volume\n", 0o600);
    write(&dir.join("empty"), b"", 0o644);
    write(&dir.join("copy-a.bin"), &noise(2, 300_000), 0o644);
    write(&dir.join("copy-b.bin"), &noise(2, 300_000), 0o640);
    write(&dir.join("run.sh"), b"#!/bin/sh\necho hi\n", 0o4755);

    // Sparse: 16 MiB long, data at the start, in the middle and at the end only.
    let sparse = std::fs::File::create(dir.join("sparse.img")).unwrap();
    sparse.set_len(16 * mib as u64).unwrap();
    use std::os::unix::fs::FileExt as _;
    sparse.write_all_at(&noise(3, 4096), 0).unwrap();
    sparse
        .write_all_at(&noise(4, 4096), 8 * mib as u64)
        .unwrap();
    sparse
        .write_all_at(&noise(5, 100), 16 * mib as u64 - 100)
        .unwrap();
    drop(sparse);

    write(&dir.join("hard-a"), &noise(6, 70_000), 0o644);
    std::fs::hard_link(dir.join("hard-a"), dir.join("hard-b")).unwrap();

    symlink("small.txt", dir.join("link-relative")).unwrap();
    symlink("/etc/hostname", dir.join("link-absolute")).unwrap();
    symlink("does/not/exist", dir.join("link-dangling")).unwrap();

    std::fs::create_dir(dir.join("empty-dir")).unwrap();
    let private = dir.join("private");
    std::fs::create_dir(&private).unwrap();
    write(&private.join("key"), b"not a secret, a test", 0o600);
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let sticky = dir.join("tmp");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();

    let owned = dir.join("owned-by-1234");
    write(&owned, b"uid 1234 gid 5678", 0o644);
    std::os::unix::fs::lchown(&owned, Some(1234), Some(5678)).unwrap();

    write(&dir.join("n".repeat(255)), b"a name of 255 bytes", 0o644);
    let mut deep = dir.to_path_buf();
    for i in 0..6 {
        deep = deep.join(format!("{i}{}", "d".repeat(199)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    write(&deep.join("leaf"), b"deep", 0o644);
    write(&dir.join("données-日本語 with space"), b"utf-8 name", 0o644);
}

/// One entry as a restore must reproduce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        len: u64,
        sha256: String,
        mtime: (i64, i64),
    },
    Symlink {
        target: PathBuf,
    },
}

/// A tree's entries by path relative to `root` (the root itself left out: its mode is the
/// volume's, not the backup's), and the groups of paths that share an inode.
#[derive(Debug, PartialEq, Eq)]
pub struct Inventory {
    pub entries: BTreeMap<PathBuf, Entry>,
    pub hard_links: Vec<Vec<PathBuf>>,
}

pub fn inventory(root: &Path) -> Inventory {
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let path = item.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let entry = if meta.file_type().is_symlink() {
                Entry::Symlink {
                    target: std::fs::read_link(&path).unwrap(),
                }
            } else if meta.is_dir() {
                stack.push(path.clone());
                Entry::Dir {
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                }
            } else {
                if meta.nlink() > 1 {
                    inodes
                        .entry((meta.dev(), meta.ino()))
                        .or_default()
                        .push(rel.clone());
                }
                let bytes = std::fs::read(&path).unwrap();
                let digest = openssl::sha::sha256(&bytes);
                Entry::File {
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    len: meta.len(),
                    sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                }
            };
            entries.insert(rel, entry);
        }
    }
    let mut hard_links: Vec<Vec<PathBuf>> = inodes
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    hard_links.sort();
    Inventory {
        entries,
        hard_links,
    }
}

/// Every difference between two inventories, one line each (empty when equal).
pub fn differences(want: &Inventory, got: &Inventory) -> Vec<String> {
    let mut out = Vec::new();
    for (path, w) in &want.entries {
        match got.entries.get(path) {
            None => out.push(format!("missing: {}", path.display())),
            Some(g) if g != w => out.push(format!("{}: want {w:?}, got {g:?}", path.display())),
            Some(_) => {}
        }
    }
    for path in got.entries.keys() {
        if !want.entries.contains_key(path) {
            out.push(format!("extra: {}", path.display()));
        }
    }
    if want.hard_links != got.hard_links {
        out.push(format!(
            "hard links: want {:?}, got {:?}",
            want.hard_links, got.hard_links
        ));
    }
    out
}

/// The `restic` CLI against a repository in moto (its CA, the test credentials, no cache).
pub struct Restic {
    pub repo: String,
    pub ca_file: PathBuf,
    pub password: String,
}

impl Restic {
    /// The repository at `<bucket>/<key prefix>` (no trailing slash), as Velero's
    /// `GetRepoIdentifier` names it: `s3:<s3Url>/<bucket>/<prefix>/restic/<namespace>`.
    pub fn new(moto: &Moto, bucket: &str, key_prefix: &str, password: &str) -> Restic {
        Restic {
            repo: format!("s3:{}/{bucket}/{key_prefix}", moto.url()),
            ca_file: moto.ca_file.clone(),
            password: password.to_owned(),
        }
    }

    /// Run `restic <args>` in `dir`; the output, whatever the exit status.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        let bin = PathBuf::from("/usr/bin/restic");
        assert!(
            bin.is_file(),
            "restic is missing: run `bash e2e/tools/install-restic.sh` (or `make test-tools`)"
        );
        Command::new(bin)
            .current_dir(dir)
            .args(["-r", &self.repo, "--cacert"])
            .arg(&self.ca_file)
            .args(["--no-cache"])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("RESTIC_PASSWORD", &self.password)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .output()
            .expect("run restic")
    }

    /// Run `restic <args>` and require success; its standard output.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run_in(dir, args);
        assert!(
            out.status.success(),
            "restic {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
