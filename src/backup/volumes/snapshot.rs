//! The VolumeSnapshot dance for one claim, as Velero's CSI actions do it
//! (`pkg/backup/actions/csi/pvc_action.go`, `volumesnapshot_action.go`,
//! `pkg/util/csi/volume_snapshot.go`): create a VolumeSnapshot of the claim in its namespace,
//! wait until its content has a snapshot handle and is `readyToUse`, keep the content
//! (`deletionPolicy: Retain`, labelled with the backup), and annotate the snapshot with what a
//! restore needs (handle, driver, size). Once the archive holds them, [`release`] removes the
//! in-cluster objects; the storage snapshot stays until the backup is deleted.

use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::api::label::valid_name;

pub const GROUP: &str = "snapshot.storage.k8s.io";
pub const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
/// On the archived claim and snapshot: the VolumeSnapshot's name (Velero's `VolumeSnapshotLabel`).
pub const SNAPSHOT_NAME: &str = "velero.io/volume-snapshot-name";
pub const HANDLE_ANNOTATION: &str = "velero.io/csi-volumesnapshot-handle";
pub const DRIVER_ANNOTATION: &str = "velero.io/csi-driver-name";
pub const RESTORE_SIZE_ANNOTATION: &str = "velero.io/csi-volumesnapshot-restore-size";
pub const DELETION_POLICY_ANNOTATION: &str = "velero.io/csi-vsc-deletion-policy";
pub const MUST_INCLUDE_ANNOTATION: &str = "backup.velero.io/must-include-additional-items";

/// How often a snapshot's progress is read while waiting.
const POLL: Duration = Duration::from_secs(1);

/// `VolumeSnapshot`, `VolumeSnapshotContent` or `VolumeSnapshotClass` at `snapshot.storage.k8s.io/v1`.
pub fn resource(kind: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: "v1".into(),
        api_version: format!("{GROUP}/v1"),
        kind: kind.into(),
        plural: match kind {
            "VolumeSnapshotClass" => "volumesnapshotclasses".into(),
            _ => format!("{}s", kind.to_lowercase()),
        },
    }
}

/// A snapshot that became ready, with the objects the archive and side files hold.
#[derive(Clone, Debug)]
pub struct Ready {
    pub snapshot: Value,
    pub content: Value,
    pub handle: String,
    pub size: Option<i64>,
}

/// Why a snapshot was not taken; `created` names the VolumeSnapshot when there was one.
#[derive(Clone, Debug)]
pub struct Failed {
    pub message: String,
    pub created: Option<String>,
}

/// Create the VolumeSnapshot of `namespace/claim` with `class`, labelled with the claim's
/// labels and the backup's name; returns its generated name.
pub async fn create(
    client: &kube::Client,
    backup: &str,
    namespace: &str,
    claim: &str,
    claim_labels: &std::collections::BTreeMap<String, String>,
    class: &str,
) -> Result<String, kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource("VolumeSnapshot"));
    let mut labels = claim_labels.clone();
    labels.insert(BACKUP_NAME_LABEL.into(), valid_name(backup));
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "VolumeSnapshot",
        "metadata": {"generateName": format!("velero-{claim}-"), "namespace": namespace, "labels": labels},
        "spec": {"source": {"persistentVolumeClaimName": claim}, "volumeSnapshotClassName": class},
    }))
    .expect("a VolumeSnapshot deserializes");
    let created = api.create(&PostParams::default(), &object).await?;
    Ok(created.metadata.name.unwrap_or_default())
}

/// What a VolumeSnapshot and its content say, as the wait reads them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub content: Option<String>,
    pub handle: Option<String>,
    pub ready: bool,
    /// The latest error either object reports (the snapshotter retries; it is said on timeout).
    pub error: Option<String>,
}

/// Read the progress from a VolumeSnapshot and, when bound, its content (pure).
pub fn progress(snapshot: &Value, content: Option<&Value>) -> Progress {
    let vs = &snapshot["status"];
    let vsc = content.map(|c| &c["status"]);
    let message = |s: &Value| s["error"]["message"].as_str().map(str::to_owned);
    Progress {
        content: vs["boundVolumeSnapshotContentName"]
            .as_str()
            .map(str::to_owned),
        handle: vsc.and_then(|s| s["snapshotHandle"].as_str().map(str::to_owned)),
        ready: vs["readyToUse"] == json!(true)
            && vsc.is_some_and(|s| s["readyToUse"] == json!(true)),
        error: vsc.and_then(message).or_else(|| message(vs)),
    }
}

/// Wait until the snapshot is ready (its content has a handle and both say `readyToUse`) or
/// `timeout` passes; then keep its content and annotate it. A snapshot that is not ready in
/// time is removed as Velero removes it (content set to `Delete`, snapshot deleted).
pub async fn wait_ready(
    client: &kube::Client,
    backup: &str,
    namespace: &str,
    name: &str,
    timeout: Duration,
    timeout_text: &str,
) -> Result<Ready, Failed> {
    let snapshots: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource("VolumeSnapshot"));
    let contents: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource("VolumeSnapshotContent"));
    let failed = |message: String| Failed {
        message,
        created: Some(name.to_owned()),
    };
    let started = Instant::now();
    let mut last = Progress::default();
    loop {
        match read(&snapshots, &contents, name).await {
            Ok(Some(p)) if p.ready && p.handle.is_some() => {
                last = p;
                break;
            }
            Ok(Some(p)) => last = p,
            Ok(None) => {
                return Err(failed(format!(
                    "VolumeSnapshot {namespace}/{name} disappeared while it was being taken"
                )));
            }
            Err(e) => {
                tracing::debug!(snapshot = name, error = %e, "reading the snapshot's progress")
            }
        }
        if started.elapsed() >= timeout {
            let why = last
                .error
                .as_deref()
                .map_or(String::new(), |e| format!(" (last error: {e})"));
            remove_unready(client, namespace, name, last.content.as_deref()).await;
            return Err(failed(format!(
                "VolumeSnapshot {namespace}/{name} did not become readyToUse within the csiSnapshotTimeout of {timeout_text}{why}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    let content_name = last.content.clone().unwrap_or_default();
    let handle = last.handle.clone().unwrap_or_default();
    // The content outlives the namespace and the snapshot: Retain, and labelled with the
    // backup so a deletion finds exactly this backup's contents.
    let keep = json!({
        "metadata": {"labels": {BACKUP_NAME_LABEL: valid_name(backup)}},
        "spec": {"deletionPolicy": "Retain"},
    });
    let content = contents
        .patch(&content_name, &PatchParams::default(), &Patch::Merge(&keep))
        .await
        .map_err(|e| {
            failed(format!(
                "keeping VolumeSnapshotContent {content_name} failed: {e}"
            ))
        })?;
    let content = strip(serde_json::to_value(&content).expect("an object serializes"));
    let size = content["status"]["restoreSize"].as_i64();
    let mut annotations = json!({
        DELETION_POLICY_ANNOTATION: "Retain",
        HANDLE_ANNOTATION: handle,
        DRIVER_ANNOTATION: content["spec"]["driver"],
    });
    if let Some(size) = size {
        annotations[RESTORE_SIZE_ANNOTATION] = json!(binary_quantity(size));
    }
    let patch = json!({"metadata": {"annotations": annotations}});
    let snapshot = snapshots
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            failed(format!(
                "annotating VolumeSnapshot {namespace}/{name} failed: {e}"
            ))
        })?;
    let mut snapshot = strip(serde_json::to_value(&snapshot).expect("an object serializes"));
    snapshot["metadata"]["annotations"][MUST_INCLUDE_ANNOTATION] = json!("true");
    Ok(Ready {
        snapshot,
        content,
        handle,
        size,
    })
}

async fn read(
    snapshots: &Api<DynamicObject>,
    contents: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<Progress>, kube::Error> {
    let Some(vs) = snapshots.get_opt(name).await? else {
        return Ok(None);
    };
    let vs = serde_json::to_value(&vs).expect("an object serializes");
    let content = match vs["status"]["boundVolumeSnapshotContentName"].as_str() {
        Some(c) => contents
            .get_opt(c)
            .await?
            .map(|c| serde_json::to_value(&c).expect("an object serializes")),
        None => None,
    };
    Ok(Some(progress(&vs, content.as_ref())))
}

/// Velero's `CleanupVolumeSnapshot`: a snapshot that failed is not kept (its content is set to
/// `Delete`, so the storage snapshot goes with it).
pub async fn remove_unready(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    content: Option<&str>,
) {
    if let Some(content) = content {
        let contents: Api<DynamicObject> =
            Api::all_with(client.clone(), &resource("VolumeSnapshotContent"));
        let patch = json!({"spec": {"deletionPolicy": "Delete"}});
        if let Err(e) = contents
            .patch(content, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(content, error = %e, "could not set the failed snapshot's content to Delete");
        }
    }
    let snapshots: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource("VolumeSnapshot"));
    if let Err(e) = snapshots.delete(name, &DeleteParams::default()).await {
        tracing::warn!(snapshot = name, error = %e, "could not delete the failed VolumeSnapshot");
    }
}

/// Velero's `DeleteReadyVolumeSnapshot`, once the archive holds the objects: the content
/// (already `Retain`, so the storage snapshot stays) and the snapshot leave the cluster. A
/// deletion of the backup re-creates a content from the stored handle to delete the snapshot.
pub async fn release(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    content: &str,
) -> Result<(), kube::Error> {
    let contents: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource("VolumeSnapshotContent"));
    let snapshots: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource("VolumeSnapshot"));
    ignore_gone(
        contents
            .delete(content, &DeleteParams::default())
            .await
            .map(|_| ()),
    )?;
    ignore_gone(
        snapshots
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
    )
}

fn ignore_gone(result: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

/// An object as the archive holds it: no managedFields.
fn strip(mut object: Value) -> Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    object
}

/// Bytes as Kubernetes' `resource.NewQuantity(n, BinarySI).String()` writes them: the largest
/// binary suffix that divides exactly (`1Gi`, `1536Ki`, `1000`).
pub fn binary_quantity(bytes: i64) -> String {
    const SUFFIXES: [(&str, u32); 6] = [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ];
    if bytes > 0 {
        for (suffix, shift) in SUFFIXES {
            let unit = 1i64 << shift;
            if bytes % unit == 0 {
                return format!("{}{suffix}", bytes / unit);
            }
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_both_objects() {
        let vs = |status: Value| json!({"status": status});
        #[rustfmt::skip]
        let cases: Vec<(&str, Value, Option<Value>, Progress)> = vec![
            ("nothing yet", json!({}), None, Progress::default()),
            ("bound, no handle", vs(json!({"boundVolumeSnapshotContentName": "c"})), Some(json!({"status": {}})),
                Progress { content: Some("c".into()), ..Progress::default() }),
            ("a handle but not ready", vs(json!({"boundVolumeSnapshotContentName": "c", "readyToUse": false})),
                Some(json!({"status": {"snapshotHandle": "h", "readyToUse": false, "error": {"message": "busy"}}})),
                Progress { content: Some("c".into()), handle: Some("h".into()), ready: false, error: Some("busy".into()) }),
            ("ready on both", vs(json!({"boundVolumeSnapshotContentName": "c", "readyToUse": true})),
                Some(json!({"status": {"snapshotHandle": "h", "readyToUse": true}})),
                Progress { content: Some("c".into()), handle: Some("h".into()), ready: true, error: None }),
            ("the snapshot's own error", vs(json!({"error": {"message": "no class"}})), None,
                Progress { error: Some("no class".into()), ..Progress::default() }),
        ];
        for (what, s, c, want) in cases {
            assert_eq!(progress(&s, c.as_ref()), want, "{what}");
        }
    }

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        for (bytes, text) in [
            (1 << 30, "1Gi"),
            (1536 * 1024, "1536Ki"),
            (1000, "1000"),
            (0, "0"),
            (3 << 20, "3Mi"),
        ] {
            assert_eq!(binary_quantity(bytes), text);
        }
    }
}
