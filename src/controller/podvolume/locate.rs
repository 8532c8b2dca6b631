//! Where a PodVolumeBackup's (or PodVolumeRestore's) volume is on this node: the pod (the one
//! the work names, by uid), its volume, the claim's PersistentVolume when it is one, and the
//! single directory under the kubelet's pods directory holding it.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::{Api, Client, ResourceExt};

use super::decide::{pod_volume, single_match, volume_dir};
use crate::api::PodVolumeBackup;

/// The host path of `pvb`'s volume under `pods_dir`, or why it cannot be read (a message for
/// the PodVolumeBackup's status).
pub async fn volume_path(
    client: &Client,
    pods_dir: &Path,
    pvb: &PodVolumeBackup,
) -> Result<PathBuf, String> {
    pod_volume_path(client, pods_dir, &pvb.spec.pod, &pvb.spec.volume).await
}

/// The host path of the volume `volume_name` of the pod `pod_ref` names, under `pods_dir`.
pub async fn pod_volume_path(
    client: &Client,
    pods_dir: &Path,
    pod_ref: &ObjectReference,
    volume_name: &str,
) -> Result<PathBuf, String> {
    let ns = pod_ref.namespace.clone().unwrap_or_default();
    let name = pod_ref.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = pods
        .get_opt(&name)
        .await
        .map_err(|e| format!("reading pod {ns}/{name}: {e}"))?
        .ok_or_else(|| format!("pod {ns}/{name} does not exist"))?;
    let uid = pod.uid().unwrap_or_default();
    // A pod made again under the same name is another pod: its volume is not the one the
    // backup asked for.
    if let Some(want) = pod_ref.uid.as_deref().filter(|u| !u.is_empty())
        && want != uid
    {
        return Err(format!(
            "pod {ns}/{name} is now another pod (uid {uid}; the work names {want})"
        ));
    }
    let volume = pod_volume(&pod, volume_name)
        .ok_or_else(|| format!("pod {ns}/{name} has no volume {volume_name:?}"))?;
    let bound = match &volume.persistent_volume_claim {
        None => None,
        Some(source) => {
            let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
            let claim = claims
                .get(&source.claim_name)
                .await
                .map_err(|e| format!("reading claim {ns}/{}: {e}", source.claim_name))?;
            match claim
                .spec
                .and_then(|s| s.volume_name)
                .filter(|v| !v.is_empty())
            {
                None => None,
                Some(pv) => {
                    let volumes: Api<PersistentVolume> = Api::all(client.clone());
                    Some(
                        volumes
                            .get(&pv)
                            .await
                            .map_err(|e| format!("reading PersistentVolume {pv}: {e}"))?,
                    )
                }
            }
        }
    };
    let dir = volume_dir(volume, bound.as_ref())?;
    let plugins = pods_dir.join(&uid).join("volumes");
    let looked = format!("{}/*/{dir}", plugins.display());
    let matches = match std::fs::read_dir(&plugins) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(&dir))
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("reading {}: {e}", plugins.display())),
    };
    single_match(matches, &looked)
}
