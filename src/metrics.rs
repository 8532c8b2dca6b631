//! Prometheus metrics. Velero's names are kept where Velero has them, so existing dashboards
//! and alerts keep working; veloxide's own carry a `veloxide_` prefix.
//!
//! Gauges about locations are derived from the live objects (see `observe_location`), so they
//! are rebuilt from the API at start-up on every replica and a deleted location's series go.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::api::{BackupStorageLocation, LocationPhase};

/// Every metric the server exports, registered in one registry held by the server's context.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Velero's: 1 when the location is Available, 0 otherwise.
    pub location_status: IntGaugeVec,
    pub validations: IntCounterVec,
    pub last_validation: IntGaugeVec,
    pub ca_expiry: IntGaugeVec,
    pub insecure: IntGaugeVec,
    pub reconcile_duration: HistogramVec,
    pub reconcile_errors: IntCounterVec,
    pub check_duration: Histogram,
    /// Velero's `velero_backup_*` families.
    pub backups: crate::backup::metrics::BackupMetrics,
    /// Velero's `velero_restore_*` families.
    pub restores: crate::restore::metrics::RestoreMetrics,
    /// The backup sync's `veloxide_backup_sync_*` families.
    pub sync: crate::backup::metrics::SyncMetrics,
    /// When each schedule runs next, and its interval.
    pub schedules: crate::schedule::metrics::ScheduleMetrics,
    /// Velero's `velero_csi_snapshot_*` counters and the time to `readyToUse`.
    pub csi: crate::backup::volumes::metrics::CsiMetrics,
    /// `veloxide_hooks_total{kind="backup"|"restore", result="succeeded"|"failed"}`: hooks
    /// run (Velero has no hook metric; its `hookStatus` counts per run).
    pub hooks: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Count a finished run's hooks (`kind` is `backup` or `restore`).
    pub fn count_hooks(&self, kind: &str, status: Option<&crate::api::HookStatus>) {
        let Some(h) = status else { return };
        let attempted = h.hooks_attempted.unwrap_or(0).max(0) as u64;
        let failed = h.hooks_failed.unwrap_or(0).max(0) as u64;
        self.hooks
            .with_label_values(&[kind, "succeeded"])
            .inc_by(attempted.saturating_sub(failed));
        self.hooks
            .with_label_values(&[kind, "failed"])
            .inc_by(failed);
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let location_status = gauge(
            "velero_backup_location_status_gauge",
            "Availability of a backup storage location: 1 available, 0 unavailable",
            &["backup_location_name"],
        );
        let validations = counter(
            "veloxide_location_validations_total",
            "Location checks run, by location, result (success or failure) and reason",
            &["location", "result", "reason"],
        );
        let last_validation = gauge(
            "veloxide_location_last_validation_timestamp_seconds",
            "When the location was last validated (unix seconds)",
            &["location"],
        );
        let ca_expiry = gauge(
            "veloxide_location_ca_certificate_expiry_timestamp_seconds",
            "The earliest notAfter of the certificates in the location's CA bundle (unix seconds)",
            &["location"],
        );
        let insecure = gauge(
            "veloxide_location_insecure",
            "1 when the location skips TLS verification (insecureSkipTLSVerify)",
            &["location"],
        );
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new(
                "veloxide_reconcile_duration_seconds",
                "Time spent in one reconcile, by controller",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["controller"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(reconcile_duration.clone()))
            .expect("registered once");
        let reconcile_errors = counter(
            "veloxide_reconcile_errors_total",
            "Reconcile failures, by controller and reason",
            &["controller", "reason"],
        );
        let check_duration = Histogram::with_opts(
            HistogramOpts::new(
                "veloxide_location_check_duration_seconds",
                "Time a location check takes, from Secret resolution to the round trip",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(check_duration.clone()))
            .expect("registered once");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        let backups = crate::backup::metrics::BackupMetrics::register(&registry);
        let restores = crate::restore::metrics::RestoreMetrics::register(&registry);
        let sync = crate::backup::metrics::SyncMetrics::register(&registry);
        let schedules = crate::schedule::metrics::ScheduleMetrics::register(&registry);
        let csi = crate::backup::volumes::metrics::CsiMetrics::register(&registry);
        let hooks = counter(
            "veloxide_hooks_total",
            "Backup and restore hooks run, by kind (backup, restore) and result (succeeded, failed)",
            &["kind", "result"],
        );
        Metrics {
            csi,
            hooks,
            sync,
            schedules,
            backups,
            restores,
            registry,
            location_status,
            validations,
            last_validation,
            ca_expiry,
            insecure,
            reconcile_duration,
            reconcile_errors,
            check_duration,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// Set the gauges a location's object determines: phase, last validation, insecure.
    pub fn observe_location(&self, location: &BackupStorageLocation) {
        let name = location.metadata.name.as_deref().unwrap_or_default();
        let insecure = location
            .spec
            .config
            .as_ref()
            .and_then(|c| c.get("insecureSkipTLSVerify"))
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "t" | "1"));
        self.insecure
            .with_label_values(&[name])
            .set(insecure as i64);
        let status = location.status.as_ref();
        match status.and_then(|s| s.phase) {
            Some(phase) => self
                .location_status
                .with_label_values(&[name])
                .set((phase == LocationPhase::Available) as i64),
            // Not validated yet: no availability series rather than a false "unavailable".
            None => {
                let _ = self.location_status.remove_label_values(&[name]);
            }
        }
        if let Some(time) = status.and_then(|s| s.last_validation_time.as_ref()) {
            self.last_validation
                .with_label_values(&[name])
                .set(time.0.as_second());
        }
    }

    /// Drop every series of a location that no longer exists.
    pub fn forget_location(&self, name: &str) {
        for gauge in [
            &self.location_status,
            &self.last_validation,
            &self.ca_expiry,
            &self.insecure,
        ] {
            let _ = gauge.remove_label_values(&[name]);
        }
        self.sync.forget(name);
        // The counter carries result and reason labels too: find every series of `name`.
        use prometheus::core::Collector as _;
        for family in self.validations.collect() {
            for metric in family.get_metric() {
                let value = |label: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == label)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                };
                if value("location") == name {
                    let _ = self.validations.remove_label_values(&[
                        name,
                        &value("result"),
                        &value("reason"),
                    ]);
                }
            }
        }
    }

    /// Time a reconcile; the histogram is recorded when the guard drops, so early returns count.
    pub fn reconcile_timer(&self, controller: &str) -> prometheus::HistogramTimer {
        self.reconcile_duration
            .with_label_values(&[controller])
            .start_timer()
    }

    pub fn observe_check(&self, elapsed: Duration) {
        self.check_duration.observe(elapsed.as_secs_f64());
    }
}

/// Exports a [`crate::storage::StorageStats`] at scrape time.
struct StorageCollector {
    stats: std::sync::Arc<crate::storage::StorageStats>,
    clients: prometheus::IntCounter,
    connections: prometheus::IntCounter,
}

impl prometheus::core::Collector for StorageCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        let mut descs = self.clients.desc();
        descs.extend(self.connections.desc());
        descs
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        // Counters only go up; catch them up to the stats.
        let catch_up = |counter: &prometheus::IntCounter, value: u64| {
            counter.inc_by(value.saturating_sub(counter.get()));
        };
        catch_up(&self.clients, self.stats.clients_built());
        catch_up(&self.connections, self.stats.connections_opened());
        let mut families = self.clients.collect();
        families.extend(self.connections.collect());
        families
    }
}

impl Metrics {
    /// Export what the storage layer built and opened.
    pub fn register_storage(&self, stats: std::sync::Arc<crate::storage::StorageStats>) {
        let collector = StorageCollector {
            stats,
            clients: prometheus::IntCounter::new(
                "veloxide_storage_clients_built_total",
                "S3/KMS client sets built (one per distinct endpoint, trust and credentials)",
            )
            .expect("valid metric"),
            connections: prometheus::IntCounter::new(
                "veloxide_storage_connections_opened_total",
                "Connections opened to object stores (each a TLS handshake for https stores)",
            )
            .expect("valid metric"),
        };
        // A second registration (tests building two servers in one process) is harmless.
        let _ = self.registry.register(Box::new(collector));
    }
}
