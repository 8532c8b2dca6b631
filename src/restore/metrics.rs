//! Velero's restore metrics (names, types and labels as `pkg/metrics/metrics.go`). `schedule`
//! is the restore's `spec.scheduleName`, "" for restores of a named backup.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct RestoreMetrics {
    /// Restore objects that exist.
    pub total: IntGauge,
    pub attempt_total: IntCounterVec,
    pub success_total: IntCounterVec,
    pub partial_failure_total: IntCounterVec,
    pub failed_total: IntCounterVec,
    pub validation_failed_total: IntCounterVec,
}

impl RestoreMetrics {
    pub fn register(registry: &Registry) -> RestoreMetrics {
        let counter = |name: &str, help: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &["schedule"]).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            // Velero's InitSchedule(""): the manual series exist from the start.
            c.with_label_values(&[""]);
            c
        };
        let total = IntGauge::new(
            "velero_restore_total",
            "Current number of existent restores",
        )
        .expect("valid metric");
        registry
            .register(Box::new(total.clone()))
            .expect("registered once");
        RestoreMetrics {
            total,
            attempt_total: counter(
                "velero_restore_attempt_total",
                "Total number of attempted restores",
            ),
            success_total: counter(
                "velero_restore_success_total",
                "Total number of successful restores",
            ),
            partial_failure_total: counter(
                "velero_restore_partial_failure_total",
                "Total number of partially failed restores",
            ),
            failed_total: counter(
                "velero_restore_failed_total",
                "Total number of failed restores",
            ),
            validation_failed_total: counter(
                "velero_restore_validation_failed_total",
                "Total number of failed restores failing validations",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::metrics::exposition;

    #[test]
    fn velero_names() {
        let registry = Registry::new();
        let m = RestoreMetrics::register(&registry);
        m.attempt_total.with_label_values(&["daily"]).inc();
        let text = exposition(&registry);
        for line in [
            r#"velero_restore_attempt_total{schedule="daily"} 1"#,
            r#"velero_restore_success_total{schedule=""} 0"#,
            r#"velero_restore_validation_failed_total{schedule=""} 0"#,
            "velero_restore_total 0",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }
}
