//! Velero's backup metrics (names, types, labels and buckets as `pkg/metrics/metrics.go`), so
//! existing dashboards and the chart's alerts work unchanged. `schedule` is the backup's
//! `velero.io/schedule-name` label, "" for manual backups.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every `velero_backup_*` family except the location gauge (see `Metrics`).
#[derive(Clone)]
pub struct BackupMetrics {
    pub tarball_size_bytes: IntGaugeVec,
    pub last_successful_timestamp: IntGaugeVec,
    pub total: IntGauge,
    pub attempt_total: IntCounterVec,
    pub success_total: IntCounterVec,
    pub partial_failure_total: IntCounterVec,
    pub failure_total: IntCounterVec,
    pub validation_failure_total: IntCounterVec,
    pub duration_seconds: HistogramVec,
    pub deletion_attempt_total: IntCounterVec,
    pub deletion_success_total: IntCounterVec,
    pub deletion_failure_total: IntCounterVec,
    pub items_total: IntGaugeVec,
    pub items_errors: IntGaugeVec,
    pub warning_total: IntCounterVec,
    pub last_status: IntGaugeVec,
}

const SCHEDULE: &[&str] = &["schedule"];

impl BackupMetrics {
    /// Create and register every family in `registry`.
    pub fn register(registry: &Registry) -> BackupMetrics {
        let gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), SCHEDULE).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), SCHEDULE).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let total = IntGauge::new("velero_backup_total", "Current number of existent backups")
            .expect("valid metric");
        registry
            .register(Box::new(total.clone()))
            .expect("registered once");
        let duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "velero_backup_duration_seconds",
                "Time taken to complete backup, in seconds",
            )
            .buckets(vec![
                60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 14400.0,
            ]),
            SCHEDULE,
        )
        .expect("valid metric");
        registry
            .register(Box::new(duration_seconds.clone()))
            .expect("registered once");
        let metrics = BackupMetrics {
            tarball_size_bytes: gauge(
                "velero_backup_tarball_size_bytes",
                "Size, in bytes, of a backup",
            ),
            last_successful_timestamp: gauge(
                "velero_backup_last_successful_timestamp",
                "Last time a backup ran successfully, Unix timestamp in seconds",
            ),
            total,
            attempt_total: counter(
                "velero_backup_attempt_total",
                "Total number of attempted backups",
            ),
            success_total: counter(
                "velero_backup_success_total",
                "Total number of successful backups",
            ),
            partial_failure_total: counter(
                "velero_backup_partial_failure_total",
                "Total number of partially failed backups",
            ),
            failure_total: counter(
                "velero_backup_failure_total",
                "Total number of failed backups",
            ),
            validation_failure_total: counter(
                "velero_backup_validation_failure_total",
                "Total number of validation failed backups",
            ),
            duration_seconds,
            deletion_attempt_total: counter(
                "velero_backup_deletion_attempt_total",
                "Total number of attempted backup deletions",
            ),
            deletion_success_total: counter(
                "velero_backup_deletion_success_total",
                "Total number of successful backup deletions",
            ),
            deletion_failure_total: counter(
                "velero_backup_deletion_failure_total",
                "Total number of failed backup deletions",
            ),
            items_total: gauge(
                "velero_backup_items_total",
                "Total number of items backed up",
            ),
            items_errors: gauge(
                "velero_backup_items_errors",
                "Total number of items that failed to back up",
            ),
            warning_total: counter(
                "velero_backup_warning_total",
                "Total number of warned backups",
            ),
            last_status: gauge(
                "velero_backup_last_status",
                "Last status of the backup. A value of 1 is success, 0 is failure",
            ),
        };
        metrics.init_schedule("");
        metrics
    }

    /// Velero's `InitSchedule`: series start at 0 (last status at 1) so rates and alerts work
    /// before the first backup of a schedule finishes.
    pub fn init_schedule(&self, schedule: &str) {
        let s = &[schedule];
        for c in [
            &self.attempt_total,
            &self.success_total,
            &self.partial_failure_total,
            &self.failure_total,
            &self.validation_failure_total,
            &self.deletion_attempt_total,
            &self.deletion_success_total,
            &self.deletion_failure_total,
            &self.warning_total,
        ] {
            c.with_label_values(s);
        }
        for g in [
            &self.items_total,
            &self.items_errors,
            &self.last_successful_timestamp,
        ] {
            g.with_label_values(s);
        }
        self.last_status.with_label_values(s).set(1);
    }

    /// Velero's `RemoveSchedule`: a deleted schedule's series go with it.
    pub fn remove_schedule(&self, schedule: &str) {
        let s = &[schedule];
        for c in [
            &self.attempt_total,
            &self.success_total,
            &self.partial_failure_total,
            &self.failure_total,
            &self.validation_failure_total,
            &self.deletion_attempt_total,
            &self.deletion_success_total,
            &self.deletion_failure_total,
            &self.warning_total,
        ] {
            let _ = c.remove_label_values(s);
        }
        for g in [
            &self.tarball_size_bytes,
            &self.items_total,
            &self.items_errors,
            &self.last_successful_timestamp,
            &self.last_status,
        ] {
            let _ = g.remove_label_values(s);
        }
        let _ = self.duration_seconds.remove_label_values(s);
    }
}

/// The backup sync's families. Velero exports none for its sync, so these are veloxide's own.
#[derive(Clone)]
pub struct SyncMetrics {
    /// Passes over a location, by `result`: `success` (listed, every file looked at),
    /// `failure` (the location could not be listed).
    pub passes: IntCounterVec,
    /// Backups found in the location at the last pass.
    pub found: IntGaugeVec,
    /// Backup objects created from the location's files.
    pub created: IntCounterVec,
    /// Backup objects deleted because their files are gone from the location.
    pub orphans_deleted: IntCounterVec,
    /// `velero-backup.json` files that could not be used, by `reason`.
    pub bad_metadata: IntCounterVec,
}

impl SyncMetrics {
    pub fn register(registry: &Registry) -> SyncMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let found = IntGaugeVec::new(
            Opts::new(
                "veloxide_backup_sync_backups_found",
                "Backups (folders with a velero-backup.json) found in the location at the last sync",
            ),
            &["location"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(found.clone()))
            .expect("registered once");
        SyncMetrics {
            passes: counter(
                "veloxide_backup_sync_total",
                "Backup sync passes over a location, by result (success or failure)",
                &["location", "result"],
            ),
            found,
            created: counter(
                "veloxide_backup_sync_created_total",
                "Backup objects created from a location's files by the sync",
                &["location"],
            ),
            orphans_deleted: counter(
                "veloxide_backup_sync_orphans_deleted_total",
                "Backup objects deleted by the sync because their files are gone (no data is deleted)",
                &["location"],
            ),
            bad_metadata: counter(
                "veloxide_backup_sync_bad_metadata_total",
                "velero-backup.json files the sync could not use, by reason",
                &["location", "reason"],
            ),
        }
    }

    /// Drop a deleted location's series.
    pub fn forget(&self, location: &str) {
        let _ = self.found.remove_label_values(&[location]);
        for result in ["success", "failure"] {
            let _ = self.passes.remove_label_values(&[location, result]);
        }
        let _ = self.created.remove_label_values(&[location]);
        let _ = self.orphans_deleted.remove_label_values(&[location]);
    }
}

/// A registry's text exposition, for the tests that check metric names and values.
#[cfg(test)]
pub(crate) fn exposition(registry: &Registry) -> String {
    let mut out = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_names_and_initial_values() {
        let registry = Registry::new();
        let m = BackupMetrics::register(&registry);
        m.attempt_total.with_label_values(&["daily"]).inc();
        let text = exposition(&registry);
        for line in [
            r#"velero_backup_last_status{schedule=""} 1"#,
            r#"velero_backup_success_total{schedule=""} 0"#,
            r#"velero_backup_attempt_total{schedule="daily"} 1"#,
            "velero_backup_total 0",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }
}
