//! Which controllers run: Velero's `--disable-controllers` (by Velero's controller names) and
//! its deprecated `--restore-only`, read into what veloxide's controllers are. A pure decision,
//! table-tested; `server::controllers` and the backup controller carry it out.

/// What runs on the lease holder. The location controller always runs (Velero does not let
/// it be disabled either).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enabled {
    /// New backups are started (Velero's `backup-queue` and `backup`).
    pub backup: bool,
    /// Expired backups are collected (Velero's `gc`).
    pub gc: bool,
    pub backup_deletion: bool,
    pub backup_sync: bool,
    pub download_request: bool,
    pub restore: bool,
    pub schedule: bool,
    pub server_status_request: bool,
}

impl Default for Enabled {
    fn default() -> Self {
        Enabled {
            backup: true,
            gc: true,
            backup_deletion: true,
            backup_sync: true,
            download_request: true,
            restore: true,
            schedule: true,
            server_status_request: true,
        }
    }
}

/// Velero v1.18's names `--disable-controllers` takes (`config.DisableableControllers`), in
/// its order.
pub const VELERO_NAMES: [&str; 14] = [
    "backup-queue",
    "backup",
    "backup-operations",
    "backup-deletion",
    "backup-finalizer",
    "backup-sync",
    "download-request",
    "gc",
    "backup-repo",
    "restore",
    "restore-operations",
    "schedule",
    "server-status-request",
    "restore-finalizer",
];

/// What Velero's `--restore-only` disables (its server adds these to the disabled list).
const RESTORE_ONLY: [&str; 6] = [
    "backup",
    "backup-deletion",
    "backup-finalizer",
    "backup-operations",
    "gc",
    "schedule",
];

/// Read `--disable-controllers` (and `--restore-only`) as Velero does: every name must be one
/// of [`VELERO_NAMES`], else the server does not start (Velero's message). Returns what runs
/// and, for the log, a line per name that has nothing of its own to stop in veloxide.
pub fn parse(disabled: &[String], restore_only: bool) -> Result<(Enabled, Vec<String>), String> {
    let mut enabled = Enabled::default();
    let mut notes = Vec::new();
    let names = disabled
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .chain(RESTORE_ONLY.into_iter().filter(|_| restore_only));
    for name in names {
        match name {
            "backup-queue" | "backup" => enabled.backup = false,
            "gc" => enabled.gc = false,
            "backup-deletion" => enabled.backup_deletion = false,
            "backup-sync" => enabled.backup_sync = false,
            "download-request" => enabled.download_request = false,
            "restore" => enabled.restore = false,
            "schedule" => enabled.schedule = false,
            "server-status-request" => enabled.server_status_request = false,
            // Velero splits a run into controllers veloxide does in one: a backup or restore
            // finishes in its run, there are no asynchronous item operations, and no
            // repository to maintain. Disabling them stops nothing here; said in the log.
            "backup-operations" | "backup-finalizer" | "backup-repo" | "restore-operations"
            | "restore-finalizer" => notes.push(format!(
                "--disable-controllers {name}: veloxide has no separate {name} controller \
                 (its work, if any, is part of the backup or restore run); nothing to disable"
            )),
            other => {
                return Err(format!(
                    "Invalid value for --disable-controllers flag provided: {other}. Valid \
                     values are: {}",
                    VELERO_NAMES.join(",")
                ));
            }
        }
    }
    notes.dedup();
    Ok((enabled, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// (flags, restore-only, what is off afterwards)
    #[test]
    fn table() {
        let off = |f: fn(&mut Enabled)| {
            let mut e = Enabled::default();
            f(&mut e);
            e
        };
        let cases: Vec<(&[&str], bool, Enabled)> = vec![
            (&[], false, Enabled::default()),
            (&[""], false, Enabled::default()),
            (&["backup"], false, off(|e| e.backup = false)),
            (&["backup-queue"], false, off(|e| e.backup = false)),
            (&["gc"], false, off(|e| e.gc = false)),
            (
                &["backup-sync", "download-request"],
                false,
                off(|e| {
                    e.backup_sync = false;
                    e.download_request = false;
                }),
            ),
            (&["restore"], false, off(|e| e.restore = false)),
            (
                &["server-status-request", "backup-deletion"],
                false,
                off(|e| {
                    e.server_status_request = false;
                    e.backup_deletion = false;
                }),
            ),
            (&["schedule"], false, off(|e| e.schedule = false)),
            (&["backup-finalizer"], false, Enabled::default()),
            // Velero's restore-only: backups, deletions, expiry and schedules stop; restores,
            // the sync, downloads and `velero version` go on.
            (
                &[],
                true,
                Enabled {
                    backup: false,
                    gc: false,
                    backup_deletion: false,
                    schedule: false,
                    ..Enabled::default()
                },
            ),
        ];
        for (flags, restore_only, want) in cases {
            let (got, _) = parse(&names(flags), restore_only).unwrap();
            assert_eq!(got, want, "{flags:?} restore-only={restore_only}");
        }
    }

    #[test]
    fn unknown_names_stop_the_server_with_velero_s_message() {
        for bad in ["backup-storage-location", "backups", "pod-volume-backup"] {
            let err = parse(&names(&[bad]), false).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "Invalid value for --disable-controllers flag provided: {bad}. Valid values are: backup-queue,backup,"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn names_with_nothing_to_stop_are_said() {
        let (_, notes) = parse(&names(&["restore-finalizer", "backup-repo"]), false).unwrap();
        assert_eq!(notes.len(), 2);
        assert!(notes[0].contains("no separate restore-finalizer controller"));
        // restore-only's own finalizer and operations names are said once each.
        let (_, notes) = parse(&[], true).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
    }
}
