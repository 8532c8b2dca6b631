//! The BackupStorageLocation controller: parse, resolve Secrets, check the store, write
//! status, events and metrics; revalidate on schedule, on spec change and on Secret change.

pub mod conditions;
mod defaults;
pub mod state;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::validations::{Decision, next_interval};
use super::{Context, Error, Result, now, patch_status, publish_to, run_until};
use crate::api::{BackupStorageLocation, BackupStorageLocationStatus};
use crate::location::{LocationConfig, inspect_pem};
use crate::storage::{KubeSecrets, Opened, Resolved, open};
use conditions::{INSECURE, Verdict, next_status, ready_reason};

pub use state::CONTROLLER;

/// Run the controller until `shutdown`. Secrets are watched too, mapped to the locations that
/// name them through the index that every reconcile keeps current.
pub async fn run(ctx: Arc<Context>, shutdown: CancellationToken) {
    let namespace = ctx.settings.namespace.clone();
    let locations: Api<BackupStorageLocation> = Api::namespaced(ctx.client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let mapper_ctx = ctx.clone();
    let config =
        kube::runtime::controller::Config::default().concurrency(ctx.settings.location_concurrency);
    let controller = Controller::new(locations, watcher::Config::default())
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
        );
    run_until(
        controller,
        shutdown,
        reconcile,
        error_policy,
        ctx,
        CONTROLLER,
    )
    .await;
}

/// Wait, then retry; count the failure by its label.
fn error_policy(_location: Arc<BackupStorageLocation>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, error, Duration::from_millis(500))
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
    defaults::ensure_single_default(&location, &api, &ctx).await?;

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
    let opened = open(&config, &source, &ctx.stores, &name).await;
    let inputs = inputs_digest(generation, &opened);
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
    let expiry = opened.resolved.as_ref().and_then(ca_expiry);
    let report = opened.check().await;
    ctx.metrics.observe_check(started.elapsed());
    match expiry {
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
    patch_status(api, &name, &body).await?;

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
        publish_to(ctx, &event, &reference).await;
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
        publish_to(ctx, &event, &reference).await;
    }
    Ok(())
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
fn inputs_digest(generation: Option<i64>, opened: &Opened) -> u64 {
    match &opened.resolved {
        Some(r) => digest(&(
            generation,
            crate::storage::Fingerprint::of(r).0,
            r.secrets.customer_key.as_ref().map(|k| k.0),
        )),
        None => digest(&(
            generation,
            opened.store.as_ref().err().map(|e| e.to_string()),
        )),
    }
}

fn digest(value: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
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
    use super::*;
    use crate::controller::fixtures::{Expect, mock_client, serve};
    use crate::controller::{Context, Settings};
    use crate::metrics::Metrics;
    use serde_json::json;

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
}
