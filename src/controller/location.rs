//! The BackupStorageLocation controller: parse, resolve Secrets, check the store, write
//! status, events and metrics; revalidate on schedule, on spec change and on Secret change.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::conditions::{INSECURE, Verdict, next_status, ready_reason};
use super::{Context, Error, Result};
use crate::api::{BackupStorageLocation, BackupStorageLocationStatus};
use crate::location::{LocationConfig, inspect_pem};
use crate::storage::{CheckReport, KubeSecrets, Resolved, resolve};

/// The label this controller's metrics carry.
pub const CONTROLLER: &str = "backupstoragelocation";

/// When each location was last checked here, against which inputs, and how it went.
#[derive(Default)]
pub(crate) struct ValidationLog {
    entries: Mutex<HashMap<String, Validated>>,
}

#[derive(Clone, Copy)]
struct Validated {
    inputs: u64,
    at: Instant,
    failures: u32,
}

/// What to do with a location now.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Validate,
    WaitFor(Duration),
    AwaitChange,
}

impl ValidationLog {
    fn decide(&self, name: &str, inputs: u64, frequency: Duration, backoff: Duration) -> Decision {
        let entries = self.entries.lock().expect("log lock");
        let Some(last) = entries.get(name) else {
            return Decision::Validate;
        };
        if last.inputs != inputs {
            return Decision::Validate;
        }
        match next_interval(frequency, backoff, last.failures) {
            None => Decision::AwaitChange,
            Some(interval) => match interval.checked_sub(last.at.elapsed()) {
                Some(left) if !left.is_zero() => Decision::WaitFor(left),
                _ => Decision::Validate,
            },
        }
    }

    fn record(&self, name: &str, inputs: u64, passed: bool) -> u32 {
        let mut entries = self.entries.lock().expect("log lock");
        let failures = if passed {
            0
        } else {
            entries.get(name).map_or(0, |e| e.failures) + 1
        };
        entries.insert(
            name.to_owned(),
            Validated {
                inputs,
                at: Instant::now(),
                failures,
            },
        );
        failures
    }

    pub(crate) fn forget(&self, name: &str) {
        self.entries.lock().expect("log lock").remove(name);
    }
}

/// The wait before the next check: the frequency after a success (none when it is 0: the
/// location is validated once), and a doubling backoff capped by the frequency after failures.
fn next_interval(frequency: Duration, backoff: Duration, failures: u32) -> Option<Duration> {
    if frequency.is_zero() {
        return (failures > 0)
            .then(|| backoff.saturating_mul(1 << failures.min(16).saturating_sub(1)));
    }
    if failures == 0 {
        return Some(frequency);
    }
    let grown = backoff.saturating_mul(1 << failures.min(16).saturating_sub(1));
    Some(grown.min(frequency))
}

/// Run the controller until `shutdown`. Secrets are watched too, mapped to the locations that
/// name them through the index that every reconcile keeps current.
pub async fn run(ctx: Arc<Context>, shutdown: CancellationToken) {
    let namespace = ctx.settings.namespace.clone();
    let locations: Api<BackupStorageLocation> = Api::namespaced(ctx.client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let mapper_ctx = ctx.clone();
    let config =
        kube::runtime::controller::Config::default().concurrency(ctx.settings.location_concurrency);
    Controller::new(locations, watcher::Config::default())
        .with_config(config)
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: Secret| {
                let namespace = secret.namespace().unwrap_or_default();
                mapper_ctx
                    .secrets_index
                    .locations_naming(&secret.name_any())
                    .into_iter()
                    .map(move |name| ObjectRef::new(&name).within(&namespace))
            },
        )
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "location reconcile did not complete");
            }
        })
        .await;
}

/// Wait, then retry; count the failure by its label.
fn error_policy(_location: Arc<BackupStorageLocation>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, error.label(), error, Duration::from_millis(500))
}

/// Check one location if it is due, and write what was found.
pub async fn reconcile(location: Arc<BackupStorageLocation>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let name = location
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingField("metadata.name"))?;
    if location.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    super::defaults::ensure_single_default(&location, &api, &ctx).await?;

    let generation = location.metadata.generation;
    let config = match LocationConfig::from_spec_with(&location.spec, &ctx.settings.files) {
        Ok(parsed) => parsed.config,
        Err(rejected) => {
            ctx.secrets_index.remove(&name);
            let inputs = digest(&(generation, "invalid"));
            if ctx
                .validations
                .decide(&name, inputs, Duration::ZERO, Duration::ZERO)
                != Decision::Validate
            {
                return Ok(Action::await_change());
            }
            let message = rejected.to_string();
            let status = next_status(
                location.status.as_ref(),
                Verdict::Invalid(&message),
                false,
                generation,
                now(),
            );
            write_status(&api, &location, &ctx, &status, "InvalidSpec").await?;
            ctx.validations.record(&name, inputs, true);
            // Invalid input waits for a change to the spec.
            return Ok(Action::await_change());
        }
    };
    ctx.secrets_index.set(&name, &config.secret_names());

    let source = KubeSecrets::new(ctx.client.clone(), &ctx.settings.namespace);
    let resolved = resolve(&config, &source).await;
    let inputs = inputs_digest(generation, &resolved);
    let frequency = config
        .validation_frequency
        .unwrap_or(ctx.settings.default_validation_frequency);
    match ctx
        .validations
        .decide(&name, inputs, frequency, ctx.settings.failure_backoff)
    {
        Decision::Validate => {}
        Decision::WaitFor(left) => return Ok(Action::requeue(left)),
        Decision::AwaitChange => return Ok(Action::await_change()),
    }

    let started = Instant::now();
    let (report, ca_expiry) = match resolved {
        Err(e) => (CheckReport::secrets_failed(&e.into()), None),
        Ok(resolved) => {
            let expiry = ca_expiry(&resolved);
            let report = match ctx.stores.store(&name, &resolved) {
                Ok(store) => store.check().await,
                Err(e) => CheckReport::secrets_failed(&e),
            };
            (report, expiry)
        }
    };
    ctx.metrics.observe_check(started.elapsed());
    match ca_expiry {
        Some(t) => ctx.metrics.ca_expiry.with_label_values(&[&name]).set(t),
        None => {
            let _ = ctx.metrics.ca_expiry.remove_label_values(&[&name]);
        }
    }

    let insecure = config.trust.insecure_skip_tls_verify;
    let status = next_status(
        location.status.as_ref(),
        Verdict::Checked(&report),
        insecure,
        generation,
        now(),
    );
    let reason = ready_reason(&status).to_owned();
    write_status(&api, &location, &ctx, &status, &reason).await?;
    let failures = ctx.validations.record(&name, inputs, report.passed());
    Ok(
        match next_interval(frequency, ctx.settings.failure_backoff, failures) {
            Some(interval) => Action::requeue(interval),
            None => Action::await_change(),
        },
    )
}

/// Patch status (merge patch on the status subresource, so the spec is never touched), then
/// metrics and events for what changed.
async fn write_status(
    api: &Api<BackupStorageLocation>,
    location: &BackupStorageLocation,
    ctx: &Context,
    status: &BackupStorageLocationStatus,
    reason: &str,
) -> Result<()> {
    let name = location.name_any();
    let mut body = serde_json::to_value(status).expect("status serializes");
    // A merge patch only clears a field that is sent as null.
    if status.message.is_none() {
        body["message"] = Value::Null;
    }
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": body })),
    )
    .await?;

    let available = status.phase == Some(crate::api::LocationPhase::Available);
    let result = if available { "success" } else { "failure" };
    ctx.metrics
        .validations
        .with_label_values(&[name.as_str(), result, if available { "" } else { reason }])
        .inc();
    ctx.metrics
        .location_status
        .with_label_values(&[&name])
        .set(available as i64);
    if let Some(time) = &status.last_validation_time {
        ctx.metrics
            .last_validation
            .with_label_values(&[&name])
            .set(time.0.as_second());
    }

    let previous = location.status.as_ref();
    let reference = location.object_ref(&());
    if previous.and_then(|p| p.phase) != status.phase || previous.map(ready_reason) != Some(reason)
    {
        let event = Event {
            type_: if available {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.to_owned(),
            note: Some(truncate(
                status
                    .message
                    .as_deref()
                    .unwrap_or("the location is available"),
                1000,
            )),
            action: "Validate".into(),
            secondary: None,
        };
        publish(ctx, &event, &reference).await;
    }
    let had_insecure = previous.is_some_and(|p| p.conditions.iter().any(|c| c.type_ == INSECURE));
    let has_insecure = status.conditions.iter().any(|c| c.type_ == INSECURE);
    if has_insecure && !had_insecure {
        let event = Event {
            type_: EventType::Warning,
            reason: "InsecureSkipTLSVerify".into(),
            note: Some("TLS verification of the object store is off (insecureSkipTLSVerify); backups can be read or altered in transit".into()),
            action: "Validate".into(),
            secondary: None,
        };
        publish(ctx, &event, &reference).await;
    }
    Ok(())
}

/// Events are best effort: failing to record one never fails a reconcile.
pub(super) async fn publish(
    ctx: &Context,
    event: &Event,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
) {
    if let Err(e) = ctx.recorder.publish(event, reference).await {
        tracing::warn!(error = %e, reason = %event.reason, "could not record an event");
    }
}

fn ca_expiry(resolved: &Resolved) -> Option<i64> {
    let pem = resolved.secrets.ca_pem.as_ref()?;
    inspect_pem("ca", pem, jiff::Timestamp::now())
        .ok()?
        .bundle
        .earliest_not_after()
}

/// A digest of everything a check depends on: the spec's generation and the resolved Secret
/// material (or why it could not be resolved). Equal digests mean nothing changed.
fn inputs_digest(
    generation: Option<i64>,
    resolved: &Result<Resolved, crate::storage::SecretError>,
) -> u64 {
    match resolved {
        Ok(r) => digest(&(
            generation,
            crate::storage::Fingerprint::of(r).0,
            r.secrets.customer_key.as_ref().map(|k| k.0),
        )),
        Err(e) => digest(&(generation, e.to_string())),
    }
}

fn digest(value: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{Expect, mock_client, serve};
    use super::super::{Context, Settings};
    use super::*;
    use crate::metrics::Metrics;

    fn invalid_location() -> BackupStorageLocation {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "bad", "namespace": "velero", "generation": 2, "uid": "u-1"},
            "spec": {"provider": "aws", "objectStorage": {"bucket": "b"},
                     "config": {"serverSideEncryption": "aws:kms"}},
        }))
        .unwrap()
    }

    /// A location that breaks a rule gets Unavailable with the parser's message, a Warning
    /// event, and then waits for a change: a second reconcile sends nothing at all.
    #[tokio::test]
    async fn an_invalid_location_is_reported_once_and_waits_for_a_change() {
        let (client, handle) = mock_client();
        let ctx = Context::new(
            client,
            Settings::new("velero"),
            Metrics::new(),
            Some("test".into()),
        );
        let location = invalid_location();
        let mut patched = serde_json::to_value(&location).unwrap();
        let verifier = tokio::spawn(serve(
            handle,
            vec![
                Expect {
                    method: "PATCH",
                    path: "/apis/velero.io/v1/namespaces/velero/backupstoragelocations/bad/status",
                    body: |b| {
                        let status = &b["status"];
                        assert_eq!(status["phase"], "Unavailable");
                        assert!(
                            status["message"]
                                .as_str()
                                .unwrap()
                                .contains("spec.config.kmsKeyId")
                        );
                        assert_eq!(status["conditions"][0]["type"], "Ready");
                        assert_eq!(status["conditions"][0]["reason"], "InvalidSpec");
                        assert_eq!(status["conditions"][0]["observedGeneration"], 2);
                        // Only status is written; the spec is the user's.
                        assert!(b.get("spec").is_none());
                    },
                    reply: Some({
                        patched["status"] = json!({"phase": "Unavailable"});
                        patched
                    }),
                },
                Expect {
                    method: "POST",
                    path: "/apis/events.k8s.io/v1/namespaces/velero/events",
                    body: |b| {
                        assert_eq!(b["type"], "Warning");
                        assert_eq!(b["reason"], "InvalidSpec");
                        assert_eq!(b["regarding"]["name"], "bad");
                    },
                    reply: None,
                },
            ],
        ));
        let action = reconcile(Arc::new(location.clone()), ctx.clone())
            .await
            .unwrap();
        assert_eq!(action, Action::await_change());
        verifier.await.unwrap();

        let (client, handle) = mock_client();
        let again = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        again
            .validations
            .record("bad", digest(&(Some(2_i64), "invalid")), true);
        let verifier = tokio::spawn(serve(handle, vec![]));
        assert_eq!(
            reconcile(Arc::new(location), again).await.unwrap(),
            Action::await_change()
        );
        verifier.await.unwrap();
        let failures = ctx.metrics.render();
        assert!(failures.contains(r#"veloxide_location_validations_total{location="bad",reason="InvalidSpec",result="failure"} 1"#), "{failures}");
    }

    #[test]
    fn intervals_back_off_on_failure_and_respect_zero() {
        let s = Duration::from_secs;
        assert_eq!(next_interval(s(60), s(5), 0), Some(s(60)));
        assert_eq!(next_interval(s(60), s(5), 1), Some(s(5)));
        assert_eq!(next_interval(s(60), s(5), 2), Some(s(10)));
        assert_eq!(next_interval(s(60), s(5), 5), Some(s(60)));
        // 0 means validate once: no schedule after success, retries after failure.
        assert_eq!(next_interval(s(0), s(5), 0), None);
        assert_eq!(next_interval(s(0), s(5), 3), Some(s(20)));
    }

    #[test]
    fn unchanged_inputs_wait_and_changed_inputs_validate() {
        let log = ValidationLog::default();
        let s = Duration::from_secs;
        assert_eq!(log.decide("a", 1, s(60), s(5)), Decision::Validate);
        log.record("a", 1, true);
        assert!(matches!(log.decide("a", 1, s(60), s(5)), Decision::WaitFor(d) if d > s(59)));
        assert_eq!(log.decide("a", 2, s(60), s(5)), Decision::Validate);
        assert_eq!(log.decide("a", 1, s(0), s(5)), Decision::AwaitChange);
        log.forget("a");
        assert_eq!(log.decide("a", 1, s(60), s(5)), Decision::Validate);
    }
}
