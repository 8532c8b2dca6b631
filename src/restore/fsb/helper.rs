//! `veloxide restore-helper <restore uid>`, the `restore-wait` init container's work (Velero's
//! `velero-restore-helper`): once a second, look for the done file `.velero/<uid>` in every
//! directory under `/restores` (one per volume being restored); when all are there, remove the
//! `.velero` directories and end, so the pod's application starts on its data.
//!
//! The wait has no bound of its own, as Velero's has none: an init container that gave up
//! would be restarted by the kubelet (or, with `restartPolicy: Never`, fail the pod), and the
//! application would start on an empty volume. The restore's own wait for its
//! PodVolumeRestores is bounded (`--fs-backup-timeout`) and names a volume that did not come.

use std::path::{Path, PathBuf};

/// What one look found.
#[derive(Debug, PartialEq, Eq)]
pub enum Look {
    /// Every volume has its done file.
    Done(Vec<PathBuf>),
    /// These volumes have none yet.
    Waiting(Vec<PathBuf>),
}

/// Look for `uid`'s done file in each directory under `restores`.
pub fn look(restores: &Path, uid: &str) -> std::io::Result<Look> {
    let mut done = Vec::new();
    let mut waiting = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(restores)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let file = entry.path().join(".velero").join(uid);
        if std::fs::symlink_metadata(&file).is_ok() {
            done.push(entry.path());
        } else {
            waiting.push(entry.path());
        }
    }
    Ok(if waiting.is_empty() {
        Look::Done(done)
    } else {
        Look::Waiting(waiting)
    })
}

/// Remove the `.velero` directory of each volume (as Velero's helper does); a failure is
/// reported and left: the application's data is in place either way.
pub fn clean(volumes: &[PathBuf]) -> Vec<String> {
    volumes
        .iter()
        .filter_map(|v| {
            let dir = v.join(".velero");
            std::fs::remove_dir_all(&dir)
                .err()
                .map(|e| format!("could not remove {}: {e}", dir.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_only_when_every_volume_has_the_restore_s_file() {
        let root = std::env::temp_dir().join(format!("vx-helper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for v in ["a", "b"] {
            std::fs::create_dir_all(root.join(v).join(".velero")).unwrap();
        }
        std::fs::write(root.join("not-a-volume"), b"").unwrap();
        std::fs::write(root.join("a/.velero/u1"), b"").unwrap();
        // Another restore's file does not count.
        std::fs::write(root.join("b/.velero/u0"), b"").unwrap();
        assert_eq!(
            look(&root, "u1").unwrap(),
            Look::Waiting(vec![root.join("b")])
        );
        std::fs::write(root.join("b/.velero/u1"), b"").unwrap();
        let Look::Done(volumes) = look(&root, "u1").unwrap() else {
            panic!("not done")
        };
        assert_eq!(volumes, vec![root.join("a"), root.join("b")]);
        assert!(clean(&volumes).is_empty());
        assert!(!root.join("a/.velero").exists() && !root.join("b/.velero").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
