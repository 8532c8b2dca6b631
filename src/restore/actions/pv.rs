//! PersistentVolumes (`pkg/restore/restore.go`: `hasDeleteReclaimPolicy`,
//! `handleSkippedPVHasRetainPolicy`, `resetVolumeBindingInfo`). A PV whose claim has a CSI
//! snapshot is not restored (`csi.rs`); every other PV is one "without a snapshot":
//! - reclaim policy `Delete`: not restored. Its claim is provisioned a new volume. Restored as
//!   it was, the PV would name the old claim's uid; the PV controller would find that claim gone
//!   (the restored one has a new uid), release the volume and have the provisioner delete the
//!   disk, in a disaster-recovery test on the same cloud account the source cluster's live one.
//! - otherwise: restored unbound, for the PV controller to bind again: `claimRef.uid` and
//!   `claimRef.resourceVersion` go, its namespace follows `namespaceMapping`, and the
//!   annotations the controller set while binding go.

use serde_json::Value;

use super::types::{Context, Stop, map_at, remove_keys, str_at};

/// Annotations the PV controller sets on a PV (and a claim) it bound.
pub const BIND_ANNOTATIONS: [&str; 2] = [
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
];

/// Whether a backed-up PV is not restored but provisioned anew for its claim.
pub fn reprovisioned(pv: &Value) -> bool {
    str_at(pv, &["spec", "persistentVolumeReclaimPolicy"]) == Some("Delete")
}

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if reprovisioned(object) {
        let claim = match (
            str_at(object, &["spec", "claimRef", "namespace"]),
            str_at(object, &["spec", "claimRef", "name"]),
        ) {
            (Some(ns), Some(name)) => format!(
                "; its claim {}/{name} is given a new, empty volume",
                ctx.rules.target_namespace(ns)
            ),
            _ => String::new(),
        };
        return Err(Stop::Skip {
            reason: format!(
                "the volume is not restored: its reclaim policy is Delete and the backup holds no \
                 snapshot of it (restored, it would let the cluster delete the disk it names){claim}"
            ),
            warn: true,
        });
    }
    if let Some(claim) = map_at(object, &["spec", "claimRef"]) {
        claim.remove("uid");
        claim.remove("resourceVersion");
        if let Some(ns) = claim.get("namespace").and_then(Value::as_str) {
            let mapped = ctx.rules.target_namespace(ns).to_owned();
            claim.insert("namespace".into(), Value::String(mapped));
        }
    }
    remove_keys(object, &["metadata", "annotations"], &BIND_ANNOTATIONS);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    fn pv(policy: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv-1", "annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}},
            "spec": {"persistentVolumeReclaimPolicy": policy,
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "app", "name": "data",
                             "uid": "0d5c-old", "resourceVersion": "812"},
                "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0abc"}}})
    }

    #[test]
    fn a_delete_volume_is_skipped_with_a_warning_and_a_retained_one_unbound() {
        let t = TestContext::new();
        let mut deleted = pv("Delete");
        let Err(Stop::Skip { reason, warn }) = restore(&mut deleted, &t.ctx()) else {
            panic!("a Delete volume is restored");
        };
        assert!(warn);
        assert!(reason.contains("reclaim policy is Delete"), "{reason}");
        assert!(reason.contains("app-copy/data is given a new"), "{reason}");

        for policy in ["Retain", "Recycle"] {
            let mut kept = pv(policy);
            restore(&mut kept, &t.ctx()).unwrap();
            assert_eq!(
                kept["spec"]["claimRef"],
                json!({"kind": "PersistentVolumeClaim", "namespace": "app-copy", "name": "data"}),
                "{policy}"
            );
            assert_eq!(
                kept["metadata"]["annotations"],
                json!({"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"})
            );
            assert_eq!(kept["spec"]["csi"]["volumeHandle"], "vol-0abc");
        }
        // A static volume nobody claimed stays as it was.
        let mut unclaimed = json!({"metadata": {"name": "pv-2"},
            "spec": {"persistentVolumeReclaimPolicy": "Retain"}});
        let before = unclaimed.clone();
        restore(&mut unclaimed, &t.ctx()).unwrap();
        assert_eq!(unclaimed, before);
        assert!(reprovisioned(&pv("Delete")));
        assert!(!reprovisioned(&pv("Retain")));
    }
}
