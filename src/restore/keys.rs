//! Where a restore's files live in a location.

/// Where a restore's files live, relative to the location's prefix. The trailing slash is what
/// keeps `r1` from reaching `r10`'s files.
pub fn restore_dir(name: &str) -> String {
    format!("restores/{name}/")
}

/// The key of one of a restore's files: `restores/<name>/<file>`.
pub fn restore_key(name: &str, file: &str) -> String {
    format!("{}{file}", restore_dir(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_dir_never_covers_a_longer_name() {
        assert_eq!(restore_dir("r1"), "restores/r1/");
        assert!(!restore_key("r10", "restore-r10-logs.gz").starts_with(&restore_dir("r1")));
        assert!(restore_key("r1", "restore-r1-logs.gz").starts_with(&restore_dir("r1")));
    }
}
