//! When retention asks again for a backup whose deletion it asked for and that failed (the
//! location was unavailable, read-only, or moved): after a delay that doubles with each failure,
//! and not at all once the backup's TTL has passed (expiry asks for it then, with its own
//! reporting). Without this, every look at the schedule made one more refused request.

use std::time::Duration;

use jiff::Timestamp;

/// The delay after the first failure.
pub const FIRST: Duration = Duration::from_secs(30);
/// The longest delay between two requests.
pub const MOST: Duration = Duration::from_secs(3600);

/// Whether retention may ask again now, given when its failed requests for the backup were
/// made (any order) and the backup's expiration.
pub fn may_ask(failed: &[Timestamp], expiration: Option<Timestamp>, now: Timestamp) -> bool {
    if expiration.is_some_and(|e| e <= now) {
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
}
