//! Where a backup's objects live in a location (Velero's layout).

/// Where a backup's objects live, relative to the location's prefix (Velero's layout).
pub fn backup_dir(name: &str) -> String {
    format!("backups/{name}/")
}

/// The key of one of a backup's files: `backups/<name>/<file>`.
pub fn backup_key(name: &str, file: &str) -> String {
    format!("backups/{name}/{file}")
}
