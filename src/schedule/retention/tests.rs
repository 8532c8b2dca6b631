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
