//! A request's `spec.backupName` that no Backup can have (`my backup`): refused at once with
//! the reason, instead of failing every look (the label selector built from it is refused by
//! the API server) and being retried for ever.

/// Why `name` cannot name a Backup (an object name: a DNS subdomain), or `None`; an empty
/// name is left to [`super::decide::decide`], which says it is required.
pub fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let fine = name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    (!fine).then(|| {
        format!(
            "spec.backupName {name:?} is not a Backup name (at most 253 lowercase letters, \
             digits, '-' and '.', starting and ending with a letter or digit); no Backup has \
             it: name the backup as `veloxide backup get` lists it"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn table() {
        for (name, refused) in [
            ("", false),
            ("nightly-20261201030000", false),
            ("a.b-c", false),
            ("my backup", true),
            ("Nightly", true),
            ("-x", true),
            ("x-", true),
            ("a..b", true),
            ("a/b", true),
            ("ünï", true),
        ] {
            assert_eq!(problem(name).is_some(), refused, "{name:?}");
        }
        assert!(problem(&"a".repeat(254)).is_some());
        assert!(
            problem("my backup")
                .unwrap()
                .starts_with("spec.backupName \"my backup\" is not a Backup name")
        );
    }
}
