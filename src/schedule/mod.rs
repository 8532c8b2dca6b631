//! Schedules: the cron grammar, when a schedule is due and what it creates, and which of its
//! backups retention keeps. Plain functions over plain data; `controller::schedule` carries
//! them out and the webhook refuses what `validate` refuses.

pub mod cron;
pub mod due;
pub mod metrics;
pub mod own;
pub mod retention;
pub mod ttl;

pub use cron::{Cron, CronError};
pub use due::{Due, backup_for, backup_name, base, decide};
pub use own::{SCHEDULE_UID_LABEL, made_by};

use crate::api::ScheduleSpec;
use crate::backup::Plan;

/// Check a Schedule's spec the way admission and the controller both do: the cron expression,
/// and the template by the Backup rules (named `spec.template.<field>`). Returns the parsed
/// cron, or every problem found.
pub fn validate(spec: &ScheduleSpec) -> Result<Cron, Vec<String>> {
    let mut errors = Vec::new();
    let cron = Cron::parse(&spec.schedule)
        .map_err(|e| errors.push(format!("spec.schedule: {e}")))
        .ok();
    let plan = Plan::from_spec(&spec.template).err().into_iter().flatten();
    let hooks = crate::hooks::BackupRules::from_spec(spec.template.hooks.as_ref())
        .err()
        .into_iter()
        .flatten();
    let template: Vec<String> = plan.chain(hooks).collect();
    if !template.is_empty() {
        errors.extend(template.into_iter().map(|e| match e.strip_prefix("spec.") {
            Some(rest) => format!("spec.template.{rest}"),
            None => format!("spec.template: {e}"),
        }));
    }
    if let Some(ttl) = &spec.template.ttl {
        if let Err(e) = ttl.parse() {
            errors.push(format!("spec.template.ttl: {e}"));
        }
    }
    match cron {
        Some(cron) if errors.is_empty() => Ok(cron),
        _ => Err(errors),
    }
}

/// The longest Schedule name: it is the value of its backups' `velero.io/schedule-name`
/// label, and label values hold at most 63 characters.
pub const MAX_NAME: usize = crate::api::label::MAX_LENGTH;

/// Why a Schedule's name cannot work, if it cannot: every Backup it made would be refused by
/// the API server (the label), so the schedule would try again for ever.
pub fn name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    (length > MAX_NAME).then(|| {
        format!(
            "metadata.name: {length} characters; a Schedule's name is the \
             velero.io/schedule-name label of its backups, which holds at most {MAX_NAME}: \
             create it again with a shorter name"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> ScheduleSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn names_over_63_characters_are_refused() {
        assert_eq!(name_problem(&"a".repeat(63)), None);
        let problem = name_problem(&"a".repeat(64)).unwrap();
        assert!(
            problem.starts_with("metadata.name: 64 characters; a Schedule's name is the velero.io/schedule-name label"),
            "{problem}"
        );
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let errors = validate(&spec(serde_json::json!({
            "schedule": "0 25 * * *",
            "template": {"ttl": "3 days", "hooks": {"resources": [{"name": "h", "pre": [{"exec": {"command": [""]}}]}]},
                         "labelSelector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}},
        })))
        .unwrap_err();
        let text = errors.join("\n");
        for want in [
            "spec.schedule: hour field \"25\"",
            "spec.template.hooks.resources[0].pre[0].exec.command:",
            "spec.template.ttl: \"3 days\" is not a duration",
            "spec.template.labelSelector",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(
            validate(&spec(
                serde_json::json!({"schedule": "@every 10s", "template": {}})
            ))
            .is_ok()
        );
    }
}
