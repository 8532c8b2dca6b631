use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// (expression, after, the next time), times as RFC 3339 instants.
// Over 100 lines: one table of cases, each a row a reader checks against robfig's times.
#[test]
fn next_times() {
    let cases = [
        ("0 3 * * *", "2026-12-01T02:59:59Z", "2026-12-01T03:00:00Z"),
        ("0 3 * * *", "2026-12-01T03:00:00Z", "2026-12-02T03:00:00Z"),
        (
            "*/15 * * * *",
            "2026-12-01T10:07:30Z",
            "2026-12-01T10:15:00Z",
        ),
        (
            "5,35 9-17 * * MON-FRI",
            "2026-12-04T17:40:00Z",
            "2026-12-07T09:05:00Z",
        ),
        (
            "0 0 1 jan *",
            "2026-06-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        ),
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        // Day of month and day of week both restricted: either matches (robfig, Vixie).
        ("0 0 13 * 5", "2026-12-01T00:00:00Z", "2026-12-04T00:00:00Z"),
        // `*/2` is not a star: still either.
        (
            "0 0 */10 * 1",
            "2026-12-01T12:00:00Z",
            "2026-12-07T00:00:00Z",
        ),
        // `?` is a star: both.
        ("0 0 ? * 0", "2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z"),
        (
            "10/20 * * * *",
            "2026-12-01T00:31:00Z",
            "2026-12-01T00:50:00Z",
        ),
        ("@hourly", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"),
        ("@daily", "2026-12-01T10:00:00Z", "2026-12-02T00:00:00Z"),
        ("@midnight", "2026-12-01T10:00:00Z", "2026-12-02T00:00:00Z"),
        ("@weekly", "2026-12-01T10:00:00Z", "2026-12-06T00:00:00Z"),
        ("@monthly", "2026-12-01T10:00:00Z", "2027-01-01T00:00:00Z"),
        ("@yearly", "2026-12-01T10:00:00Z", "2027-01-01T00:00:00Z"),
        ("@annually", "2026-12-01T10:00:00Z", "2027-01-01T00:00:00Z"),
        // @every: from the base, sub-seconds dropped, zone irrelevant.
        (
            "@every 10s",
            "2026-12-01T10:00:00.700Z",
            "2026-12-01T10:00:10Z",
        ),
        (
            "@every 1h30m",
            "2026-12-01T10:00:00Z",
            "2026-12-01T11:30:00Z",
        ),
        (
            "CRON_TZ=Asia/Tokyo @every 5m",
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:05:00Z",
        ),
        // Zones: 03:00 in Berlin is 02:00 UTC in winter, 01:00 UTC in summer.
        (
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "2026-12-01T00:00:00Z",
            "2026-12-01T02:00:00Z",
        ),
        (
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "2026-07-01T00:00:00Z",
            "2026-07-01T01:00:00Z",
        ),
        (
            "TZ=America/New_York 0 3 * * *",
            "2026-12-01T00:00:00Z",
            "2026-12-01T08:00:00Z",
        ),
        // Berlin springs forward on 2026-03-29 at 02:00 CET to 03:00 CEST.
        (
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "2026-03-28T02:00:00Z",
            "2026-03-29T01:00:00Z",
        ),
        (
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "2026-03-29T01:00:00Z",
            "2026-03-30T01:00:00Z",
        ),
        // 02:30 does not exist that day: skipped, as robfig does.
        (
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            "2026-03-28T01:30:00Z",
            "2026-03-30T00:30:00Z",
        ),
        // Hourly across the gap: 01:00 CET then 03:00 CEST, one real hour apart.
        (
            "CRON_TZ=Europe/Berlin 0 * * * *",
            "2026-03-29T00:00:00Z",
            "2026-03-29T01:00:00Z",
        ),
        // Berlin falls back on 2026-10-25 at 03:00 CEST to 02:00 CET: 02:30 happens twice
        // and runs twice, as robfig does.
        (
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            "2026-10-24T23:00:00Z",
            "2026-10-25T00:30:00Z",
        ),
        (
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
        ),
        (
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:30:00Z",
        ),
        // A daily 03:00 is once a day across the change.
        (
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "2026-10-24T02:00:00Z",
            "2026-10-25T02:00:00Z",
        ),
    ];
    for (expr, after, want) in cases {
        let cron = Cron::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(cron.next(ts(after)), Some(ts(want)), "{expr} after {after}");
    }
}

#[test]
fn refused_expressions_say_what_to_fix() {
    let cases = [
        ("", "empty"),
        ("   ", "empty"),
        ("0 3 * *", "expected exactly 5 fields"),
        ("0 0 3 * * *", "expected exactly 5 fields"),
        (
            "60 * * * *",
            "minute field \"60\": 60 is above the maximum 59",
        ),
        ("* 24 * * *", "hour field"),
        ("* * 0 * *", "0 is below the minimum 1"),
        ("* * * 13 *", "month field"),
        ("* * * * 7", "day-of-week field"),
        (
            "* * * * FOO",
            "not a number from 0 to 6 or a name such as \"SUN\"",
        ),
        ("*/0 * * * *", "not 0"),
        (
            "*/60 * * * *",
            "minute field \"*/60\": step 60 is past the field's range (0-59): it would match one value only; use a step up to 59",
        ),
        ("0 */24 * * *", "step 24 is past the field's range (0-23)"),
        ("0 0 1/31 * *", "step 31 is past the field's range (1-31)"),
        ("0 0 * */12 *", "step 12 is past the field's range (1-12)"),
        ("59/4294967295 * * * *", "step 4294967295 is past"),
        ("5-1 * * * *", "starts (5) after it ends (1)"),
        ("1-2-3 * * * *", "too many hyphens"),
        ("*/2/3 * * * *", "too many slashes"),
        ("@fortnightly", "unknown descriptor"),
        ("@every", "@every \"\""),
        ("@every 10", "not a duration"),
        ("@every 500ms", "at least 1s"),
        (
            "CRON_TZ=Europe/Berln 0 3 * * *",
            "unknown time zone \"Europe/Berln\"",
        ),
        ("CRON_TZ=Local 0 3 * * *", "unknown time zone"),
        ("CRON_TZ=Europe/Berlin", "no expression after the time zone"),
        ("0 0 30 2 *", "never matches"),
    ];
    for (expr, want) in cases {
        let err = Cron::parse(expr).expect_err(expr).to_string();
        assert!(err.contains(want), "{expr:?}: {err:?} lacks {want:?}");
    }
}

/// The zones are compiled in: they resolve even with no zoneinfo on the machine.
#[test]
fn zones_come_from_the_binary() {
    let db = TimeZoneDatabase::bundled();
    assert!(db.get("Europe/Berlin").is_ok());
    assert!(db.get("America/New_York").is_ok());
    assert!(Cron::parse("CRON_TZ=Pacific/Chatham 45 12 * * *").is_ok());
}
