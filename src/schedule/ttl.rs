//! A Schedule whose backups expire (by TTL) before its retention would let them go: the
//! period rules then keep nothing past the TTL (only `keepLastSuccessful` holds against it),
//! so `keepDaily: 30` with a 7-day TTL keeps 7 days. Warned about at admission, not refused:
//! Velero users set TTLs on purpose, and the schedule still works.

use std::time::Duration;

use crate::api::{Retention, ScheduleSpec};

/// The TTL a backup gets when its spec sets none (or `0s`), as Velero's `--default-backup-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(720 * 3600);

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// The longest a period rule of `policy` can keep a backup, with the field that does it:
/// N hours, days, weeks; N months at 31 days; N years at 366 days (the longest each can be).
/// `keepLast` is left out: how long it reaches depends on the cron, and is not a period.
pub fn longest_period(policy: &Retention) -> Option<(&'static str, Duration)> {
    [
        ("keepHourly", policy.keep_hourly, HOUR),
        ("keepDaily", policy.keep_daily, DAY),
        ("keepWeekly", policy.keep_weekly, 7 * DAY),
        ("keepMonthly", policy.keep_monthly, 31 * DAY),
        ("keepYearly", policy.keep_yearly, 366 * DAY),
    ]
    .into_iter()
    .filter_map(|(field, n, unit)| {
        let n = u64::from(n?);
        (n > 0).then(|| (field, Duration::from_secs(n.saturating_mul(unit))))
    })
    .max_by_key(|(_, d)| *d)
}

/// The admission warning for a TTL shorter than the longest period retention keeps, naming
/// both fields and the fix; `None` when there is no retention, no period rule, or the TTL
/// reaches (an unparsable TTL is refused by `validate`, not warned about here).
pub fn shorter_than_retention(spec: &ScheduleSpec) -> Option<String> {
    let (field, keeps) = longest_period(spec.retention.as_ref()?)?;
    let (ttl, said) = match &spec.template.ttl {
        Some(ttl) => match ttl.parse().ok()? {
            d if d.is_zero() => (DEFAULT_TTL, format!("{ttl} (the default, 720h)")),
            d => (d, ttl.to_string()),
        },
        None => (DEFAULT_TTL, "unset (the default, 720h)".to_owned()),
    };
    (ttl < keeps).then(|| {
        format!(
            "spec.template.ttl: {said} is shorter than the {}h spec.retention.{field} can keep a \
             backup; backups expire by their TTL first, so retention keeps at most {}h of them \
             (only keepLastSuccessful holds against the TTL); set spec.template.ttl to at \
             least {}h0m0s, or keep fewer periods",
            keeps.as_secs() / HOUR,
            ttl.as_secs() / HOUR,
            keeps.as_secs() / HOUR
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (retention, ttl, a warning containing)
    #[test]
    fn table() {
        let cases = [
            (json!(null), json!("1h"), None),
            (json!({"keepLast": 100}), json!("1h"), None),
            (json!({"keepDaily": 7}), json!("168h0m0s"), None),
            (
                json!({"keepDaily": 7}),
                json!("24h"),
                Some("spec.template.ttl: 24h is shorter than the 168h spec.retention.keepDaily"),
            ),
            (
                json!({"keepHourly": 48, "keepWeekly": 2}),
                json!("72h"),
                Some(
                    "the 336h spec.retention.keepWeekly can keep a backup; backups expire by their TTL first, so retention keeps at most 72h",
                ),
            ),
            (
                json!({"keepMonthly": 2}),
                json!(null),
                Some(
                    "spec.template.ttl: unset (the default, 720h) is shorter than the 1488h spec.retention.keepMonthly",
                ),
            ),
            (
                json!({"keepYearly": 1}),
                json!("0s"),
                Some("set spec.template.ttl to at least 8784h0m0s"),
            ),
            (json!({"keepDaily": 30}), json!(null), None),
            (json!({"keepDaily": 0, "keepHourly": 0}), json!("1h"), None),
            // Not a duration: validate refuses it; no warning on top.
            (json!({"keepDaily": 7}), json!("a week"), None),
        ];
        for (retention, ttl, want) in cases {
            let spec: ScheduleSpec = serde_json::from_value(json!({
                "schedule": "@daily", "retention": retention, "template": {"ttl": ttl},
            }))
            .unwrap();
            let got = shorter_than_retention(&spec);
            match (&got, want) {
                (None, None) => {}
                (Some(text), Some(want)) => assert!(text.contains(want), "{text:?} lacks {want:?}"),
                _ => panic!("{retention} {ttl}: got {got:?}, want {want:?}"),
            }
        }
    }
}
