//! Refuse or proceed: Velero's rules as a plain function of the request, the backup and the
//! location its files are in.

use crate::api::{Backup, BackupPhase, BackupStorageLocation, BackupWrittenTo, LocationPhase};

use super::state::{Decision, Files};

/// The location a backup's files are in, or `None` when it wrote none: a run that never
/// started (New, FailedValidation: among them a name already taken in the store, whose files
/// are another backup's) owns nothing there.
pub fn files_location(backup: &Backup) -> Option<&str> {
    if backup
        .status
        .as_ref()
        .is_some_and(|s| s.written_to.is_some())
    {
        return backup.files_location();
    }
    // A Backup from an older veloxide or from Velero: no record, so its phase says whether
    // it ran, and its spec where.
    match backup.phase() {
        BackupPhase::New
        | BackupPhase::FailedValidation
        | BackupPhase::Queued
        | BackupPhase::ReadyToStart => None,
        _ => backup.files_location(),
    }
}

/// Velero's refusals, in Velero's order, then ours: the location must still point where the
/// files were written.
pub fn decide(
    backup_name: &str,
    backup: Option<&Backup>,
    location: Option<&BackupStorageLocation>,
) -> Decision {
    if backup_name.is_empty() {
        return Decision::Refuse(
            "spec.backupName is required: name the Backup to delete".to_owned(),
        );
    }
    let Some(backup) = backup else {
        return Decision::Refuse(format!(
            "backup not found: there is no Backup {backup_name:?} in this namespace"
        ));
    };
    if backup.phase() == BackupPhase::InProgress {
        return Decision::Refuse(
            "backup is still in progress: ask again once it has finished".to_owned(),
        );
    }
    let Some(name) = files_location(backup) else {
        return Decision::Proceed { files: None };
    };
    let Some(location) = location else {
        return Decision::Refuse(format!(
            "backup storage location {name} not found: the backup's files are in it; create \
             the location again (same bucket and prefix) to delete them"
        ));
    };
    if !location.spec.is_read_write() {
        return Decision::Refuse(format!(
            "cannot delete backup because backup storage location {name} is currently in \
             read-only mode; set its spec.accessMode to ReadWrite to delete it"
        ));
    }
    let status = location.status.as_ref();
    if status.and_then(|s| s.phase) != Some(LocationPhase::Available) {
        let why = status
            .and_then(|s| s.message.as_deref())
            .filter(|m| !m.is_empty())
            .map_or(String::new(), |m| format!(": {m}"));
        return Decision::Refuse(format!(
            "cannot delete backup because backup storage location {name} is currently in \
             Unavailable state{why}"
        ));
    }
    let written = backup.status.as_ref().and_then(|s| s.written_to.as_ref());
    if let Some(why) = written.and_then(|w| w.moved(&BackupWrittenTo::of(name, &location.spec))) {
        return Decision::Refuse(format!("{why}; nothing was deleted"));
    }
    // Whose files to look for: the record's uid (a synced backup's is the stored metadata's),
    // else (an older release's backup) this object's own.
    let uid = written
        .and_then(|w| w.uid.clone())
        .or_else(|| backup.metadata.uid.clone())
        .unwrap_or_default();
    Decision::Proceed {
        files: Some(Files {
            location: name.to_owned(),
            uid,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn backup(phase: &str, written_to: Value) -> Backup {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "velero"},
            "spec": {"storageLocation": "now"},
            "status": {"phase": phase, "writtenTo": written_to},
        }))
        .unwrap()
    }

    fn written(location: &str) -> Value {
        json!({"location": location, "bucket": "bucket", "prefix": "p"})
    }

    fn location(
        name: &str,
        access: &str,
        phase: Option<&str>,
        prefix: &str,
    ) -> BackupStorageLocation {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": name, "namespace": "velero"},
            "spec": {"provider": "aws", "accessMode": access,
                     "objectStorage": {"bucket": "bucket", "prefix": prefix}},
            "status": phase.map(|p| json!({"phase": p, "message": "store unreachable"})),
        }))
        .unwrap()
    }

    fn refusal(d: Decision) -> String {
        match d {
            Decision::Refuse(why) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_request_naming_no_backup_is_refused() {
        let why = refusal(decide("", None, None));
        assert!(why.starts_with("spec.backupName is required"), "{why}");
    }

    #[test]
    fn a_missing_backup_is_refused() {
        let why = refusal(decide("b", None, None));
        assert!(why.starts_with("backup not found"), "{why}");
    }

    #[test]
    fn a_running_backup_is_refused() {
        let b = backup("InProgress", written("a"));
        let l = location("a", "ReadWrite", Some("Available"), "p");
        let why = refusal(decide("b", Some(&b), Some(&l)));
        assert!(why.starts_with("backup is still in progress"), "{why}");
    }

    #[test]
    fn a_missing_location_is_refused() {
        let b = backup("Completed", written("a"));
        let why = refusal(decide("b", Some(&b), None));
        assert!(
            why.starts_with("backup storage location a not found"),
            "{why}"
        );
    }

    #[test]
    fn a_read_only_location_is_refused() {
        let b = backup("Completed", written("a"));
        let l = location("a", "ReadOnly", Some("Available"), "p");
        let why = refusal(decide("b", Some(&b), Some(&l)));
        assert!(why.contains("read-only mode"), "{why}");
        assert!(why.contains("spec.accessMode"), "{why}");
    }

    #[test]
    fn an_unavailable_or_unchecked_location_is_refused() {
        let b = backup("Completed", written("a"));
        let down = location("a", "ReadWrite", Some("Unavailable"), "p");
        let why = refusal(decide("b", Some(&b), Some(&down)));
        assert!(
            why.contains("Unavailable state: store unreachable"),
            "{why}"
        );
        let unchecked = location("a", "ReadWrite", None, "p");
        let why = refusal(decide("b", Some(&b), Some(&unchecked)));
        assert!(why.contains("Unavailable state"), "{why}");
    }

    #[test]
    fn a_location_moved_elsewhere_is_refused() {
        let b = backup("Completed", written("a"));
        let moved = location("a", "ReadWrite", Some("Available"), "other");
        let why = refusal(decide("b", Some(&b), Some(&moved)));
        assert!(why.contains("now points at bucket"), "{why}");
        assert!(why.contains("nothing was deleted"), "{why}");
        // Slashes around a prefix are not a move.
        let same = location("a", "ReadWrite", Some("Available"), "/p/");
        assert_eq!(
            decide("b", Some(&b), Some(&same)),
            Decision::Proceed {
                files: Some(Files {
                    location: "a".into(),
                    uid: String::new(),
                })
            }
        );
    }

    #[test]
    fn a_location_moved_to_another_endpoint_is_refused_and_the_record_names_whose_files() {
        let record = json!({"location": "a", "bucket": "bucket", "prefix": "p", "provider": "aws",
                            "s3Url": "https://one", "region": "r1", "uid": "u-9"});
        let b = backup("Completed", record);
        let config = |url: &str| {
            Some(
                [("s3Url", url), ("region", "r1")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .into(),
            )
        };
        let mut l = location("a", "ReadWrite", Some("Available"), "p");
        l.spec.config = config("https://one/");
        let files = Files {
            location: "a".into(),
            uid: "u-9".into(),
        };
        assert_eq!(
            decide("b", Some(&b), Some(&l)),
            Decision::Proceed { files: Some(files) }
        );
        l.spec.config = config("https://two");
        let why = refusal(decide("b", Some(&b), Some(&l)));
        assert!(
            why.contains("now points at bucket \"bucket\" prefix \"p\" at https://two"),
            "{why}"
        );
        assert!(
            why.contains("written to bucket \"bucket\" prefix \"p\" at https://one"),
            "{why}"
        );
    }

    #[test]
    fn files_are_deleted_through_the_location_written_to_not_the_spec() {
        let b = backup("PartiallyFailed", written("then"));
        assert_eq!(files_location(&b), Some("then"));
    }

    #[test]
    fn a_backup_that_wrote_nothing_loses_only_its_object() {
        // FailedValidation (a name taken in the store among them) and New wrote nothing: no
        // location is needed, and none is touched.
        for phase in ["FailedValidation", "New"] {
            let b = backup(phase, Value::Null);
            assert_eq!(files_location(&b), None, "{phase}");
            assert_eq!(
                decide("b", Some(&b), None),
                Decision::Proceed { files: None },
                "{phase}"
            );
        }
        // A Backup from before the record existed, which ran: its spec names the location.
        let old = backup("Completed", Value::Null);
        assert_eq!(files_location(&old), Some("now"));
    }
}
