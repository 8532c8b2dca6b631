//! When a schedule fires and what it creates: plain functions over the Schedule and the clock.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::cron::Cron;
use super::own::SCHEDULE_UID_LABEL;
use crate::api::backup::SCHEDULE_LABEL;
use crate::api::{Backup, Schedule};

/// What the schedule should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing until `next`.
    Wait { next: Timestamp },
    /// Make the backup of cron time `tick` (the latest one not after now: missed runs make one
    /// backup, not many); the run after it is `next`.
    Run { tick: Timestamp, next: Timestamp },
    /// The cron names no time within five years.
    Never,
}

/// Look-ups allowed when walking missed times forward (a minute schedule missed for a year is
/// 525,600); past it the walk stops at the time reached, which is still in the past and the
/// same on every replica.
const MAX_STEPS: u32 = 2_000_000;

/// Velero's rule: the base is `lastBackup`, else the creation time, replaced by `lastSkipped`
/// when that is later; the schedule is due once now is past the first cron time after it.
pub fn base(
    created: Timestamp,
    last_backup: Option<Timestamp>,
    last_skipped: Option<Timestamp>,
) -> Timestamp {
    let base = last_backup.unwrap_or(created);
    match last_skipped {
        Some(skipped) if skipped > base => skipped,
        _ => base,
    }
}

/// Decide at `now` from `base`. The tick is a cron time, never the clock, so every replica that
/// decides on the same base names the same Backup, and the name fences the run.
pub fn decide(cron: &Cron, base: Timestamp, now: Timestamp) -> Due {
    let Some(first) = cron.next(base) else {
        return Due::Never;
    };
    if first > now {
        return Due::Wait { next: first };
    }
    let mut tick = first;
    if let Some(every) = cron.every() {
        let step = every.as_secs() as i64;
        let behind = (now.as_second() - first.as_second()) / step;
        tick = Timestamp::from_second(first.as_second() + behind * step).unwrap_or(first);
    } else {
        for _ in 0..MAX_STEPS {
            match cron.next(tick) {
                Some(t) if t <= now => tick = t,
                _ => break,
            }
        }
    }
    match cron.next(tick) {
        Some(next) => Due::Run { tick, next },
        None => Due::Run { tick, next: tick },
    }
}

/// Velero's name for a scheduled backup: `<schedule>-<UTC yyyymmddhhmmss>`.
pub fn backup_name(schedule: &str, tick: Timestamp) -> String {
    format!("{schedule}-{}", tick.strftime("%Y%m%d%H%M%S"))
}

/// Annotations describing the Schedule object itself, not copied to its backups.
const NOT_COPIED: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// The Backup a schedule makes at `tick`, as Velero's `FromSchedule`: the template's spec,
/// the template's labels (else the schedule's) plus `velero.io/schedule-name` (and veloxide's
/// `veloxide.io/schedule-uid`), the schedule's annotations, and an owner reference when
/// `useOwnerReferencesInBackup`.
pub fn backup_for(schedule: &Schedule, tick: Timestamp) -> Backup {
    let name = schedule.metadata.name.clone().unwrap_or_default();
    let template_labels = schedule
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone());
    let mut labels = template_labels
        .or_else(|| schedule.metadata.labels.clone())
        .unwrap_or_default();
    labels.insert(SCHEDULE_LABEL.to_owned(), name.clone());
    // Which Schedule made it, so retention never counts another cluster's same-named
    // schedule's backups as this one's (`schedule::own`).
    if let Some(uid) = schedule.metadata.uid.as_ref().filter(|u| !u.is_empty()) {
        labels.insert(SCHEDULE_UID_LABEL.to_owned(), uid.clone());
    }
    let annotations: BTreeMap<String, String> = schedule
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let owner = (schedule.spec.use_owner_references_in_backup == Some(true)).then(|| {
        vec![OwnerReference {
            api_version: "velero.io/v1".into(),
            kind: "Schedule".into(),
            name: name.clone(),
            uid: schedule.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }]
    });
    let mut spec = schedule.spec.template.clone();
    spec.metadata = None;
    Backup {
        metadata: ObjectMeta {
            name: Some(backup_name(&name, tick)),
            namespace: schedule.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: owner,
            ..Default::default()
        },
        spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_base_is_last_backup_else_creation_and_a_later_skip_wins() {
        let (c, b, s) = (
            ts("2026-12-01T00:00:00Z"),
            ts("2026-12-02T00:00:00Z"),
            ts("2026-12-03T00:00:00Z"),
        );
        for (last_backup, last_skipped, want) in [
            (None, None, c),
            (Some(b), None, b),
            (None, Some(s), s),
            (Some(b), Some(s), s),
            (Some(s), Some(b), s),
            (None, Some(ts("2026-11-01T00:00:00Z")), c),
        ] {
            assert_eq!(base(c, last_backup, last_skipped), want);
        }
    }

    /// (cron, base, now, decision)
    #[test]
    fn due_rule() {
        let hourly = "0 * * * *";
        let wait = |n: &str| Due::Wait { next: ts(n) };
        let run = |t: &str, n: &str| Due::Run {
            tick: ts(t),
            next: ts(n),
        };
        let cases = [
            // A new schedule does not fire at once: created 10:20, first run 11:00.
            (
                hourly,
                "2026-12-01T10:20:00Z",
                "2026-12-01T10:20:01Z",
                wait("2026-12-01T11:00:00Z"),
            ),
            (
                hourly,
                "2026-12-01T10:20:00Z",
                "2026-12-01T10:59:59Z",
                wait("2026-12-01T11:00:00Z"),
            ),
            // Due at the cron time itself.
            (
                hourly,
                "2026-12-01T10:20:00Z",
                "2026-12-01T11:00:00Z",
                run("2026-12-01T11:00:00Z", "2026-12-01T12:00:00Z"),
            ),
            // After lastBackup = 11:00, the next is 12:00.
            (
                hourly,
                "2026-12-01T11:00:00Z",
                "2026-12-01T11:30:00Z",
                wait("2026-12-01T12:00:00Z"),
            ),
            // No catch-up: three missed runs make one, for the latest.
            (
                hourly,
                "2026-12-01T11:00:00Z",
                "2026-12-01T15:10:00Z",
                run("2026-12-01T15:00:00Z", "2026-12-01T16:00:00Z"),
            ),
            // @every counts from the base.
            (
                "@every 10s",
                "2026-12-01T10:00:03Z",
                "2026-12-01T10:00:12Z",
                wait("2026-12-01T10:00:13Z"),
            ),
            (
                "@every 10s",
                "2026-12-01T10:00:03Z",
                "2026-12-01T10:00:13Z",
                run("2026-12-01T10:00:13Z", "2026-12-01T10:00:23Z"),
            ),
            (
                "@every 10s",
                "2026-12-01T10:00:03Z",
                "2026-12-01T10:01:00Z",
                run("2026-12-01T10:00:53Z", "2026-12-01T10:01:03Z"),
            ),
            (
                "@every 10s",
                "2026-12-01T10:00:03Z",
                "2026-12-01T10:01:03Z",
                run("2026-12-01T10:01:03Z", "2026-12-01T10:01:13Z"),
            ),
        ];
        for (expr, b, now, want) in cases {
            let cron = Cron::parse(expr).unwrap();
            assert_eq!(
                decide(&cron, ts(b), ts(now)),
                want,
                "{expr} base {b} now {now}"
            );
        }
    }

    /// skipImmediately sets lastSkipped = now: the run due now is skipped, the next one is not.
    #[test]
    fn a_skip_moves_the_base_past_the_due_run() {
        let cron = Cron::parse("0 * * * *").unwrap();
        let created = ts("2026-12-01T08:00:00Z");
        let last = ts("2026-12-01T09:00:00Z");
        let now = ts("2026-12-01T12:30:00Z");
        assert!(matches!(
            decide(&cron, base(created, Some(last), None), now),
            Due::Run { .. }
        ));
        let skipped = base(created, Some(last), Some(now));
        assert_eq!(
            decide(&cron, skipped, now),
            Due::Wait {
                next: ts("2026-12-01T13:00:00Z")
            }
        );
    }

    #[test]
    fn names_are_the_utc_tick() {
        let tick = ts("2026-03-29T01:00:00Z");
        assert_eq!(backup_name("nightly", tick), "nightly-20260329010000");
        // A zoned schedule is still named in UTC.
        let cron = Cron::parse("CRON_TZ=Europe/Berlin 0 3 * * *").unwrap();
        let tick = cron.next(ts("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(backup_name("b", tick), "b-20261201020000");
    }

    fn schedule(value: serde_json::Value) -> Schedule {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn backups_carry_labels_annotations_and_owner_as_velero() {
        let tick = ts("2026-12-01T03:00:00Z");
        let base = json!({
            "apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": "nightly", "namespace": "velero", "uid": "u-1",
                         "labels": {"team": "ops"},
                         "annotations": {"note": "x",
                             "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"schedule": "@daily", "template": {"includedNamespaces": ["app"], "ttl": "24h0m0s"}},
        });
        // No template labels: the schedule's, plus the schedule-name label.
        let b = serde_json::to_value(backup_for(&schedule(base.clone()), tick)).unwrap();
        assert_eq!(b["metadata"]["name"], "nightly-20261201030000");
        assert_eq!(b["metadata"]["namespace"], "velero");
        assert_eq!(
            b["metadata"]["labels"],
            json!({"team": "ops", "velero.io/schedule-name": "nightly",
                   "veloxide.io/schedule-uid": "u-1"})
        );
        assert_eq!(b["metadata"]["annotations"], json!({"note": "x"}));
        assert!(b["metadata"].get("ownerReferences").is_none());
        assert_eq!(
            b["spec"],
            json!({"includedNamespaces": ["app"], "ttl": "24h0m0s"})
        );

        // Template labels replace the schedule's; owner reference when asked.
        let mut with = base;
        with["spec"]["template"]["metadata"] = json!({"labels": {"tier": "gold"}});
        with["spec"]["useOwnerReferencesInBackup"] = json!(true);
        let b = serde_json::to_value(backup_for(&schedule(with), tick)).unwrap();
        assert_eq!(
            b["metadata"]["labels"],
            json!({"tier": "gold", "velero.io/schedule-name": "nightly",
                   "veloxide.io/schedule-uid": "u-1"})
        );
        assert_eq!(
            b["metadata"]["ownerReferences"],
            json!([{"apiVersion": "velero.io/v1", "kind": "Schedule", "name": "nightly",
                    "uid": "u-1", "controller": true}])
        );
        assert!(b["spec"].get("metadata").is_none());
    }
}
