//! Admission for Schedules: the same `schedule::validate` the controller runs, so a cron the
//! parser refuses, an unknown zone or a template the Backup rules refuse is denied at
//! `kubectl apply` with the message the status would carry.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};

use super::review::{Admits, BadRequest, Read, answer, deny, read_spec, with_warnings};
use crate::api::ScheduleSpec;

/// Answer one Schedule admission request (see [`super::review`] for the HTTP contract).
pub fn review_schedule(body: &[u8]) -> Result<Vec<u8>, BadRequest> {
    answer(body, respond)
}

const SCHEDULES: Admits = Admits {
    kind: "Schedule",
    validates: "this endpoint validates velero.io Schedules",
    missing_spec_hint: "; give spec.schedule and spec.template",
};

fn respond(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let (response, spec): (_, ScheduleSpec) = match read_spec(request, &SCHEDULES) {
        Read::Spec(response, spec) => (response, spec),
        Read::Answer(answer) => return answer,
    };
    let warnings: Vec<String> = crate::schedule::ttl::shorter_than_retention(&spec)
        .into_iter()
        .collect();
    let name = request
        .object
        .as_ref()
        .and_then(|o| o.metadata.name.as_deref())
        .unwrap_or(request.name.as_str());
    let named = crate::schedule::name_problem(name);
    match (crate::schedule::validate(&spec), named) {
        (Ok(_), None) => with_warnings(response, warnings),
        (Ok(_), Some(problem)) => deny(response, problem, warnings),
        (Err(errors), named) => {
            let errors: Vec<String> = named.into_iter().chain(errors).collect();
            deny(response, errors.join("; "), warnings)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn review(object: Value, operation: &str) -> Value {
        let body = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "velero.io", "version": "v1", "kind": "Schedule"},
                "resource": {"group": "velero.io", "version": "v1", "resource": "schedules"},
                "operation": operation, "name": "nightly", "namespace": "velero",
                "userInfo": {"username": "admin"},
                "object": object,
            },
        });
        serde_json::from_slice(&review_schedule(&serde_json::to_vec(&body).unwrap()).unwrap())
            .unwrap()
    }

    fn schedule(spec: Value) -> Value {
        json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
               "metadata": {"name": "nightly", "namespace": "velero"}, "spec": spec})
    }

    #[test]
    fn table() {
        let cases = [
            (
                json!({"schedule": "CRON_TZ=Europe/Berlin 0 3 * * *", "template": {}}),
                None,
            ),
            (
                json!({"schedule": "@every 10s", "template": {"ttl": "24h"}}),
                None,
            ),
            (
                json!({"schedule": "0 3 * *", "template": {}}),
                Some("spec.schedule: expected exactly 5 fields"),
            ),
            (
                json!({"schedule": "CRON_TZ=Mars/Olympus 0 3 * * *", "template": {}}),
                Some("spec.schedule: unknown time zone \"Mars/Olympus\""),
            ),
            (
                json!({"schedule": "@daily", "template": {"ttl": "a week"}}),
                Some("spec.template.ttl: \"a week\" is not a duration"),
            ),
            (
                json!({"schedule": "@daily", "template": {"includedNamespaces": "app"}}),
                Some("the Schedule could not be read: spec.template.includedNamespaces"),
            ),
            (json!({"template": {}}), Some("missing field `schedule`")),
        ];
        for (spec, want) in cases {
            let answer = review(schedule(spec.clone()), "CREATE");
            let response = &answer["response"];
            assert_eq!(response["uid"], "u-1");
            match want {
                None => assert_eq!(response["allowed"], true, "{spec}: {response}"),
                Some(text) => {
                    assert_eq!(response["allowed"], false, "{spec}");
                    assert_eq!(response["status"]["code"], 403);
                    let message = response["status"]["message"].as_str().unwrap();
                    assert!(message.contains(text), "{spec}: {message:?} lacks {text:?}");
                }
            }
        }
        // A TTL shorter than what retention keeps is allowed, with a warning naming both.
        let answer = review(
            schedule(json!({"schedule": "@daily", "template": {"ttl": "24h"},
                            "retention": {"keepDaily": 7}})),
            "CREATE",
        );
        assert_eq!(answer["response"]["allowed"], true);
        let warning = answer["response"]["warnings"][0].as_str().unwrap();
        assert!(
            warning.starts_with(
                "spec.template.ttl: 24h is shorter than the 168h spec.retention.keepDaily"
            ),
            "{warning}"
        );
        let answer = review(
            schedule(json!({"schedule": "@daily", "template": {}})),
            "CREATE",
        );
        assert!(answer["response"].get("warnings").is_none(), "{answer}");
        // A name too long for its backups' label is refused, naming the field.
        let mut long = schedule(json!({"schedule": "@daily", "template": {}}));
        long["metadata"]["name"] = json!("n".repeat(64));
        let answer = review(long, "CREATE");
        assert_eq!(answer["response"]["allowed"], false);
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("metadata.name: 64 characters"),
            "{message}"
        );
        // Deleting a schedule is never refused.
        let answer = review(schedule(json!({"schedule": "nope"})), "DELETE");
        assert_eq!(answer["response"]["allowed"], true);
    }
}
