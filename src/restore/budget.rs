//! The memory a restore's items in flight may hold together. Each item reserves what its parse
//! may cost (`parse::reservation`) before it is parsed and keeps it until it is created; one
//! whose reservation is over the whole budget runs alone. Without it, the 16 creates in flight
//! could each hold an item near the parse multiple of the largest item size.

use tokio::sync::{Semaphore, SemaphorePermit};

use super::parse::reservation;

/// The budget, in bytes: with the server's steady ~40 MiB it stays under the chart's 256 MiB
/// memory limit.
pub const BUDGET_BYTES: u64 = 128 * 1024 * 1024;

/// Permits are KiB, so the budget fits a semaphore's `u32` counts.
const UNIT: u64 = 1024;

pub struct Budget {
    permits: Semaphore,
}

impl Budget {
    pub fn new() -> Budget {
        Budget {
            permits: Semaphore::new((BUDGET_BYTES / UNIT) as usize),
        }
    }

    /// Wait until an item of `size` bytes whose parse is estimated at `estimate` fits in what
    /// is left; capped at the whole budget, so an item larger than it waits for every other to
    /// finish and then runs alone.
    pub async fn reserve(&self, size: u64, estimate: u64) -> Result<SemaphorePermit<'_>, String> {
        let want = reservation(size, estimate).div_ceil(UNIT);
        let want = want.min(BUDGET_BYTES / UNIT) as u32;
        self.permits
            .acquire_many(want)
            .await
            .map_err(|e| format!("the restore's memory budget is closed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_large_item_waits_for_the_budget_and_a_huge_one_runs_alone() {
        let budget = Budget::new();
        let small = budget.reserve(2, 100).await.unwrap();
        // A 3 MiB item at the multiple asks for more than the budget: capped, so it waits for
        // the small one and then holds all of it.
        let (size, estimate) = (3 << 20, 40 * (3 << 20));
        let waiting =
            tokio::time::timeout(Duration::from_millis(100), budget.reserve(size, estimate)).await;
        assert!(
            waiting.is_err(),
            "the huge item waits while another holds part of the budget"
        );
        drop(small);
        let alone = budget.reserve(size, estimate).await.unwrap();
        assert_eq!(alone.num_permits() as u64, BUDGET_BYTES / UNIT);
    }
}
