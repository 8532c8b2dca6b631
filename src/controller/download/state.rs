//! The DownloadRequest controller's names and timings.

use std::time::Duration;

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "downloadrequest";
/// How long a link works (Velero's `DownloadURLTTL`).
pub const LINK_TTL: Duration = Duration::from_secs(600);
/// Velero enqueues every request each minute, so expired ones go within a minute.
pub const RESYNC: Duration = Duration::from_secs(60);
