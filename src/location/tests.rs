use super::*;

fn spec(config: &[(&str, &str)]) -> BackupStorageLocationSpec {
    serde_json::from_value(serde_json::json!({
        "provider": "aws", "objectStorage": {"bucket": "b"},
        "config": config.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    }))
    .unwrap()
}

#[test]
fn file_paths_are_allowed_only_under_the_configured_directories() {
    let files = FilePaths::Under(vec![PathBuf::from("/etc/velero")]);
    for (key, path, allowed) in [
        ("credentialsFile", "/etc/velero/cloud", true),
        ("credentialsFile", "/etc/velero", false),
        ("credentialsFile", "/etc/velero-other/cloud", false),
        ("credentialsFile", "/etc/velero/../shadow", false),
        // `.` is no way out: the path is the same.
        ("credentialsFile", "/etc/velero/./cloud", true),
        ("credentialsFile", "/credentials/cloud", false),
        ("customerKeyEncryptionFile", "/etc/velero/sse-c.key", true),
        (
            "customerKeyEncryptionFile",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            false,
        ),
    ] {
        let parsed = LocationConfig::from_spec_with(&spec(&[(key, path)]), &files);
        match parsed {
            Ok(_) => assert!(allowed, "{key}={path} should be refused"),
            Err(rejected) => {
                assert!(!allowed, "{key}={path} should pass: {rejected}");
                let text = rejected.to_string();
                assert!(
                    text.contains(&format!("spec.config.{key}")) && text.contains("(/etc/velero)"),
                    "{text}"
                );
            }
        }
    }
    // The CLI reads the files of whoever runs it.
    assert!(
        LocationConfig::from_spec_with(
            &spec(&[("credentialsFile", "/home/me/.aws/x")]),
            &FilePaths::Anywhere
        )
        .is_ok()
    );
}
