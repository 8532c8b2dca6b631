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
mod tests {
    use super::*;
    use crate::api::BackupPhase::{Completed, Failed, InProgress, PartiallyFailed};

    fn backups(list: &[(&str, BackupPhase)]) -> Vec<Candidate> {
        list.iter()
            .map(|(t, phase)| Candidate {
                name: format!("s-{}", t.replace(['-', ':', 'T', 'Z'], "")),
                time: t.parse().unwrap(),
                phase: *phase,
            })
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter()
            .map(|t| format!("s-{}", t.replace(['-', ':', 'T', 'Z'], "")))
            .collect()
    }

    fn policy(f: impl FnOnce(&mut Retention)) -> Retention {
        // keepLastSuccessful 0 unless the case sets it, so each rule is seen alone.
        let mut p = Retention {
            keep_last_successful: Some(0),
            ..Default::default()
        };
        f(&mut p);
        p
    }

    // Over 100 lines: one table of cases, each a row a reader checks against the rule.
    #[test]
    fn selection_table() {
        let six_hourly = backups(&[
            ("2026-12-01T00:00:00Z", Completed),
            ("2026-12-01T06:00:00Z", Completed),
            ("2026-12-01T12:00:00Z", Completed),
            ("2026-12-01T18:00:00Z", Completed),
            ("2026-12-02T00:00:00Z", Completed),
            ("2026-12-02T06:00:00Z", Completed),
            // Idle for days (the schedule was paused).
            ("2026-12-05T06:00:00Z", Completed),
            ("2026-12-05T12:00:00Z", Completed),
        ]);
        let cases: Vec<(&str, Retention, Vec<Candidate>, Vec<&str>)> = vec![
            (
                "keepLast 3 keeps the newest three",
                policy(|p| p.keep_last = Some(3)),
                six_hourly.clone(),
                vec![
                    "2026-12-01T00:00:00Z",
                    "2026-12-01T06:00:00Z",
                    "2026-12-01T12:00:00Z",
                    "2026-12-01T18:00:00Z",
                    "2026-12-02T00:00:00Z",
                ],
            ),
            (
                // The newest of each of the last 3 days that have backups: 5th, 2nd, 1st,
                // even though the 3rd and 4th had none (restic: periods with a snapshot).
                "keepDaily 3 counts days with backups",
                policy(|p| p.keep_daily = Some(3)),
                six_hourly.clone(),
                vec![
                    "2026-12-01T00:00:00Z",
                    "2026-12-01T06:00:00Z",
                    "2026-12-01T12:00:00Z",
                    "2026-12-02T00:00:00Z",
                    "2026-12-05T06:00:00Z",
                ],
            ),
            (
                "keepLast and keepDaily combine (kept by either)",
                policy(|p| {
                    p.keep_last = Some(2);
                    p.keep_daily = Some(2)
                }),
                six_hourly.clone(),
                vec![
                    "2026-12-01T00:00:00Z",
                    "2026-12-01T06:00:00Z",
                    "2026-12-01T12:00:00Z",
                    "2026-12-01T18:00:00Z",
                    "2026-12-02T00:00:00Z",
                ],
            ),
            (
                "keepHourly 100 keeps everything",
                policy(|p| p.keep_hourly = Some(100)),
                six_hourly.clone(),
                vec![],
            ),
            (
                // Weeks are ISO weeks: Mon 30 Nov .. Sun 6 Dec 2026 is one week.
                "keepWeekly 1 keeps the newest of this week",
                policy(|p| p.keep_weekly = Some(1)),
                six_hourly.clone(),
                vec![
                    "2026-12-01T00:00:00Z",
                    "2026-12-01T06:00:00Z",
                    "2026-12-01T12:00:00Z",
                    "2026-12-01T18:00:00Z",
                    "2026-12-02T00:00:00Z",
                    "2026-12-02T06:00:00Z",
                    "2026-12-05T06:00:00Z",
                ],
            ),
            (
                "monthly and yearly",
                policy(|p| {
                    p.keep_monthly = Some(2);
                    p.keep_yearly = Some(2)
                }),
                backups(&[
                    ("2025-11-30T00:00:00Z", Completed),
                    ("2025-12-31T00:00:00Z", Completed),
                    ("2026-10-01T00:00:00Z", Completed),
                    ("2026-11-01T00:00:00Z", Completed),
                    ("2026-11-15T00:00:00Z", Completed),
                    ("2026-12-01T00:00:00Z", Completed),
                ]),
                // monthly: Dec 2026, Nov 15 2026; yearly: 2026 (Dec 1), 2025 (Dec 31).
                vec![
                    "2025-11-30T00:00:00Z",
                    "2026-10-01T00:00:00Z",
                    "2026-11-01T00:00:00Z",
                ],
            ),
            (
                // The newest Completed backup survives a keepLast that would drop it.
                "keepLastSuccessful defaults to 1",
                Retention {
                    keep_last: Some(2),
                    ..Default::default()
                },
                backups(&[
                    ("2026-12-01T00:00:00Z", Completed),
                    ("2026-12-01T01:00:00Z", Completed),
                    ("2026-12-01T02:00:00Z", PartiallyFailed),
                    ("2026-12-01T03:00:00Z", PartiallyFailed),
                ]),
                vec!["2026-12-01T00:00:00Z"],
            ),
            (
                // The day's newest is PartiallyFailed: the day's slot goes to its Completed
                // one, and the PartiallyFailed run is not kept by a period rule.
                "a PartiallyFailed run does not displace the day's Completed one",
                policy(|p| p.keep_daily = Some(2)),
                backups(&[
                    ("2026-12-01T03:00:00Z", Completed),
                    ("2026-12-01T15:00:00Z", PartiallyFailed),
                    ("2026-12-02T03:00:00Z", Completed),
                    ("2026-12-02T15:00:00Z", PartiallyFailed),
                ]),
                vec!["2026-12-01T15:00:00Z", "2026-12-02T15:00:00Z"],
            ),
            (
                "keepLast still counts a PartiallyFailed run",
                policy(|p| {
                    p.keep_last = Some(1);
                    p.keep_daily = Some(1)
                }),
                backups(&[
                    ("2026-12-02T03:00:00Z", Completed),
                    ("2026-12-02T15:00:00Z", PartiallyFailed),
                ]),
                vec![],
            ),
            (
                "running and failed backups are never selected",
                policy(|p| p.keep_last = Some(1)),
                backups(&[
                    ("2026-12-01T00:00:00Z", Failed),
                    ("2026-12-01T01:00:00Z", Completed),
                    ("2026-12-01T02:00:00Z", Completed),
                    ("2026-12-01T03:00:00Z", InProgress),
                ]),
                vec!["2026-12-01T01:00:00Z"],
            ),
            (
                "an empty policy with keepLastSuccessful 0 deletes every finished backup",
                policy(|_| {}),
                backups(&[
                    ("2026-12-01T00:00:00Z", Completed),
                    ("2026-12-01T01:00:00Z", PartiallyFailed),
                ]),
                vec!["2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z"],
            ),
        ];
        for (what, policy, list, want) in cases {
            assert_eq!(
                expired(&policy, &TimeZone::UTC, &list),
                names(&want),
                "{what}"
            );
        }
    }

    /// Days are the schedule's zone's days: 23:30 UTC on 1 Dec is 2 Dec in Berlin, so two
    /// days' newest backups are both kept there.
    #[test]
    fn periods_are_read_in_the_schedules_zone() {
        let list = backups(&[
            ("2026-12-01T22:00:00Z", Completed),
            ("2026-12-01T23:30:00Z", Completed),
        ]);
        let p = policy(|p| p.keep_daily = Some(2));
        assert_eq!(
            expired(&p, &TimeZone::UTC, &list),
            names(&["2026-12-01T22:00:00Z"])
        );
        let berlin = jiff::tz::TimeZoneDatabase::bundled()
            .get("Europe/Berlin")
            .unwrap();
        assert_eq!(expired(&p, &berlin, &list), Vec::<String>::new());
    }

    /// A backup's time is the tick in its name (a backup recreated by the sync keeps its
    /// place); only the backups this schedule made here are candidates: not another
    /// schedule's, not one by hand, not another cluster's same-named schedule's.
    #[test]
    fn candidates_are_this_schedules_by_their_tick() {
        let ours =
            serde_json::json!({"velero.io/schedule-name": "s", "veloxide.io/schedule-uid": "u-s"});
        let list: Vec<Backup> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "s-20261201030000", "creationTimestamp": "2026-12-09T00:00:00Z",
                          "labels": ours},
             "spec": {}, "status": {"phase": "Completed"}},
            {"metadata": {"name": "s-other-20261201030000", "creationTimestamp": "2026-12-09T00:00:00Z",
                          "labels": {"velero.io/schedule-name": "s-other"}}, "spec": {}},
            {"metadata": {"name": "manual", "creationTimestamp": "2026-12-09T00:00:00Z"}, "spec": {}},
            {"metadata": {"name": "s-by-hand", "creationTimestamp": "2026-12-09T00:00:00Z",
                          "labels": ours},
             "spec": {}, "status": {"startTimestamp": "2026-12-05T00:00:00Z"}},
            {"metadata": {"name": "s-20261130030000", "creationTimestamp": "2026-12-09T00:00:00Z",
                          "labels": {"velero.io/schedule-name": "s", "veloxide.io/schedule-uid": "u-elsewhere"},
                          "annotations": {"veloxide.io/synced-from": "default"}},
             "spec": {}, "status": {"phase": "Completed"}},
        ]))
        .unwrap();
        let schedule: Schedule = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "uid": "u-s"}, "spec": {"schedule": "@daily", "template": {}},
        }))
        .unwrap();
        let got = candidates(&schedule, &list);
        assert_eq!(
            got.iter()
                .map(|c| (c.name.as_str(), c.time.to_string()))
                .collect::<Vec<_>>(),
            [
                ("s-20261201030000", "2026-12-01T03:00:00Z".to_owned()),
                ("s-by-hand", "2026-12-05T00:00:00Z".to_owned()),
            ]
        );
    }

    #[test]
    fn protected_is_the_newest_completed() {
        let list = backups(&[
            ("2026-12-01T00:00:00Z", Completed),
            ("2026-12-01T01:00:00Z", Completed),
            ("2026-12-01T02:00:00Z", Failed),
        ]);
        assert_eq!(
            protected(&Retention::default(), &list),
            names(&["2026-12-01T01:00:00Z"])
        );
        let two = Retention {
            keep_last_successful: Some(2),
            ..Default::default()
        };
        assert_eq!(
            protected(&two, &list),
            names(&["2026-12-01T01:00:00Z", "2026-12-01T00:00:00Z"])
        );
    }
}
