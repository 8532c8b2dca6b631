//! CSI snapshots (`pkg/restore/actions/csi/`: the PVC, VolumeSnapshot and
//! VolumeSnapshotContent actions, and `restore.go`'s PV step): a claim backed up with a
//! snapshot comes back provisioned from it. The content is re-created statically from the
//! stored snapshot handle (`deletionPolicy: Retain`), the snapshot points at it, both under a
//! new name (`sha256(<restore uid>/<snapshot name>)`, Velero's, so Velero and veloxide restores
//! of the same backup never collide), and the claim's `dataSource` names the snapshot. Its old
//! volume is not restored. With `restorePVs: false` none of this happens: the claim gets a new,
//! empty volume.

use serde_json::{Value, json};

use super::types::{Context, Stop, map_at, str_at};

/// The archived claim's annotation naming its VolumeSnapshot (Velero's `VolumeSnapshotLabel`).
pub const SNAPSHOT_NAME: &str = "velero.io/volume-snapshot-name";
const GROUP: &str = "snapshot.storage.k8s.io";

/// Velero's `GenerateSha256FromRestoreUIDAndVsName`.
pub fn restored_name(restore_uid: &str, snapshot: &str) -> String {
    openssl::sha::sha256(format!("{restore_uid}/{snapshot}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The claim: provisioned from its restored snapshot (`csi/pvc_action.go`). Runs before
/// `velero.io/pvc`, which removes the annotation this reads (Velero's action reads the
/// backed-up item, which keeps it).
pub fn claim(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    let snapshot = str_at(object, &["metadata", "annotations", SNAPSHOT_NAME]).map(str::to_owned);
    let Some(spec) = map_at(object, &["spec"]) else {
        return Ok(());
    };
    if !ctx.rules.restore_pvs {
        spec.remove("volumeName");
        spec.remove("dataSource");
        spec.remove("dataSourceRef");
        return Ok(());
    }
    let Some(snapshot) = snapshot else {
        return Ok(());
    };
    spec.remove("volumeName");
    spec.remove("dataSourceRef");
    spec.insert(
        "dataSource".into(),
        json!({"apiGroup": GROUP, "kind": "VolumeSnapshot",
               "name": restored_name(&ctx.rules.restore_uid, &snapshot)}),
    );
    Ok(())
}

/// The VolumeSnapshot: renamed, pointing at its restored content, independent of any class
/// (`csi/volumesnapshot_action.go`).
pub fn snapshot(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if !ctx.rules.restore_pvs {
        return Err(Stop::skip(
            "spec.restorePVs is false: volumes are not restored from snapshots",
        ));
    }
    let name = str_at(object, &["metadata", "name"])
        .unwrap_or_default()
        .to_owned();
    if str_at(object, &["status", "boundVolumeSnapshotContentName"]).is_none() {
        return Err(Stop::Refuse(format!(
            "VolumeSnapshot {name} was backed up without a bound content: there is no snapshot to restore from"
        )));
    }
    let restored = restored_name(&ctx.rules.restore_uid, &name);
    object["metadata"]["name"] = json!(restored);
    object["spec"] = json!({"source": {"volumeSnapshotContentName": restored}});
    if let Some(annotations) = map_at(object, &["metadata", "annotations"]) {
        annotations.insert("velero.io/csi-vsc-deletion-policy".into(), json!("Retain"));
    }
    Ok(())
}

/// The VolumeSnapshotContent: re-created statically from the stored handle, renamed, bound to
/// the restored snapshot in the mapped namespace, kept (`csi/volumesnapshotcontent_action.go`).
pub fn content(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if !ctx.rules.restore_pvs {
        return Err(Stop::skip(
            "spec.restorePVs is false: volumes are not restored from snapshots",
        ));
    }
    let name = str_at(object, &["metadata", "name"])
        .unwrap_or_default()
        .to_owned();
    let Some(handle) = str_at(object, &["status", "snapshotHandle"]).map(str::to_owned) else {
        return Err(Stop::Refuse(format!(
            "VolumeSnapshotContent {name} was backed up without a snapshot handle: there is no snapshot to restore from"
        )));
    };
    let snapshot = str_at(object, &["spec", "volumeSnapshotRef", "name"])
        .unwrap_or_default()
        .to_owned();
    let namespace = str_at(object, &["spec", "volumeSnapshotRef", "namespace"]).unwrap_or_default();
    let namespace = ctx.rules.target_namespace(namespace).to_owned();
    let restored = restored_name(&ctx.rules.restore_uid, &snapshot);
    object["metadata"]["name"] = json!(restored);
    let spec = &mut object["spec"];
    spec["deletionPolicy"] = json!("Retain");
    spec["source"] = json!({"snapshotHandle": handle});
    spec["volumeSnapshotRef"] = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshot",
                                       "namespace": namespace, "name": restored});
    // Velero names a class of the same driver when the cluster has one (for its secrets);
    // without a class the content still binds, so none is named.
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("volumeSnapshotClassName");
    }
    Ok(())
}

/// A PV whose claim comes back from a snapshot is not restored (`restore.go`: a PV with a CSI
/// snapshot): the provisioner makes a new one from the snapshot.
pub fn volume(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    let name = str_at(object, &["metadata", "name"]).unwrap_or_default();
    if ctx.rules.restore_pvs && ctx.snapshotted_volumes.contains(name) {
        return Err(Stop::skip(
            "the volume is not restored: its claim is provisioned from the backup's CSI snapshot",
        ));
    }
    Ok(())
}

/// The volumes whose claims in `claims` (archived PersistentVolumeClaims) have a snapshot.
pub fn snapshotted_volumes<'v>(
    claims: impl Iterator<Item = &'v Value>,
) -> std::collections::BTreeSet<String> {
    claims
        .filter(|c| str_at(c, &["metadata", "annotations", SNAPSHOT_NAME]).is_some())
        .filter_map(|c| str_at(c, &["spec", "volumeName"]).map(str::to_owned))
        .collect()
}

/// The snapshot a claim about to be created is provisioned from, if any.
pub fn source_snapshot(claim: &Value) -> Option<&str> {
    let source = claim.pointer("/spec/dataSource")?;
    (source["kind"] == "VolumeSnapshot" && source["apiGroup"] == GROUP)
        .then(|| source["name"].as_str())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;

    const UID: &str = "r-uid";

    #[test]
    fn names_are_velero_s() {
        // sha256("r-uid/velero-data-abcde"), as Go's hex.EncodeToString(sha256.Sum256(...)).
        assert_eq!(restored_name(UID, "velero-data-abcde").len(), 64);
        assert_eq!(
            restored_name("", ""),
            "8a5edab282632443219e051e4ade2d1d5bbc671c781051bf1437897cbdfea0f1"
        );
    }

    #[test]
    fn a_claim_with_a_snapshot_is_provisioned_from_it() {
        let t = TestContext::new();
        let mut c = json!({"metadata": {"name": "data", "annotations": {SNAPSHOT_NAME: "velero-data-abcde"}},
                           "spec": {"volumeName": "pvc-1", "dataSourceRef": {"kind": "X"}}});
        claim(&mut c, &t.ctx()).unwrap();
        assert_eq!(
            c["spec"],
            json!({"dataSource": {"apiGroup": GROUP, "kind": "VolumeSnapshot",
            "name": restored_name(UID, "velero-data-abcde")}})
        );
        let mut plain = json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pvc-1"}});
        claim(&mut plain, &t.ctx()).unwrap();
        assert_eq!(
            plain["spec"]["volumeName"], "pvc-1",
            "no snapshot: left to velero.io/pvc"
        );
        let mut off = TestContext::new();
        off.rules.restore_pvs = false;
        let mut c = json!({"metadata": {"annotations": {SNAPSHOT_NAME: "s"}},
                           "spec": {"volumeName": "pvc-1", "dataSource": {"kind": "VolumeSnapshot"}}});
        claim(&mut c, &off.ctx()).unwrap();
        assert_eq!(
            c["spec"],
            json!({}),
            "restorePVs false: a new, empty volume"
        );
    }

    #[test]
    fn the_snapshot_and_its_content_are_re_created_statically() {
        let t = TestContext::new();
        let mut vs = json!({"metadata": {"name": "velero-data-abcde", "namespace": "app-copy", "annotations": {}},
            "spec": {"source": {"persistentVolumeClaimName": "data"}, "volumeSnapshotClassName": "c"},
            "status": {"boundVolumeSnapshotContentName": "snapcontent-1"}});
        snapshot(&mut vs, &t.ctx()).unwrap();
        let name = restored_name(UID, "velero-data-abcde");
        assert_eq!(vs["metadata"]["name"], json!(name));
        assert_eq!(
            vs["spec"],
            json!({"source": {"volumeSnapshotContentName": name}})
        );
        assert_eq!(
            vs["metadata"]["annotations"]["velero.io/csi-vsc-deletion-policy"],
            "Retain"
        );
        let mut vsc = json!({"metadata": {"name": "snapcontent-1"},
            "spec": {"deletionPolicy": "Delete", "driver": "d", "source": {"volumeHandle": "vol-1"},
                     "volumeSnapshotClassName": "c",
                     "volumeSnapshotRef": {"name": "velero-data-abcde", "namespace": "app", "uid": "old"}},
            "status": {"snapshotHandle": "snap-1"}});
        content(&mut vsc, &t.ctx()).unwrap();
        assert_eq!(vsc["metadata"]["name"], json!(name));
        assert_eq!(
            vsc["spec"],
            json!({"deletionPolicy": "Retain", "driver": "d",
            "source": {"snapshotHandle": "snap-1"},
            "volumeSnapshotRef": {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                                  "namespace": "app-copy", "name": name}})
        );
        let mut no_handle = json!({"metadata": {"name": "x"}, "spec": {}, "status": {}});
        assert!(
            matches!(content(&mut no_handle, &t.ctx()), Err(Stop::Refuse(m)) if m.contains("x"))
        );
        let mut off = TestContext::new();
        off.rules.restore_pvs = false;
        assert!(matches!(
            snapshot(&mut vs.clone(), &off.ctx()),
            Err(Stop::Skip { .. })
        ));
    }

    #[test]
    fn a_snapshotted_claim_s_volume_is_not_restored() {
        let claims = [
            json!({"metadata": {"annotations": {SNAPSHOT_NAME: "s"}}, "spec": {"volumeName": "pv-snap"}}),
            json!({"metadata": {}, "spec": {"volumeName": "pv-plain"}}),
        ];
        let set = snapshotted_volumes(claims.iter());
        assert_eq!(set, ["pv-snap".to_owned()].into());
        let mut t = TestContext::new();
        t.snapshotted_volumes = set;
        assert!(volume(&mut json!({"metadata": {"name": "pv-snap"}}), &t.ctx()).is_err());
        assert!(volume(&mut json!({"metadata": {"name": "pv-plain"}}), &t.ctx()).is_ok());
    }
}
