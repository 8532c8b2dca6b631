//! Reconcile against a mocked API server: what the schedule controller sends, in order.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use super::reconcile;
use crate::api::Schedule;
use crate::controller::fixtures::mock_client;
use crate::controller::{Context, Settings};
use crate::metrics::Metrics;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn reply(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

async fn next(
    handle: &mut Handle,
    method: &str,
    path: &str,
) -> (Value, tower_test::mock::SendResponse<Response<Body>>) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(1), handle.next_request())
        .await
        .unwrap_or_else(|_| panic!("no {method} {path} within 1s"))
        .unwrap();
    assert_eq!(request.method().as_str(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path);
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (body, send)
}

fn schedule(created: &str) -> Value {
    json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "s", "namespace": "velero", "uid": "u-1", "resourceVersion": "7",
                     "creationTimestamp": created},
        "spec": {"schedule": "@every 10s", "template": {"includedNamespaces": ["app"]}},
        "status": {"phase": "Enabled"},
    })
}

/// Another replica (or this one before a restart) already created the backup of the due run:
/// the create answers 409 AlreadyExists, and the schedule records the run, creating nothing
/// else and publishing no event; the status write carries the resourceVersion read.
#[tokio::test]
async fn an_existing_backup_of_the_due_run_is_recorded_not_doubled() {
    let (client, mut handle) = mock_client();
    let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
    let created = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(15);
    let created = created.round(jiff::Unit::Second).unwrap().to_string();
    let object = schedule(&created);
    let schedule: Schedule = serde_json::from_value(object.clone()).unwrap();
    let verifier = tokio::spawn(async move {
        let (_, send) = next(
            &mut handle,
            "GET",
            "/apis/velero.io/v1/namespaces/velero/backups",
        )
        .await;
        send.send_response(reply(200, json!({"apiVersion": "velero.io/v1", "kind": "BackupList", "metadata": {}, "items": []})));
        let (_, send) = next(
            &mut handle,
            "GET",
            "/apis/velero.io/v1/namespaces/velero/schedules/s",
        )
        .await;
        send.send_response(reply(200, object));
        let (body, send) = next(
            &mut handle,
            "POST",
            "/apis/velero.io/v1/namespaces/velero/backups",
        )
        .await;
        let name = body["metadata"]["name"].as_str().unwrap().to_owned();
        assert!(name.starts_with("s-") && name.len() == 16, "{name}");
        assert_eq!(body["metadata"]["labels"]["velero.io/schedule-name"], "s");
        assert_eq!(body["spec"]["includedNamespaces"], json!(["app"]));
        send.send_response(reply(409, json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409,
            "message": format!("backups.velero.io \"{name}\" already exists"),
        })));
        let (body, send) = next(
            &mut handle,
            "PATCH",
            "/apis/velero.io/v1/namespaces/velero/schedules/s/status",
        )
        .await;
        assert_eq!(body["metadata"]["resourceVersion"], "7");
        let last: jiff::Timestamp = body["status"]["lastBackup"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        // The run recorded is the cron time the name stands for.
        assert_eq!(format!("s-{}", last.strftime("%Y%m%d%H%M%S")), name);
        assert_eq!(body["status"]["phase"], "Enabled");
        assert!(body["status"]["nextRun"].is_string());
        let mut written = schedule_json_with(&body);
        written["metadata"]["resourceVersion"] = json!("8");
        send.send_response(reply(200, written));
        let more = tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await;
        assert!(
            !matches!(more, Ok(Some(_))),
            "unexpected request after recording the run"
        );
    });
    let action = reconcile(Arc::new(schedule), ctx.clone()).await.unwrap();
    verifier.await.unwrap();
    // It sleeps until the next run (at most 10s away), not a fixed poll.
    assert!(
        format!("{action:?}").contains("requeue_after: Some("),
        "{action:?}"
    );
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains("veloxide_schedule_next_run_timestamp_seconds{schedule=\"s\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("velero_backup_attempt_total{schedule=\"s\"} 0"),
        "{metrics}"
    );
}

fn schedule_json_with(patch: &Value) -> Value {
    let mut s = schedule("2026-12-01T00:00:00Z");
    s["status"] = patch["status"].clone();
    s
}

/// A schedule that is not due writes its next run and sleeps until then: no backup, no GET.
#[tokio::test]
async fn a_schedule_not_due_sleeps_until_its_next_run() {
    let (client, mut handle) = mock_client();
    let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
    let created = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap();
    let mut object = schedule(&created.to_string());
    object["spec"]["schedule"] = json!("@every 1h");
    let schedule: Schedule = serde_json::from_value(object.clone()).unwrap();
    let verifier = tokio::spawn(async move {
        let (_, send) = next(
            &mut handle,
            "GET",
            "/apis/velero.io/v1/namespaces/velero/backups",
        )
        .await;
        send.send_response(reply(200, json!({"apiVersion": "velero.io/v1", "kind": "BackupList", "metadata": {}, "items": []})));
        let (body, send) = next(
            &mut handle,
            "PATCH",
            "/apis/velero.io/v1/namespaces/velero/schedules/s/status",
        )
        .await;
        let next_run: jiff::Timestamp =
            body["status"]["nextRun"].as_str().unwrap().parse().unwrap();
        assert_eq!(next_run, created + jiff::SignedDuration::from_hours(1));
        send.send_response(reply(200, object));
        // Nothing more (the client may be gone already: that is not a request).
        let more = tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await;
        assert!(!matches!(more, Ok(Some(_))), "unexpected request");
    });
    let action = reconcile(Arc::new(schedule), ctx).await.unwrap();
    verifier.await.unwrap();
    let text = format!("{action:?}");
    assert!(text.contains("3599") || text.contains("3600"), "{text}");
}

/// keepLastSuccessful holds against TTL: the collector asks `kept_by_retention`, which keeps
/// the newest Completed backup of a schedule with retention and no other.
#[tokio::test]
async fn the_newest_completed_backup_of_a_schedule_with_retention_is_kept_past_its_ttl() {
    use crate::controller::fixtures::{Expect, serve};
    let backup = |name: &str| {
        json!({"apiVersion": "velero.io/v1", "kind": "Backup",
               "metadata": {"name": name, "namespace": "velero",
                            "labels": {"velero.io/schedule-name": "s",
                                       "veloxide.io/schedule-uid": "u-1"}},
               "spec": {}, "status": {"phase": "Completed"}})
    };
    let mut schedule = schedule("2026-11-01T00:00:00Z");
    schedule["spec"]["retention"] = json!({"keepDaily": 7});
    let list = json!({"apiVersion": "velero.io/v1", "kind": "BackupList", "metadata": {},
                      "items": [backup("s-20261201030000"), backup("s-20261202030000")]});
    for (name, kept) in [("s-20261202030000", true), ("s-20261201030000", false)] {
        let (client, handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let server = tokio::spawn(serve(
            handle,
            vec![
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/schedules/s",
                    body: |_| {},
                    reply: Some(schedule.clone()),
                },
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/backups",
                    body: |_| {},
                    reply: Some(list.clone()),
                },
            ],
        ));
        let b: crate::api::Backup = serde_json::from_value(backup(name)).unwrap();
        let got = crate::controller::kept_by_retention(&ctx, &b)
            .await
            .unwrap();
        assert_eq!(got, kept, "{name}");
        drop(ctx);
        server.await.unwrap();
    }
}
