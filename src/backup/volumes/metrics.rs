//! Velero's CSI snapshot counters (`pkg/metrics/metrics.go`: `velero_csi_snapshot_*_total`
//! with the `schedule` and `backupName` labels) and veloxide's histogram of the time a
//! snapshot takes to become `readyToUse`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct CsiMetrics {
    pub attempt_total: IntCounterVec,
    pub success_total: IntCounterVec,
    pub failure_total: IntCounterVec,
    /// `veloxide_csi_snapshot_ready_seconds{schedule}`.
    pub ready_seconds: HistogramVec,
}

impl CsiMetrics {
    pub fn register(registry: &Registry) -> CsiMetrics {
        let counter = |name: &str, help: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &["schedule", "backupName"])
                .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let ready_seconds = HistogramVec::new(
            HistogramOpts::new(
                "veloxide_csi_snapshot_ready_seconds",
                "Time from creating a CSI VolumeSnapshot to its readyToUse",
            )
            .buckets(vec![
                0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
            ]),
            &["schedule"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(ready_seconds.clone()))
            .expect("registered once");
        CsiMetrics {
            attempt_total: counter(
                "velero_csi_snapshot_attempt_total",
                "Total number of CSI attempted volume snapshots",
            ),
            success_total: counter(
                "velero_csi_snapshot_success_total",
                "Total number of CSI successful volume snapshots",
            ),
            failure_total: counter(
                "velero_csi_snapshot_failure_total",
                "Total number of CSI failed volume snapshots",
            ),
            ready_seconds,
        }
    }
}
