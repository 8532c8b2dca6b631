//! Status for a location from a check report: Velero's `phase` and `message`, plus standard
//! conditions. Plain functions over plain data, so every outcome is unit-tested here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{BackupStorageLocationStatus, LocationPhase};
use crate::storage::{CheckReport, Outcome};

/// The aspects a check reports on, each a condition, in the order the check runs them.
pub const ASPECTS: [&str; 4] = [
    "TLSVerified",
    "Authenticated",
    "BucketAccessible",
    "EncryptionVerified",
];

/// Set when `insecureSkipTLSVerify` is on, so it shows next to `Ready` in `kubectl describe`.
pub const INSECURE: &str = "InsecureSkipTLSVerify";

/// What happened when the location was last looked at.
pub enum Verdict<'a> {
    /// The spec breaks an admission rule (the webhook was bypassed or the rules changed).
    Invalid(&'a str),
    /// The check ran.
    Checked(&'a CheckReport),
}

/// Build the next status from the previous one. `lastTransitionTime` only moves when a
/// condition's status flips, so watchers and `kubectl wait` see real transitions only.
pub fn next_status(
    previous: Option<&BackupStorageLocationStatus>,
    verdict: Verdict<'_>,
    insecure: bool,
    generation: Option<i64>,
    now: Time,
) -> BackupStorageLocationStatus {
    let stamp = Stamp {
        generation,
        now: &now,
    };
    let (mut fresh, available, message) = match verdict {
        Verdict::Invalid(message) => (
            vec![stamp.condition("Ready", "False", "InvalidSpec", message.to_owned())],
            false,
            format!("InvalidSpec: {message}"),
        ),
        Verdict::Checked(report) => checked(report, &stamp),
    };
    if insecure {
        fresh.push(
            stamp.condition(
                INSECURE,
                "True",
                "InsecureSkipTLSVerify",
                "the store's TLS certificate is not verified (spec.config.insecureSkipTLSVerify); \
             trust its CA with caCertRef instead"
                    .to_owned(),
            ),
        );
    }
    keep_transition_times(&mut fresh, previous);
    // Ready first, so `kubectl describe` leads with the verdict.
    fresh.sort_by_key(|c| c.type_ != "Ready");
    BackupStorageLocationStatus {
        phase: Some(if available {
            LocationPhase::Available
        } else {
            LocationPhase::Unavailable
        }),
        last_validation_time: Some(now.clone()),
        last_synced_time: previous.and_then(|p| p.last_synced_time.clone()),
        message: (!message.is_empty()).then_some(message),
        last_synced_revision: None,
        access_mode: None,
        conditions: fresh,
    }
}

/// The generation and time every condition of one status carries.
struct Stamp<'a> {
    generation: Option<i64>,
    now: &'a Time,
}

impl Stamp<'_> {
    fn condition(&self, kind: &str, status: &str, reason: &str, message: String) -> Condition {
        Condition {
            type_: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: self.generation,
            last_transition_time: self.now.clone(),
        }
    }
}

/// The conditions a check report gives (one per aspect, then `Ready`), whether the location
/// is available, and the status message.
fn checked(report: &CheckReport, stamp: &Stamp<'_>) -> (Vec<Condition>, bool, String) {
    let first_failure = report.steps.iter().find(|s| s.outcome == Outcome::Failed);
    let mut fresh: Vec<Condition> = ASPECTS
        .iter()
        .map(|aspect| aspect_condition(report, aspect, first_failure.is_some(), stamp))
        .collect();
    let Some(failed) = first_failure else {
        fresh.push(stamp.condition("Ready", "True", "Available", "every check passed".into()));
        return (fresh, true, String::new());
    };
    let reason = failed.reason.map_or("CheckFailed", |r| r.as_str());
    let remedy = failed
        .remedy
        .map(|r| format!(" Fix: {r}."))
        .unwrap_or_default();
    let message = format!(
        "{reason}: {}.{remedy}",
        failed.message.trim_end_matches('.')
    );
    fresh.push(stamp.condition("Ready", "False", reason, message.clone()));
    (fresh, false, message)
}

/// One aspect's condition: its failed step, else its passed steps, else not checked (an
/// earlier step failed) or nothing to check.
fn aspect_condition(
    report: &CheckReport,
    aspect: &str,
    any_failed: bool,
    stamp: &Stamp<'_>,
) -> Condition {
    let steps: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.name.condition() == aspect)
        .collect();
    let passed: Vec<&str> = steps
        .iter()
        .filter(|s| s.outcome == Outcome::Passed)
        .map(|s| s.message.as_str())
        .collect();
    if let Some(failed) = steps.iter().find(|s| s.outcome == Outcome::Failed) {
        let reason = failed.reason.map_or("CheckFailed", |r| r.as_str());
        stamp.condition(aspect, "False", reason, failed.message.clone())
    } else if !passed.is_empty() {
        stamp.condition(aspect, "True", "Verified", passed.join("; "))
    } else if any_failed {
        stamp.condition(
            aspect,
            "Unknown",
            "NotChecked",
            "not checked: an earlier step failed".into(),
        )
    } else {
        stamp.condition(
            aspect,
            "True",
            "NotApplicable",
            "nothing to check for this location".into(),
        )
    }
}

/// A condition whose status did not flip keeps its `lastTransitionTime`.
fn keep_transition_times(fresh: &mut [Condition], previous: Option<&BackupStorageLocationStatus>) {
    let previous_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    for fresh_condition in fresh {
        if let Some(old) = previous_conditions
            .iter()
            .find(|c| c.type_ == fresh_condition.type_)
            && old.status == fresh_condition.status
        {
            fresh_condition.last_transition_time = old.last_transition_time.clone();
        }
    }
}

/// The `Ready` condition's reason, as events and metrics name the outcome.
pub fn ready_reason(status: &BackupStorageLocationStatus) -> &str {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.as_str())
        .unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Reason, Step, StepName};

    fn t(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn step(name: StepName, outcome: Outcome, reason: Option<Reason>) -> Step {
        Step {
            name,
            outcome,
            reason,
            message: format!("{} {:?}", name.as_str(), outcome),
            remedy: reason.map(Reason::remedy),
        }
    }

    fn passing() -> CheckReport {
        CheckReport {
            steps: StepName::ALL
                .iter()
                .map(|n| step(*n, Outcome::Passed, None))
                .collect(),
        }
    }

    fn tls_failure() -> CheckReport {
        let mut steps = vec![
            step(StepName::Secrets, Outcome::Passed, None),
            step(
                StepName::TlsHandshake,
                Outcome::Failed,
                Some(Reason::X509UnknownAuthority),
            ),
        ];
        steps.extend(
            StepName::ALL[2..]
                .iter()
                .map(|n| step(*n, Outcome::Skipped, None)),
        );
        CheckReport { steps }
    }

    fn get<'a>(s: &'a BackupStorageLocationStatus, kind: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == kind).unwrap()
    }

    #[test]
    fn a_passing_check_is_available_with_every_aspect_true() {
        let s = next_status(None, Verdict::Checked(&passing()), false, Some(3), t(100));
        assert_eq!(s.phase, Some(LocationPhase::Available));
        assert_eq!(s.message, None);
        assert_eq!(s.conditions[0].type_, "Ready");
        for kind in ["Ready"].iter().chain(ASPECTS.iter()) {
            let c = get(&s, kind);
            assert_eq!(c.status, "True", "{kind}");
            assert_eq!(c.observed_generation, Some(3));
        }
        assert!(s.conditions.iter().all(|c| c.type_ != INSECURE));
    }

    #[test]
    fn a_failure_names_its_reason_and_remedy_and_later_aspects_are_unknown() {
        let s = next_status(
            None,
            Verdict::Checked(&tls_failure()),
            false,
            Some(1),
            t(100),
        );
        assert_eq!(s.phase, Some(LocationPhase::Unavailable));
        let message = s.message.as_deref().unwrap();
        assert!(message.starts_with("X509UnknownAuthority: "), "{message}");
        assert!(message.contains("caCertRef"), "remedy missing: {message}");
        assert_eq!(get(&s, "Ready").reason, "X509UnknownAuthority");
        assert_eq!(get(&s, "TLSVerified").status, "False");
        assert_eq!(get(&s, "Authenticated").status, "Unknown");
        assert_eq!(get(&s, "EncryptionVerified").reason, "NotChecked");
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let first = next_status(None, Verdict::Checked(&passing()), true, Some(1), t(100));
        let same = next_status(
            Some(&first),
            Verdict::Checked(&passing()),
            true,
            Some(1),
            t(200),
        );
        assert_eq!(get(&same, "Ready").last_transition_time, t(100));
        assert_eq!(get(&same, INSECURE).last_transition_time, t(100));
        assert_eq!(same.last_validation_time, Some(t(200)));
        let flipped = next_status(
            Some(&same),
            Verdict::Checked(&tls_failure()),
            true,
            Some(1),
            t(300),
        );
        assert_eq!(get(&flipped, "Ready").last_transition_time, t(300));
        assert_eq!(get(&flipped, INSECURE).last_transition_time, t(100));
    }

    #[test]
    fn an_invalid_spec_is_unavailable_with_the_parser_message() {
        let s = next_status(
            None,
            Verdict::Invalid("spec.provider: \"gcp\" is not supported"),
            false,
            Some(2),
            t(1),
        );
        assert_eq!(s.phase, Some(LocationPhase::Unavailable));
        assert_eq!(get(&s, "Ready").reason, "InvalidSpec");
        assert!(s.message.unwrap().contains("spec.provider"));
    }
}
