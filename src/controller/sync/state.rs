//! The backup sync's types and constants (a leaf: imports no sibling).

use std::time::Duration;

/// The longest the sync sleeps between two looks at the locations, whatever their periods.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The shortest, so a tiny period cannot turn the loop into a busy one.
pub const MIN_WAIT: Duration = Duration::from_secs(1);

/// Why a backup found in a location gets no Backup object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Its phase is not one that is synced (it would be run again, or it is not finished).
    Phase(String),
    /// The file cannot be used: a reason label (for the metric and the event) and a message.
    Bad(&'static str, String),
}

/// What one pass over a location came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Backup folders under `backups/`.
    pub found: usize,
    pub created: usize,
    pub skipped: usize,
    pub bad: usize,
    pub orphans_deleted: usize,
}
