//! Folders: a backup's or a restore's objects deleted as one, in an order a reader can rely on.

use super::ObjectStore;
use super::error::Result;

impl ObjectStore {
    /// Delete everything under `dir` (a folder: it must end with `/`, so `restores/r1/` never
    /// reaches `restores/r10/`): unfinished multipart uploads first, then the objects, those
    /// whose file name is `first` before the rest (a reader that sees it must never find the
    /// folder half gone; `None`: any order). Keys a store lists outside `dir` are never
    /// deleted. Returns how many objects were deleted.
    pub async fn delete_dir(&self, dir: &str, first: Option<&str>) -> Result<usize> {
        debug_assert!(dir.ends_with('/'), "a folder ends with /: {dir}");
        self.abort_uploads(dir).await?;
        let mut keys: Vec<String> = self
            .list(dir, None)
            .await?
            .keys
            .into_iter()
            .filter(|k| k.starts_with(dir))
            .collect();
        if let Some(first) = first {
            keys.sort_by_key(|k| k.rsplit('/').next() != Some(first));
        }
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}
