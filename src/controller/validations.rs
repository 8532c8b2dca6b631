//! When each location was last checked here, against which inputs, and how it went: the
//! location controller's memory across reconciles, held by the shared `Context` so the server
//! can forget a deleted location.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When each location was last checked here, against which inputs, and how it went.
#[derive(Default)]
pub struct ValidationLog {
    entries: Mutex<HashMap<String, Validated>>,
}

#[derive(Clone, Copy)]
struct Validated {
    inputs: u64,
    at: Instant,
    failures: u32,
}

/// What to do with a location now.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Validate,
    WaitFor(Duration),
    AwaitChange,
}

impl ValidationLog {
    pub fn decide(
        &self,
        name: &str,
        inputs: u64,
        frequency: Duration,
        backoff: Duration,
    ) -> Decision {
        let entries = self.entries.lock().expect("log lock");
        let Some(last) = entries.get(name) else {
            return Decision::Validate;
        };
        if last.inputs != inputs {
            return Decision::Validate;
        }
        match next_interval(frequency, backoff, last.failures) {
            None => Decision::AwaitChange,
            Some(interval) => match interval.checked_sub(last.at.elapsed()) {
                Some(left) if !left.is_zero() => Decision::WaitFor(left),
                _ => Decision::Validate,
            },
        }
    }

    pub fn record(&self, name: &str, inputs: u64, passed: bool) -> u32 {
        let mut entries = self.entries.lock().expect("log lock");
        let failures = if passed {
            0
        } else {
            entries.get(name).map_or(0, |e| e.failures) + 1
        };
        entries.insert(
            name.to_owned(),
            Validated {
                inputs,
                at: Instant::now(),
                failures,
            },
        );
        failures
    }

    pub fn forget(&self, name: &str) {
        self.entries.lock().expect("log lock").remove(name);
    }
}

/// The wait before the next check: the frequency after a success (none when it is 0: the
/// location is validated once), and a doubling backoff capped by the frequency after failures.
pub fn next_interval(frequency: Duration, backoff: Duration, failures: u32) -> Option<Duration> {
    if frequency.is_zero() {
        return (failures > 0)
            .then(|| backoff.saturating_mul(1 << failures.min(16).saturating_sub(1)));
    }
    if failures == 0 {
        return Some(frequency);
    }
    let grown = backoff.saturating_mul(1 << failures.min(16).saturating_sub(1));
    Some(grown.min(frequency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_back_off_on_failure_and_respect_zero() {
        let s = Duration::from_secs;
        assert_eq!(next_interval(s(60), s(5), 0), Some(s(60)));
        assert_eq!(next_interval(s(60), s(5), 1), Some(s(5)));
        assert_eq!(next_interval(s(60), s(5), 2), Some(s(10)));
        assert_eq!(next_interval(s(60), s(5), 5), Some(s(60)));
        // 0 means validate once: no schedule after success, retries after failure.
        assert_eq!(next_interval(s(0), s(5), 0), None);
        assert_eq!(next_interval(s(0), s(5), 3), Some(s(20)));
    }

    #[test]
    fn unchanged_inputs_wait_and_changed_inputs_validate() {
        let log = ValidationLog::default();
        let s = Duration::from_secs;
        assert_eq!(log.decide("a", 1, s(60), s(5)), Decision::Validate);
        log.record("a", 1, true);
        assert!(matches!(log.decide("a", 1, s(60), s(5)), Decision::WaitFor(d) if d > s(59)));
        assert_eq!(log.decide("a", 2, s(60), s(5)), Decision::Validate);
        assert_eq!(log.decide("a", 1, s(0), s(5)), Decision::AwaitChange);
        log.forget("a");
        assert_eq!(log.decide("a", 1, s(60), s(5)), Decision::Validate);
    }
}
