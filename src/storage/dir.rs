//! Folders: a backup's or a restore's objects deleted as one, in an order a reader can rely on.

use super::error::{Result, StorageError};
use super::store::ObjectStore;

/// In what order a folder's objects go (by file name, the part after the last `/`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Order<'a> {
    /// Deleted before the rest: a reader that sees it must never find the folder half gone
    /// (`velero-backup.json`).
    pub first: Option<&'a str>,
    /// Deleted after the rest: the proof of ownership, so an interrupted deletion can still
    /// prove the leftovers its own (the owner marker).
    pub last: Option<&'a str>,
}

/// Why `dir` cannot be a folder: its delete would reach past it (`restores/r1` covers
/// `restores/r10/`, an empty one the whole location).
pub fn check_folder(dir: &str) -> Result<()> {
    if dir.trim_matches('/').is_empty() || !dir.ends_with('/') {
        return Err(StorageError::Config(format!(
            "refusing to delete {dir:?}: a folder to delete must be a non-empty path ending with /"
        )));
    }
    Ok(())
}

impl ObjectStore {
    /// Delete everything under `dir` (a folder: a non-empty path ending with `/`, so
    /// `restores/r1/` never reaches `restores/r10/`; anything else is refused): unfinished
    /// multipart uploads first, then the objects in `order`. Keys a store lists outside `dir`
    /// are never deleted. Returns how many objects were deleted.
    pub async fn delete_dir(&self, dir: &str, order: Order<'_>) -> Result<usize> {
        check_folder(dir)?;
        self.abort_uploads(dir).await?;
        let mut keys: Vec<String> = self
            .list(dir, None)
            .await?
            .keys
            .into_iter()
            .filter(|k| k.starts_with(dir))
            .collect();
        let rank = |k: &String| {
            let file = k.rsplit('/').next();
            match file {
                f if f.is_some() && f == order.first => 0,
                f if f.is_some() && f == order.last => 2,
                _ => 1,
            }
        };
        keys.sort_by_key(rank);
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_named_folder_may_be_deleted() {
        for bad in ["", "/", "//", "restores/r1", "backups"] {
            let err = check_folder(bad).unwrap_err().to_string();
            assert!(
                err.contains("must be a non-empty path ending with /"),
                "{bad}: {err}"
            );
        }
        for good in ["restores/r1/", "backups/b/"] {
            assert!(check_folder(good).is_ok(), "{good}");
        }
    }
}
