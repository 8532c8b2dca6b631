//! Schedule series: when each schedule runs next (veloxide) and its expected interval
//! (Velero's `velero_schedule_expected_interval_seconds`), which the chart's alert divides by.

use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct ScheduleMetrics {
    /// `veloxide_schedule_next_run_timestamp_seconds{schedule}`: unix seconds of the next run;
    /// no series while the schedule is paused or invalid.
    pub next_run: IntGaugeVec,
    /// `velero_schedule_expected_interval_seconds{schedule}`: the time between the next two
    /// runs; no series while paused or invalid.
    pub expected_interval: GaugeVec,
    /// `veloxide_schedule_created_timestamp_seconds{schedule}`: so an alert on "no successful
    /// backup for twice the interval" does not fire for a schedule younger than that.
    pub created: IntGaugeVec,
}

impl ScheduleMetrics {
    pub fn register(registry: &Registry) -> ScheduleMetrics {
        let next_run = IntGaugeVec::new(
            Opts::new(
                "veloxide_schedule_next_run_timestamp_seconds",
                "When the schedule's next backup is due (unix seconds)",
            ),
            &["schedule"],
        )
        .expect("valid metric");
        let expected_interval = GaugeVec::new(
            Opts::new(
                "velero_schedule_expected_interval_seconds",
                "Expected interval between consecutive scheduled backups, in seconds",
            ),
            &["schedule"],
        )
        .expect("valid metric");
        let created = IntGaugeVec::new(
            Opts::new(
                "veloxide_schedule_created_timestamp_seconds",
                "When the schedule was created (unix seconds)",
            ),
            &["schedule"],
        )
        .expect("valid metric");
        for c in [&next_run, &created] {
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
        }
        registry
            .register(Box::new(expected_interval.clone()))
            .expect("registered once");
        ScheduleMetrics {
            next_run,
            expected_interval,
            created,
        }
    }

    /// No next run (paused, invalid): the timing series go, the schedule's others stay.
    pub fn idle(&self, schedule: &str) {
        let _ = self.next_run.remove_label_values(&[schedule]);
        let _ = self.expected_interval.remove_label_values(&[schedule]);
    }

    /// The schedule is gone: every series of it goes.
    pub fn forget(&self, schedule: &str) {
        self.idle(schedule);
        let _ = self.created.remove_label_values(&[schedule]);
    }
}
