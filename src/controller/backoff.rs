//! Retries that back off and end: retention asking again for a backup whose deletion failed
//! (the location was unavailable, read-only, or moved), and the cleanup of a failed backup's
//! leftovers when the store did not answer. Each waits longer the longer it has been failing,
//! and stops at the backup's TTL: expiry asks for the backup's deletion then, with its own
//! reporting. Without this, every look made one more refused request, or one more store call
//! every few seconds for ever. Plain functions of times.

use std::time::Duration;

use jiff::Timestamp;

/// The delay after the first failure.
pub const FIRST: Duration = Duration::from_secs(30);
/// The longest delay between two requests.
pub const MOST: Duration = Duration::from_secs(3600);

/// Whether retention may ask again now, given when its failed requests for the backup were
/// made (any order) and the backup's expiration.
pub fn may_ask(failed: &[Timestamp], expiration: Option<Timestamp>, now: Timestamp) -> bool {
    if !before_ttl(expiration, now) {
        return false;
    }
    let Some(last) = failed.iter().max() else {
        return true;
    };
    let doublings = u32::try_from(failed.len().saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let wait = FIRST.saturating_mul(1 << doublings).min(MOST);
    Duration::try_from(now.duration_since(*last)).is_ok_and(|since| since >= wait)
}

/// How long after a failed attempt to try again, when the first of the failures in a row was
/// at `first`: as long as it has been failing (so the delay doubles), from [`FIRST_RETRY`] to
/// [`MOST`].
pub fn wait_after(first: Timestamp, now: Timestamp) -> Duration {
    let failing = Duration::try_from(now.duration_since(first)).unwrap_or(Duration::ZERO);
    failing.clamp(FIRST_RETRY, MOST)
}

/// The first delay of [`wait_after`].
pub const FIRST_RETRY: Duration = Duration::from_secs(3);

/// Whether a retry for a backup expiring at `expiration` may still run: not once it expired.
pub fn before_ttl(expiration: Option<Timestamp>, now: Timestamp) -> bool {
    expiration.is_none_or(|e| e > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// (what, failed at, expiration, may ask now)
    #[test]
    fn table() {
        let now = at("2026-12-01T12:00:00Z");
        let later = Some(at("2026-12-02T00:00:00Z"));
        let cases = [
            ("never failed", vec![], later, true),
            ("failed 10s ago", vec!["2026-12-01T11:59:50Z"], later, false),
            ("failed 30s ago", vec!["2026-12-01T11:59:30Z"], later, true),
            (
                "failed twice, the last 40s ago: waits 60s",
                vec!["2026-12-01T11:58:00Z", "2026-12-01T11:59:20Z"],
                later,
                false,
            ),
            (
                "failed twice, the last 60s ago",
                vec!["2026-12-01T11:59:00Z", "2026-12-01T11:58:00Z"],
                later,
                true,
            ),
            (
                "failed 20 times: at most an hour apart",
                vec!["2026-12-01T11:00:00Z"; 20],
                later,
                true,
            ),
            (
                "expired: expiry asks, not retention",
                vec![],
                Some(now),
                false,
            ),
            ("no expiration known", vec![], None, true),
        ];
        for (what, failed, expiration, want) in cases {
            let failed: Vec<Timestamp> = failed.iter().map(|t| at(t)).collect();
            assert_eq!(may_ask(&failed, expiration, now), want, "{what}");
        }
    }

    #[test]
    fn a_cleanup_waits_as_long_as_it_has_failed_and_ends_at_the_ttl() {
        let now = at("2026-12-01T12:00:00Z");
        for (first, want) in [
            ("2026-12-01T12:00:00Z", 3),
            ("2026-12-01T11:59:50Z", 10),
            ("2026-12-01T11:50:00Z", 600),
            ("2026-11-01T00:00:00Z", 3600),
            // A clock that went back: the shortest delay.
            ("2026-12-01T13:00:00Z", 3),
        ] {
            assert_eq!(
                wait_after(at(first), now),
                Duration::from_secs(want),
                "{first}"
            );
        }
        assert!(before_ttl(None, now));
        assert!(before_ttl(Some(at("2026-12-01T12:00:01Z")), now));
        assert!(!before_ttl(Some(now), now));
    }
}
