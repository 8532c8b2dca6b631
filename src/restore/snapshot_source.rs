//! Before a claim is created from a restored VolumeSnapshot: wait until the snapshot is usable,
//! or fail the claim naming the storage snapshot that is gone. Without this the claim would be
//! created and stay Pending for ever, its restore Completed. (Velero creates the claim and
//! leaves it Pending; this is veloxide's addition, see docs/volumes.md.)

use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::Value;

/// How long a restored snapshot may take to become ready before its claim fails.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// An error the snapshot's content keeps reporting this long is taken as final.
const ERROR_FOR: Duration = Duration::from_secs(5);

fn resource(kind: &str) -> ApiResource {
    ApiResource {
        group: "snapshot.storage.k8s.io".into(),
        version: "v1".into(),
        api_version: "snapshot.storage.k8s.io/v1".into(),
        kind: kind.into(),
        plural: match kind {
            "VolumeSnapshotClass" => "volumesnapshotclasses".into(),
            _ => format!("{}s", kind.to_lowercase()),
        },
    }
}

/// Whether `claim` (about to be created) can be provisioned from `snapshot` in its namespace.
pub async fn check(client: &kube::Client, claim: &Value, snapshot: &str) -> Result<(), String> {
    let namespace = claim
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = claim
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // An existing claim is the existing-resource policy's business, not the snapshot's.
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), namespace);
    if matches!(claims.get_opt(name).await, Ok(Some(_))) {
        return Ok(());
    }
    let snapshots: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource("VolumeSnapshot"));
    let contents: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource("VolumeSnapshotContent"));
    let started = Instant::now();
    let mut erring_since: Option<Instant> = None;
    let mut last = String::from("it did not become readyToUse");
    loop {
        let vs = snapshots
            .get_opt(snapshot)
            .await
            .map_err(|e| format!("reading VolumeSnapshot {namespace}/{snapshot} failed: {e}"))?;
        let Some(vs) = vs else {
            return Err(format!(
                "its VolumeSnapshot {namespace}/{snapshot} was not restored (left out by the restore's filters, \
                 or missing from the backup): the claim has no snapshot to be provisioned from"
            ));
        };
        let vs = serde_json::to_value(&vs).expect("an object serializes");
        if vs["status"]["readyToUse"] == Value::Bool(true) {
            return Ok(());
        }
        let content_name = vs["spec"]["source"]["volumeSnapshotContentName"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let content = contents
            .get_opt(&content_name)
            .await
            .ok()
            .flatten()
            .map(|c| serde_json::to_value(&c).expect("an object serializes"));
        let handle = content
            .as_ref()
            .and_then(|c| {
                c["spec"]["source"]["snapshotHandle"]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let error = content
            .as_ref()
            .and_then(|c| c["status"]["error"]["message"].as_str().map(str::to_owned))
            .or_else(|| vs["status"]["error"]["message"].as_str().map(str::to_owned));
        match error {
            Some(message) => {
                last = format!("its content {content_name} reports: {message}");
                let since = *erring_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= ERROR_FOR {
                    return Err(gone(namespace, snapshot, &handle, &last));
                }
            }
            None => erring_since = None,
        }
        if started.elapsed() >= READY_WITHIN {
            return Err(gone(namespace, snapshot, &handle, &last));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn gone(namespace: &str, snapshot: &str, handle: &str, why: &str) -> String {
    format!(
        "the storage snapshot {handle} (VolumeSnapshot {namespace}/{snapshot}) cannot be restored: {why}; \
         the snapshot is gone or unusable, so the claim is not created"
    )
}
