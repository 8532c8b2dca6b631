//! Bytes done of bytes to do, shared between a repository operation running on a blocking
//! thread and whoever reports it (the node agent writes it to a PodVolumeBackup's
//! `status.progress` every few seconds while the work runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A backup's or restore's byte counts. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    done: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

impl Progress {
    /// Bytes read (backup) or written (restore) so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Bytes the operation will read or write, once known (0 before the scan ends).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_counts() {
        let progress = Progress::default();
        let seen = progress.clone();
        progress.set_total(10);
        progress.add(4);
        progress.add(3);
        assert_eq!((seen.done(), seen.total()), (7, 10));
    }
}
