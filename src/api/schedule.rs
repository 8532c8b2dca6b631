//! `Schedule`: a Backup template and the cron times it is run at (Velero's
//! `pkg/apis/velero/v1/schedule_types.go`), plus veloxide's `status.nextRun` and
//! `spec.retention`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::BackupSpec;

/// When to back up (a cron expression) and what (a Backup spec).
// clippy reads the repeated `type_ = ...` inside separate printcolumn(...) groups as one
// attribute given twice; they are different columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "Schedule",
    doc = "A pre-scheduled, periodic Backup: the template is run at each time the cron expression names, exactly once per time.",
    namespaced,
    shortname = "sched",
    status = "ScheduleStatus",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "Status of the schedule"
    ),
    printcolumn(
        name = "Schedule",
        type_ = "string",
        json_path = ".spec.schedule",
        description = "A Cron expression defining when to run the Backup"
    ),
    printcolumn(
        name = "LastBackup",
        type_ = "date",
        json_path = ".status.lastBackup",
        description = "The last time a Backup was run for this schedule"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Paused", type_ = "boolean", json_path = ".spec.paused"),
    printcolumn(
        name = "NextRun",
        type_ = "string",
        json_path = ".status.nextRun",
        description = "When the next Backup is due (veloxide)",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// The Backup each run creates.
    pub template: BackupSpec,
    /// A cron expression: 5 fields (`0 3 * * *`), a descriptor (`@daily`), `@every <duration>`,
    /// optionally prefixed `CRON_TZ=<IANA zone> ` (UTC otherwise).
    pub schedule: String,
    /// Give each Backup an owner reference to this Schedule (deleting the Schedule then
    /// deletes its Backup objects, not their data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub use_owner_references_in_backup: Option<bool>,
    /// A paused schedule creates no Backups.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Skip the run that is due now (set back to false once honoured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub skip_immediately: Option<bool>,
    /// veloxide extension: which of this schedule's backups to keep; the others are deleted
    /// through DeleteBackupRequests. Unset: backups expire by their TTL only, as in Velero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub retention: Option<Retention>,
}

/// How many backups to keep per period, as restic's `forget` counts them: the newest backup of
/// each of the last N hours/days/weeks/months/years that have one. A backup kept by any rule
/// is kept.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// The newest N backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_daily: Option<u32>,
    /// ISO weeks (Monday first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_yearly: Option<u32>,
    /// The newest N Completed backups are never deleted, by retention or by TTL (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub keep_last_successful: Option<u32>,
}

/// Velero's schedule phases.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SchedulePhase {
    New,
    Enabled,
    FailedValidation,
}

impl SchedulePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SchedulePhase::New => "New",
            SchedulePhase::Enabled => "Enabled",
            SchedulePhase::FailedValidation => "FailedValidation",
        }
    }
}

/// What the schedule has done.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SchedulePhase>,
    /// The cron time of the last Backup created (Velero: the time it was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub last_backup: Option<Time>,
    /// When a run was last skipped (`skipImmediately`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub last_skipped: Option<Time>,
    /// Why the schedule was refused (phase `FailedValidation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_errors: Option<Vec<String>>,
    /// veloxide extension: when the next Backup is due (unset while paused or invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub next_run: Option<Time>,
}

impl Schedule {
    /// The phase, `New` when none was written yet.
    pub fn phase(&self) -> SchedulePhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(SchedulePhase::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Velero manifest decodes and round-trips unchanged.
    #[test]
    fn velero_manifests_round_trip() {
        let manifest = serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": "nightly", "namespace": "velero"},
            "spec": {
                "schedule": "CRON_TZ=Europe/Berlin 0 3 * * *",
                "template": {"includedNamespaces": ["app"], "ttl": "720h0m0s",
                             "metadata": {"labels": {"team": "shop"}}},
                "useOwnerReferencesInBackup": false, "paused": true, "skipImmediately": false,
            },
            "status": {"phase": "Enabled", "lastBackup": "2026-12-01T02:00:00Z",
                       "validationErrors": ["x"]},
        });
        let schedule: Schedule = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(schedule.phase(), SchedulePhase::Enabled);
        assert_eq!(serde_json::to_value(&schedule).unwrap(), manifest);
    }
}
