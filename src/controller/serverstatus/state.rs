//! The ServerStatusRequest controller's names and timings.

use std::time::Duration;

/// The label this controller's reconcile metrics carry.
pub const CONTROLLER: &str = "serverstatusrequest";
/// How long an answered request is kept before it is deleted (Velero's one minute).
pub const TTL: Duration = Duration::from_secs(60);
