//! `status.phaseMillis` (veloxide's own): where a backup's time went, so a slow backup says
//! whether the API server, the archive's encoding or the store held it up.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// veloxide extension: milliseconds a backup spent in each phase. Listing, encoding and upload
/// overlap (the archive is uploaded while it is written): each counts the time that phase held
/// the backup's one producer up, so their sum is at most the wall time.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPhaseMillis {
    /// API discovery: which resources the cluster serves.
    pub discovery: i64,
    /// Pre and post hooks and CSI snapshots (zero for a backup that takes no volumes).
    pub volumes: i64,
    /// Waiting for the API server's list and get answers.
    pub listing: i64,
    /// Filtering, encoding items as JSON and compressing the archive.
    pub encoding: i64,
    /// Waiting for the store to take the archive (parts in flight full), and finishing it.
    pub upload: i64,
    /// Writing the resource list, results, log and volume records.
    pub side_files: i64,
    /// Writing progress and the final status to the Backup object.
    pub status_writes: i64,
}

impl BackupPhaseMillis {
    /// The phases in the order a backup runs them, with the names the log and `backup
    /// describe` give them.
    pub fn phases(&self) -> [(&'static str, i64); 7] {
        [
            ("discovery", self.discovery),
            ("volumes", self.volumes),
            ("listing", self.listing),
            ("encoding+compression", self.encoding),
            ("upload", self.upload),
            ("side files", self.side_files),
            ("status writes", self.status_writes),
        ]
    }
}
