//! Progress of a running backup or restore, from its status: one updating line on a terminal,
//! plain lines every few seconds otherwise (so CI logs stay readable).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;

use crate::api::{Backup, Restore};

/// How often a plain line is printed when stdout is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// What a status says about a run, at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub phase: &'static str,
    pub done: u64,
    pub expected: u64,
    /// Archive bytes uploaded (backups only).
    pub bytes: Option<u64>,
    /// Since `status.startTimestamp`; zero before the run started.
    pub elapsed: Duration,
}

fn elapsed(start: Option<Timestamp>, end: Option<Timestamp>, now: Timestamp) -> Duration {
    let Some(start) = start else {
        return Duration::ZERO;
    };
    let end = end.unwrap_or(now);
    Duration::try_from(end.duration_since(start)).unwrap_or(Duration::ZERO)
}

fn count(n: Option<i64>) -> u64 {
    n.unwrap_or(0).max(0) as u64
}

impl Snapshot {
    pub fn of_backup(backup: &Backup, now: Timestamp) -> Snapshot {
        let status = backup.status.clone().unwrap_or_default();
        let progress = status.progress.unwrap_or_default();
        Snapshot {
            phase: backup.phase().as_str(),
            done: count(progress.items_backed_up),
            expected: count(progress.total_items),
            bytes: Some(count(progress.bytes_uploaded)),
            elapsed: elapsed(
                status.start_timestamp.map(|t| t.0),
                status.completion_timestamp.map(|t| t.0),
                now,
            ),
        }
    }

    pub fn of_restore(restore: &Restore, now: Timestamp) -> Snapshot {
        let status = restore.status.clone().unwrap_or_default();
        let progress = status.progress.unwrap_or_default();
        Snapshot {
            phase: restore.phase().as_str(),
            done: count(progress.items_restored),
            expected: count(progress.total_items),
            bytes: None,
            elapsed: elapsed(
                status.start_timestamp.map(|t| t.0),
                status.completion_timestamp.map(|t| t.0),
                now,
            ),
        }
    }

    /// Items per second over the run so far (the status has whole-second start times, so the
    /// first second counts as one).
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1.0)
    }

    /// `InProgress: 120 of 300 items, 40.0 items/s, 3.20 MiB uploaded, 3s elapsed`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{}: {} of {} items, {:.1} items/s",
            self.phase,
            self.done,
            self.expected,
            self.rate()
        );
        if let Some(bytes) = self.bytes {
            line.push_str(&format!(", {} uploaded", HumanBytes(bytes)));
        }
        line.push_str(&format!(", {} elapsed", short_elapsed(self.elapsed)));
        line
    }
}

/// `7s`, `2m05s`, `1h02m05s`.
fn short_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// Shows snapshots as they come: an updating line on a terminal, else plain lines.
pub struct Display {
    bar: Option<ProgressBar>,
    last_plain: Option<Instant>,
}

impl Display {
    /// Chooses by whether stdout is a terminal.
    pub fn new() -> Display {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Display {
            bar,
            last_plain: None,
        }
    }

    pub fn update(&mut self, snapshot: &Snapshot) {
        match &self.bar {
            Some(bar) => bar.set_message(snapshot.line()),
            None => {
                if self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
                    println!("{}", snapshot.line());
                    self.last_plain = Some(Instant::now());
                }
            }
        }
    }

    /// The last state, left on screen (or printed) whatever the timing.
    pub fn finish(self, snapshot: &Snapshot) {
        match self.bar {
            Some(bar) => {
                bar.finish_with_message(snapshot.line());
                // indicatif leaves the cursor at the end of the finished line.
                println!();
            }
            None => println!("{}", snapshot.line()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_running_backup_reads_as_one_line() {
        let backup: Backup = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b"}, "spec": {},
            "status": {"phase": "InProgress", "startTimestamp": "2026-01-01T00:00:00Z",
                       "progress": {"totalItems": 300, "itemsBackedUp": 120,
                                    "bytesUploaded": 3_355_443}},
        }))
        .unwrap();
        let now: Timestamp = "2026-01-01T00:00:03Z".parse().unwrap();
        let s = Snapshot::of_backup(&backup, now);
        assert_eq!(
            s.line(),
            "InProgress: 120 of 300 items, 40.0 items/s, 3.20 MiB uploaded, 3s elapsed"
        );
    }

    #[test]
    fn a_finished_restore_stops_the_clock() {
        let restore: Restore = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": "r"}, "spec": {"backupName": "b"},
            "status": {"phase": "Completed", "startTimestamp": "2026-01-01T00:00:00Z",
                       "completionTimestamp": "2026-01-01T00:02:05Z",
                       "progress": {"totalItems": 250, "itemsRestored": 250}},
        }))
        .unwrap();
        let now: Timestamp = "2026-01-01T05:00:00Z".parse().unwrap();
        assert_eq!(
            Snapshot::of_restore(&restore, now).line(),
            "Completed: 250 of 250 items, 2.0 items/s, 2m05s elapsed"
        );
    }

    #[test]
    fn not_started_yet_is_zero() {
        let backup: Backup = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "b"}, "spec": {},
        }))
        .unwrap();
        let s = Snapshot::of_backup(&backup, Timestamp::now());
        assert_eq!(s.elapsed, Duration::ZERO);
        assert_eq!(
            s.line(),
            "New: 0 of 0 items, 0.0 items/s, 0 B uploaded, 0s elapsed"
        );
    }
}
