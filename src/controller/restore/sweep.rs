//! What a new leader does before its restore controller starts: every restore left
//! `InProgress` (its runner died or lost the lease) is marked `Failed` with Velero's message.
//! Objects it already created stay; a new restore with `existingResourcePolicy` finishes
//! the job.
//!
//! Each write is conditional on the version listed, so a runner that finished in the meantime
//! keeps its status; a restore whose status cannot be written is reported (log and event) and
//! skipped, and the others are swept all the same.

use kube::api::ListParams;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::state::ACTION;
use super::status::{RESTART_MESSAGE, orphaned};
use crate::api::{Restore, RestorePhase};
use crate::controller::claim::mark_orphaned;
use crate::controller::fence::Swept;
use crate::controller::{Context, now, publish};

/// Fail every `InProgress` restore. Only listing them can fail the sweep as a whole.
pub async fn fail_in_progress(ctx: &Context) -> Result<Swept, kube::Error> {
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let mut swept = Swept::default();
    for restore in api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|r| r.phase() == RestorePhase::InProgress)
    {
        swept.found += 1;
        let name = restore.name_any();
        let status = orphaned(restore.status.as_ref(), &now());
        // None: its runner finished it after all (its status stands), or it was reported and
        // skipped.
        if mark_orphaned(ctx, restore, &status, &mut swept, "")
            .await
            .is_none()
        {
            continue;
        }
        swept.failed += 1;
        tracing::warn!(restore = %name, "{RESTART_MESSAGE}");
        ctx.metrics
            .restores
            .failed_total
            .with_label_values(&[restore.schedule()])
            .inc();
        publish(
            ctx,
            restore,
            EventType::Warning,
            "Failed",
            ACTION,
            RESTART_MESSAGE,
        )
        .await;
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::controller::fixtures::{Expect, mock_client, serve};
    use crate::controller::{Context, Settings};
    use crate::metrics::Metrics;

    fn restore(name: &str) -> Value {
        json!({"apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": name, "namespace": "velero", "resourceVersion": "5"},
            "spec": {"backupName": "b"}, "status": {"phase": "InProgress"}})
    }

    /// One restore whose status the API server refuses must not keep the others InProgress:
    /// it is reported (event) and skipped, the next one is failed.
    #[tokio::test]
    async fn a_restore_whose_status_cannot_be_written_is_reported_and_skipped() {
        let (client, handle) = mock_client();
        let ctx = Context::new(client, Settings::new("velero"), Metrics::new(), None);
        let mut failed = restore("r2");
        failed["status"]["phase"] = json!("Failed");
        let verifier = tokio::spawn(serve(
            handle,
            vec![
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/restores",
                    body: |_| {},
                    reply: Some(json!({"apiVersion": "velero.io/v1", "kind": "RestoreList",
                        "metadata": {"resourceVersion": "9"},
                        "items": [restore("r1"), restore("r2")]})),
                },
                Expect {
                    method: "PATCH",
                    path: "/apis/velero.io/v1/namespaces/velero/restores/r1/status",
                    body: |b| assert_eq!(b["metadata"]["resourceVersion"], "5"),
                    reply: Some(json!({"kind": "Status", "apiVersion": "v1", "code": 422,
                        "status": "Failure", "reason": "Invalid",
                        "message": "Restore.velero.io \"r1\" is invalid: status.phase: refused"})),
                },
                Expect {
                    method: "POST",
                    path: "/apis/events.k8s.io/v1/namespaces/velero/events",
                    body: |b| {
                        assert_eq!(b["reason"], "SweepFailed");
                        assert_eq!(b["regarding"]["name"], "r1");
                        assert!(b["note"].as_str().unwrap().contains("is invalid"), "{b}");
                    },
                    reply: None,
                },
                Expect {
                    method: "PATCH",
                    path: "/apis/velero.io/v1/namespaces/velero/restores/r2/status",
                    body: |b| {
                        assert_eq!(b["metadata"]["resourceVersion"], "5");
                        assert_eq!(b["status"]["phase"], "Failed");
                    },
                    reply: Some(failed),
                },
                Expect {
                    method: "POST",
                    path: "/apis/events.k8s.io/v1/namespaces/velero/events",
                    body: |b| {
                        assert_eq!(b["reason"], "Failed");
                        assert_eq!(b["regarding"]["name"], "r2");
                    },
                    reply: None,
                },
            ],
        ));
        let swept = fail_in_progress(&ctx).await.unwrap();
        verifier.await.unwrap();
        assert_eq!(
            swept,
            Swept {
                found: 2,
                failed: 1,
                skipped: vec!["r1".into()],
            }
        );
    }
}
