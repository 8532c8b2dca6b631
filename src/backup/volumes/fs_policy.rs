//! What a backup's resource policies say of each volume of a pod, for [`super::fs_select`]:
//! a claim's volume is matched on its claim and bound PersistentVolume (as the CSI step
//! matches it), any other volume on what the pod says of it (an inline NFS or CSI source), as
//! Velero's `ShouldPerformFSBackup` builds its `VolumeFilterData`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Volume};
use kube::ResourceExt;
use kube::api::Api;

use super::fs_select::PolicyAnswer;
use super::{Job, claim, policy};

/// The volumes of `pod` a policy matched (none without policies), with the matching action,
/// or why the facts to match on could not be read.
pub async fn actions(job: &Job<'_>, pod: &Pod) -> BTreeMap<String, PolicyAnswer> {
    let mut out = BTreeMap::new();
    let Some(policies) = job.policies else {
        return out;
    };
    let namespace = pod.namespace().unwrap_or_default();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let facts = match &volume.persistent_volume_claim {
            Some(source) => claim_facts(job, &namespace, &source.claim_name).await,
            None => Ok(inline(volume)),
        };
        match facts.map(|facts| policies.action_for(&facts)) {
            Ok(Some(action)) => {
                out.insert(volume.name.clone(), Ok(action));
            }
            Ok(None) => {}
            Err(why) => {
                out.insert(volume.name.clone(), Err(why));
            }
        }
    }
    out
}

/// A claim and its bound volume, as the policies see them.
async fn claim_facts(job: &Job<'_>, namespace: &str, name: &str) -> Result<policy::Volume, String> {
    let (found, volume) = read_claim(job, namespace, name).await?;
    let qualified = format!("{namespace}/{name}");
    Ok(claim::facts(&qualified, &found, volume.as_ref()).volume_facts)
}

/// A claim and the PersistentVolume it is bound to (none while unbound), or what went wrong.
pub(super) async fn read_claim(
    job: &Job<'_>,
    namespace: &str,
    name: &str,
) -> Result<(PersistentVolumeClaim, Option<PersistentVolume>), String> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(job.client.clone(), namespace);
    let found = claims
        .get_opt(name)
        .await
        .map_err(|e| format!("reading claim {namespace}/{name} failed: {e}"))?
        .ok_or_else(|| format!("claim {namespace}/{name} does not exist"))?;
    let bound = found
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    let volume = if bound.is_empty() {
        None
    } else {
        Api::<PersistentVolume>::all(job.client.clone())
            .get_opt(&bound)
            .await
            .map_err(|e| {
                format!("reading volume {bound} of claim {namespace}/{name} failed: {e}")
            })?
    };
    Ok((found, volume))
}

/// A volume that is not a claim's: only its inline NFS or CSI source can match a condition.
fn inline(volume: &Volume) -> policy::Volume {
    policy::Volume {
        nfs: volume
            .nfs
            .as_ref()
            .map(|n| (n.server.clone(), n.path.clone())),
        csi_driver: volume.csi.as_ref().map(|c| c.driver.clone()),
        csi_attributes: volume
            .csi
            .as_ref()
            .and_then(|c| c.volume_attributes.clone())
            .unwrap_or_default(),
        ..policy::Volume::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inline_volume_matches_on_its_own_source_only() {
        let doc = "version: v1\nvolumePolicies:\n\
                   - conditions: {nfs: {server: nas}}\n  action: {type: fs-backup}\n\
                   - conditions: {storageClass: [fast]}\n  action: {type: skip}\n\
                   - conditions: {csi: {driver: inline.csi}}\n  action: {type: snapshot}\n";
        let policies = policy::parse(doc).unwrap();
        let volume = |v: serde_json::Value| -> Volume { serde_json::from_value(v).unwrap() };
        let nfs = volume(json!({"name": "n", "nfs": {"server": "nas", "path": "/x"}}));
        let csi = volume(json!({"name": "c", "csi": {"driver": "inline.csi"}}));
        let empty = volume(json!({"name": "e", "emptyDir": {}}));
        assert_eq!(
            policies.action_for(&inline(&nfs)),
            Some(policy::Action::FsBackup)
        );
        assert_eq!(
            policies.action_for(&inline(&csi)),
            Some(policy::Action::Snapshot)
        );
        // An emptyDir has no storage class: the storageClass condition cannot match it.
        assert_eq!(policies.action_for(&inline(&empty)), None);
    }
}
