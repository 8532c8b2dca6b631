//! Where a backup's time goes, summed per phase from `Instant` reads around the awaits that
//! hold the backup up: cheap enough to run on every backup, so a slow one says why in its log
//! and status without a profiler.

use std::time::{Duration, Instant};

use crate::api::BackupPhaseMillis;

/// Time per phase. Listing, encoding and upload are measured from the one task that lists and
/// writes the archive (the upload runs beside it): listing is what it waited for the API
/// server, upload what it waited for the store, encoding the rest of its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    pub discovery: Duration,
    pub volumes: Duration,
    pub listing: Duration,
    pub encoding: Duration,
    pub upload: Duration,
    pub side_files: Duration,
    pub status_writes: Duration,
}

impl Timings {
    /// One log line: `discovery 0.012s, volumes 0.000s, ...`.
    pub fn line(&self) -> String {
        self.millis()
            .phases()
            .iter()
            .map(|(name, ms)| format!("{name} {:.3}s", *ms as f64 / 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// As the status records them.
    pub fn millis(&self) -> BackupPhaseMillis {
        let ms = |d: Duration| d.as_millis().min(i64::MAX as u128) as i64;
        BackupPhaseMillis {
            discovery: ms(self.discovery),
            volumes: ms(self.volumes),
            listing: ms(self.listing),
            encoding: ms(self.encoding),
            upload: ms(self.upload),
            side_files: ms(self.side_files),
            status_writes: ms(self.status_writes),
        }
    }

    /// The producer's phases from its wall time and what it waited for: encoding is the
    /// rest (never negative, as the clocks are read at different points).
    pub fn split_producer(&mut self, elapsed: Duration, listing: Duration, sending: Duration) {
        self.listing += listing;
        self.upload += sending;
        self.encoding += elapsed.saturating_sub(listing + sending);
    }
}

/// Adds the time `work` takes to `slot`.
pub async fn timed<T>(slot: &mut Duration, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    *slot += started.elapsed();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_producer_split_leaves_encoding_as_the_rest_and_never_negative() {
        let s = Duration::from_secs;
        let cases = [
            // elapsed, listing, sending -> encoding
            (s(10), s(6), s(1), s(3)),
            (s(10), s(0), s(0), s(10)),
            (s(5), s(4), s(2), s(0)),
        ];
        for (elapsed, listing, sending, encoding) in cases {
            let mut t = Timings::default();
            t.split_producer(elapsed, listing, sending);
            assert_eq!(
                (t.listing, t.upload, t.encoding),
                (listing, sending, encoding)
            );
        }
    }

    #[test]
    fn the_line_and_the_status_name_every_phase() {
        let t = Timings {
            discovery: Duration::from_millis(12),
            listing: Duration::from_millis(1500),
            ..Default::default()
        };
        assert_eq!(
            t.line(),
            "discovery 0.012s, volumes 0.000s, listing 1.500s, encoding+compression 0.000s, \
             upload 0.000s, side files 0.000s, status writes 0.000s"
        );
        let m = t.millis();
        assert_eq!((m.discovery, m.listing, m.upload), (12, 1500, 0));
    }
}
