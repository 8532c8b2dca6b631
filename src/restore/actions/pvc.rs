//! PersistentVolumeClaims (`pkg/restore/actions/pvc_action.go`, and `restore.go`'s claim
//! step): the annotations of the old binding and provisioning go, so the PV controller binds
//! and provisions afresh; a claim whose volume is re-provisioned (see `pv.rs`) loses
//! `spec.volumeName`, or it would wait for ever for a volume that is not coming back.

use serde_json::Value;

use super::pv::BIND_ANNOTATIONS;
use super::types::{Context, Stop, map_at, remove_keys, str_at};

/// What `pvc_action.go` removes besides the bind annotations.
const PROVISIONING_ANNOTATIONS: [&str; 5] = [
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
    "velero.io/volume-snapshot-name",
    "velero.io/data-upload-name",
];

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    remove_keys(object, &["metadata", "annotations"], &BIND_ANNOTATIONS);
    remove_keys(
        object,
        &["metadata", "annotations"],
        &PROVISIONING_ANNOTATIONS,
    );
    let volume = str_at(object, &["spec", "volumeName"]).map(str::to_owned);
    if let Some(volume) = volume
        && ctx.reprovisioned.contains(&volume)
        && let Some(spec) = map_at(object, &["spec"])
    {
        spec.remove("volumeName");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    fn claim(volume: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "app", "annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
                "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
                "volume.kubernetes.io/selected-node": "node-a",
                "team": "shop"}},
            "spec": {"volumeName": volume, "storageClassName": "gp3",
                     "resources": {"requests": {"storage": "1Gi"}}}})
    }

    #[test]
    fn binding_annotations_go_and_a_reprovisioned_volume_is_unnamed() {
        let t = TestContext::new();
        for (volume, keeps_name) in [("pv-gone", false), ("pv-kept", true)] {
            let mut c = claim(volume);
            restore(&mut c, &t.ctx()).unwrap();
            assert_eq!(
                c["metadata"]["annotations"],
                json!({"team": "shop"}),
                "{volume}"
            );
            assert_eq!(
                c["spec"].get("volumeName").is_some(),
                keeps_name,
                "{volume}"
            );
            assert_eq!(c["spec"]["storageClassName"], "gp3");
        }
        let mut bare = json!({"metadata": {"name": "x"}, "spec": {}});
        restore(&mut bare, &t.ctx()).unwrap();
        assert_eq!(bare, json!({"metadata": {"name": "x"}, "spec": {}}));
    }
}
