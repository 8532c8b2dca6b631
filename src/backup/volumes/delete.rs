//! Deleting a backup's storage snapshots, as Velero's VolumeSnapshotContent delete action does
//! (`internal/delete/actions/csi/volumesnapshotcontent_action.go`): for each content the backup
//! recorded (`<backup>-csi-volumesnapshotcontents.json.gz`) and labelled as its own, a content
//! is created again from the stored handle with `deletionPolicy: Delete`, then deleted: the
//! snapshotter deletes the storage snapshot. A handle another backup also recorded is kept.

use std::collections::BTreeSet;

use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};

use super::snapshot::{BACKUP_NAME_LABEL, GROUP, resource};
use crate::api::label::valid_name;
use crate::storage::ObjectStore;

/// A snapshot a backup recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub content: String,
    pub driver: String,
    pub handle: String,
    /// The content's labels, kept on the content that deletes it as Velero keeps them: a
    /// snapshotter deployed per node (distributed snapshotting) acts only on contents
    /// labelled with its node.
    pub labels: Value,
}

/// The side file's key.
pub fn contents_key(backup: &str) -> String {
    crate::backup::backup_key(
        backup,
        &format!("{backup}-csi-volumesnapshotcontents.json.gz"),
    )
}

/// The snapshots `backup` recorded as its own (a content labelled with its name, with a
/// handle), from its side file; none when it has no such file.
pub async fn recorded(store: &ObjectStore, backup: &str) -> Result<Vec<Recorded>, String> {
    let body = match store.get(&contents_key(backup)).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {} failed: {e}", contents_key(backup))),
    };
    let gz = body
        .read_all()
        .await
        .map_err(|e| format!("reading {} failed: {e}", contents_key(backup)))?;
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut json)
        .map_err(|e| format!("{} is not gzip: {e}", contents_key(backup)))?;
    let contents: Vec<Value> = serde_json::from_slice(&json).map_err(|e| {
        format!(
            "{} is not a list of VolumeSnapshotContents: {e}",
            contents_key(backup)
        )
    })?;
    Ok(owned(backup, &contents))
}

/// The contents labelled as `backup`'s, with a handle (pure; Velero's `HasBackupLabel` check).
pub fn owned(backup: &str, contents: &[Value]) -> Vec<Recorded> {
    let label = valid_name(backup);
    contents
        .iter()
        .filter(|c| c["metadata"]["labels"][BACKUP_NAME_LABEL].as_str() == Some(label.as_str()))
        .filter_map(|c| {
            Some(Recorded {
                content: c["metadata"]["name"].as_str()?.to_owned(),
                driver: c["spec"]["driver"].as_str()?.to_owned(),
                handle: c["status"]["snapshotHandle"].as_str()?.to_owned(),
                labels: c["metadata"]["labels"].clone(),
            })
        })
        .collect()
}

/// Which of `ours` to delete: those whose handle no other backup recorded (pure).
pub fn to_delete<'r>(
    ours: &'r [Recorded],
    others: &BTreeSet<String>,
) -> (Vec<&'r Recorded>, Vec<&'r Recorded>) {
    ours.iter().partition(|r| !others.contains(&r.handle))
}

/// Delete one storage snapshot through a content made for it (named after the backup's uid and
/// the old content, so a retry re-uses it).
pub async fn delete_snapshot(
    client: &kube::Client,
    backup_uid: &str,
    r: &Recorded,
) -> Result<(), String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource("VolumeSnapshotContent"));
    let suffix: String = openssl::sha::sha256(format!("{backup_uid}/{}", r.content).as_bytes())
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("vsc-delete-{suffix}");
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshotContent",
        "metadata": {"name": name, "labels": r.labels, "finalizers": [SNAPSHOTTER_FINALIZER]},
        "spec": {
            "deletionPolicy": "Delete",
            "driver": r.driver,
            "source": {"snapshotHandle": r.handle},
            // A snapshot that does not exist: the content is never bound, only deleted.
            "volumeSnapshotRef": {"apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshot",
                                  "namespace": format!("ns-{suffix}"), "name": format!("name-{suffix}")},
        },
    }))
    .expect("a VolumeSnapshotContent deserializes");
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => {
            return Err(format!(
                "creating a content to delete snapshot {} failed: {e}",
                r.handle
            ));
        }
    }
    // The snapshotter deletes the storage snapshot of an unbound content being deleted, if it
    // can see it being deleted: the finalizer (which the backed-up content carries, and which
    // Velero's copy keeps) holds it until then. The snapshotter has seen the content once it
    // wrote its status; Velero waits a fixed 2 s instead, which a busy snapshotter can lose.
    let seen = wait(WAIT_TAKEN, || async {
        api.get_opt(&name)
            .await
            .ok()
            .flatten()
            .is_some_and(|c| c.data.pointer("/status/snapshotHandle").is_some())
    })
    .await;
    let deleted = api.delete(&name, &DeleteParams::default()).await;
    if !seen {
        return Err(format!(
            "the snapshotter of driver {} did not read the content made to delete snapshot {} within {}s; \
             it is deleted, and the snapshot may stay",
            r.driver,
            r.handle,
            WAIT_TAKEN.as_secs()
        ));
    }
    match deleted {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => {
            return Err(format!(
                "deleting the content of snapshot {} failed: {e}",
                r.handle
            ));
        }
    }
    // Gone means the snapshotter deleted the storage snapshot and released its finalizer.
    if wait(WAIT_DELETED, || async {
        matches!(api.get_opt(&name).await, Ok(None))
    })
    .await
    {
        Ok(())
    } else {
        Err(format!(
            "snapshot {} is not deleted yet: its content {name} still waits for the snapshotter",
            r.handle
        ))
    }
}

/// The finalizer that keeps a content until the CSI snapshotter has acted on its deletion.
const SNAPSHOTTER_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection";
const WAIT_TAKEN: std::time::Duration = std::time::Duration::from_secs(30);
const WAIT_DELETED: std::time::Duration = std::time::Duration::from_secs(60);

/// Poll `check` every half second until it holds or `within` passes.
async fn wait<F, Fut>(within: std::time::Duration, check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_backup_s_own_contents_and_not_those_another_backup_recorded() {
        let content = |name: &str, label: Option<&str>, handle: Option<&str>| {
            json!({"metadata": {"name": name, "labels": label.map(|l| json!({BACKUP_NAME_LABEL: l}))},
                   "spec": {"driver": "d"}, "status": {"snapshotHandle": handle}})
        };
        let contents = [
            content("c1", Some("b"), Some("h1")),
            content("c2", Some("other"), Some("h2")),
            content("c3", None, Some("h3")),
            content("c4", Some("b"), None),
            content("c5", Some("b"), Some("h5")),
        ];
        let ours = owned("b", &contents);
        let handles: Vec<&str> = ours.iter().map(|r| r.handle.as_str()).collect();
        assert_eq!(handles, ["h1", "h5"]);
        let (delete, keep) = to_delete(&ours, &["h5".to_owned()].into());
        assert_eq!(delete.len(), 1);
        assert_eq!(delete[0].handle, "h1");
        assert_eq!(keep[0].handle, "h5");
        // A name longer than a label value is matched by its label form, as Velero writes it.
        let long = "b".repeat(70);
        let labelled = content("c6", Some(&valid_name(&long)), Some("h6"));
        assert_eq!(owned(&long, &[labelled]).len(), 1);
    }
}
