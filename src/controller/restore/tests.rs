//! The Restore controller's reconcile against a mocked API server: the finalizer first, a spec
//! that fails validation, a claim another writer beat (nothing runs), and the finalizer's
//! release when the restore is deleted.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::reconcile;
use super::state::{FINALIZER, State};
use crate::api::Restore;
use crate::controller::fixtures::{Expect, mock_client, serve};
use crate::controller::{Context, Settings};
use crate::metrics::Metrics;

const RESTORE: &str = "/apis/velero.io/v1/namespaces/velero/restores/r";
const STATUS: &str = "/apis/velero.io/v1/namespaces/velero/restores/r/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/velero/events";

fn restore(finalizers: &[&str], spec: Value, phase: Option<&str>) -> Value {
    let mut r = json!({"apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "r", "namespace": "velero", "resourceVersion": "5",
                     "finalizers": finalizers},
        "spec": spec});
    if let Some(phase) = phase {
        r["status"] = json!({"phase": phase});
    }
    r
}

fn conflict() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict",
        "code": 409, "message": "the object has been modified"})
}

/// Reconcile `object` against `expected`; the action, and the context for its metrics.
async fn reconcile_with(object: Value, expected: Vec<Expect>) -> (Action, Arc<Context>) {
    let (client, handle) = mock_client();
    let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
    let (objects, _writer) = kube::runtime::reflector::store::<Restore>();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        term: CancellationToken::new(),
        objects,
    });
    let verifier = tokio::spawn(serve(handle, expected));
    let restore: Restore = serde_json::from_value(object).unwrap();
    let action = reconcile(Arc::new(restore), state).await.unwrap();
    verifier.await.unwrap();
    (action, ctx)
}

/// Every restore is held by Velero's finalizer before anything else happens, and the write
/// is conditional on the version read (a finalizer added meanwhile is never dropped).
#[tokio::test]
async fn a_new_restore_gets_the_finalizer_first() {
    let (action, _) = reconcile_with(
        restore(&["other/keep"], json!({"backupName": "b"}), None),
        vec![Expect {
            method: "PATCH",
            path: RESTORE,
            body: |b| {
                assert_eq!(b["metadata"]["resourceVersion"], "5");
                assert_eq!(
                    b["metadata"]["finalizers"],
                    json!(["other/keep", FINALIZER])
                );
            },
            reply: Some(restore(
                &["other/keep", FINALIZER],
                json!({"backupName": "b"}),
                None,
            )),
        }],
    )
    .await;
    assert_eq!(action, Action::await_change());
}

/// A spec naming neither a backup nor a schedule ends FailedValidation, with an event and
/// the metric; nothing is claimed.
#[tokio::test]
async fn an_invalid_restore_fails_validation_and_says_why() {
    let (action, ctx) = reconcile_with(
        restore(&[FINALIZER], json!({}), None),
        vec![
            Expect {
                method: "PATCH",
                path: STATUS,
                body: |b| {
                    assert_eq!(b["status"]["phase"], "FailedValidation");
                    let errors = b["status"]["validationErrors"].to_string();
                    assert!(errors.contains("Either a backup or schedule"), "{errors}");
                },
                reply: Some(restore(&[FINALIZER], json!({}), Some("FailedValidation"))),
            },
            Expect {
                method: "POST",
                path: EVENTS,
                body: |b| assert_eq!(b["reason"], "FailedValidation"),
                reply: None,
            },
        ],
    )
    .await;
    assert_eq!(action, Action::await_change());
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains(r#"velero_restore_validation_failed_total{schedule=""} 1"#),
        "{metrics}"
    );
}

/// Two writers decide on the same resourceVersion; the second claim gets 409. That replica
/// must not run the restore: no store access, no event, no attempt counted.
#[tokio::test]
async fn a_conflicting_claim_runs_no_restore() {
    let (action, ctx) = reconcile_with(
        restore(&[FINALIZER], json!({"backupName": "b"}), None),
        vec![
            Expect {
                method: "GET",
                path: "/apis/velero.io/v1/namespaces/velero/backups/b",
                body: |_| {},
                reply: Some(json!({"apiVersion": "velero.io/v1", "kind": "Backup",
                    "metadata": {"name": "b", "namespace": "velero"},
                    "spec": {"storageLocation": "default"},
                    "status": {"phase": "Completed"}})),
            },
            Expect {
                method: "GET",
                path: "/apis/velero.io/v1/namespaces/velero/backupstoragelocations/default",
                body: |_| {},
                reply: Some(
                    json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                    "metadata": {"name": "default", "namespace": "velero"},
                    "spec": {"provider": "aws", "objectStorage": {"bucket": "b"}},
                    "status": {"phase": "Available"}}),
                ),
            },
            Expect {
                method: "PUT",
                path: STATUS,
                body: |b| {
                    // The claim carries the resourceVersion it was decided on.
                    assert_eq!(b["metadata"]["resourceVersion"], "5");
                    assert_eq!(b["status"]["phase"], "InProgress");
                },
                reply: Some(conflict()),
            },
        ],
    )
    .await;
    assert_eq!(action, Action::requeue(Duration::from_millis(500)));
    let metrics = ctx.metrics.render();
    assert!(
        !metrics.contains(r#"velero_restore_attempt_total{schedule=""} 1"#),
        "{metrics}"
    );
}

/// A deleted restore that never ran wrote nothing: its finalizer goes at once, and only its
/// own (another controller's stays), conditional on the version read.
#[tokio::test]
async fn a_deleted_restore_that_wrote_nothing_is_released() {
    let mut deleted = restore(
        &[FINALIZER, "other/keep"],
        json!({"backupName": "b"}),
        Some("New"),
    );
    deleted["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let (action, _) = reconcile_with(
        deleted.clone(),
        vec![Expect {
            method: "PATCH",
            path: RESTORE,
            body: |b| {
                assert_eq!(b["metadata"]["resourceVersion"], "5");
                assert_eq!(b["metadata"]["finalizers"], json!(["other/keep"]));
            },
            reply: Some(deleted),
        }],
    )
    .await;
    assert_eq!(action, Action::await_change());
}

/// A restore must never be stuck undeletable: when its backup is gone, where its files are
/// cannot be known; they are left, with a Warning event, and the finalizer is released.
#[tokio::test]
async fn a_deleted_restore_whose_files_cannot_be_located_is_released_with_a_warning() {
    let mut deleted = restore(&[FINALIZER], json!({"backupName": "b"}), Some("Completed"));
    deleted["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let (action, _) = reconcile_with(
        deleted.clone(),
        vec![
            Expect {
                method: "GET",
                path: "/apis/velero.io/v1/namespaces/velero/backups/b",
                body: |_| {},
                reply: Some(
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": "backups \"b\" not found"}),
                ),
            },
            Expect {
                method: "POST",
                path: EVENTS,
                body: |b| {
                    assert_eq!(b["reason"], "FilesLeft");
                    assert_eq!(b["type"], "Warning");
                },
                reply: None,
            },
            Expect {
                method: "PATCH",
                path: RESTORE,
                body: |b| assert_eq!(b["metadata"]["finalizers"], json!([])),
                reply: Some(deleted),
            },
        ],
    )
    .await;
    assert_eq!(action, Action::await_change());
}
