//! Which of a schedule's backups its `spec.retention` keeps, with restic `forget` semantics:
//! newest first, `keepLast` keeps the first N; each period rule keeps the newest backup of each
//! of the last N periods (hours, days, ISO weeks, months, years in the schedule's zone) that
//! have one, so a gap of idle days does not use up the count; a backup kept by any rule is kept.
//!
//! Only finished backups with data are candidates (Completed, PartiallyFailed); backups still
//! running and Failed ones are never selected for deletion here (failed ones expire by TTL).
//! Only Completed backups fill a period's slot: a PartiallyFailed run later the same day must
//! not displace the day's Completed one (it may still be kept by `keepLast`).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::own::made_by;
use crate::api::{Backup, BackupPhase, Retention, Schedule};

/// One backup as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// The schedule's tick (or creation time) the backup stands for.
    pub time: Timestamp,
    pub phase: BackupPhase,
}

/// The default `keepLastSuccessful` when retention is set.
pub const DEFAULT_KEEP_LAST_SUCCESSFUL: u32 = 1;

/// The names of the backups to delete, oldest first.
pub fn expired(policy: &Retention, zone: &TimeZone, backups: &[Candidate]) -> Vec<String> {
    let mut list: Vec<&Candidate> = backups
        .iter()
        .filter(|b| {
            matches!(
                b.phase,
                BackupPhase::Completed | BackupPhase::PartiallyFailed
            )
        })
        .collect();
    // Newest first; the name breaks ties so every replica decides the same.
    list.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.name.cmp(&a.name)));
    let keep_successful = policy
        .keep_last_successful
        .unwrap_or(DEFAULT_KEEP_LAST_SUCCESSFUL) as usize;
    type Bucket = fn(&jiff::Zoned) -> (i64, i64, i64, i64);
    let rules: [(Option<u32>, Bucket); 5] = [
        (policy.keep_hourly, |t| {
            (
                t.year().into(),
                t.month().into(),
                t.day().into(),
                t.hour().into(),
            )
        }),
        (policy.keep_daily, |t| {
            (t.year().into(), t.month().into(), t.day().into(), 0)
        }),
        (policy.keep_weekly, |t| {
            let week = t.date().iso_week_date();
            (week.year().into(), week.week().into(), 0, 0)
        }),
        (policy.keep_monthly, |t| {
            (t.year().into(), t.month().into(), 0, 0)
        }),
        (policy.keep_yearly, |t| (t.year().into(), 0, 0, 0)),
    ];
    let mut left: Vec<u32> = rules.iter().map(|(n, _)| n.unwrap_or(0)).collect();
    let mut last: Vec<Option<(i64, i64, i64, i64)>> = vec![None; rules.len()];
    let mut successful = 0usize;
    let mut delete = Vec::new();
    for (nr, backup) in list.iter().enumerate() {
        let mut keep = nr < policy.keep_last.unwrap_or(0) as usize;
        if backup.phase == BackupPhase::Completed && successful < keep_successful {
            successful += 1;
            keep = true;
        }
        let local = backup.time.to_zoned(zone.clone());
        for (i, (_, bucket)) in rules.iter().enumerate() {
            if left[i] == 0 || backup.phase != BackupPhase::Completed {
                continue;
            }
            let value = bucket(&local);
            if last[i] != Some(value) {
                keep = true;
                last[i] = Some(value);
                left[i] -= 1;
            }
        }
        if !keep {
            delete.push(backup.name.clone());
        }
    }
    delete.reverse();
    delete
}

/// The newest `keepLastSuccessful` Completed backups of a schedule with retention: never
/// expired by retention nor by TTL.
pub fn protected(policy: &Retention, backups: &[Candidate]) -> Vec<String> {
    let mut completed: Vec<&Candidate> = backups
        .iter()
        .filter(|b| b.phase == BackupPhase::Completed)
        .collect();
    completed.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.name.cmp(&a.name)));
    completed
        .into_iter()
        .take(
            policy
                .keep_last_successful
                .unwrap_or(DEFAULT_KEEP_LAST_SUCCESSFUL) as usize,
        )
        .map(|b| b.name.clone())
        .collect()
}

/// The time a backup stands for: the cron time in its name when it is the schedule's
/// `<schedule>-<yyyymmddhhmmss>` (which survives backup sync into a new cluster), else when it
/// started, else when its object was created.
pub fn time_of(schedule: &str, backup: &Backup) -> Timestamp {
    let name = backup.metadata.name.as_deref().unwrap_or_default();
    let from_name = name
        .strip_prefix(schedule)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|s| s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", s).ok())
        .and_then(|dt| dt.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp());
    from_name
        .or_else(|| {
            backup
                .status
                .as_ref()
                .and_then(|s| s.start_timestamp.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| backup.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The candidates of `schedule` among `backups`: only those it made in this cluster
/// ([`made_by`]), never another cluster's backups the sync brought in under the same name.
pub fn candidates(schedule: &Schedule, backups: &[Backup]) -> Vec<Candidate> {
    let name = schedule.metadata.name.as_deref().unwrap_or_default();
    backups
        .iter()
        .filter(|b| made_by(schedule, b))
        .map(|b| Candidate {
            name: b.metadata.name.clone().unwrap_or_default(),
            time: time_of(name, b),
            phase: b.phase(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
