//! The node agent's decisions, pure: whether a PodVolumeBackup is this node's to take, and
//! where on the node a pod's volume lives (Velero's `GetVolumeDirectory` and
//! `GetPodVolumeHostPath`, `pkg/util/kube/utils.go`, `pkg/exposer/host_path.go`).

use k8s_openapi::api::core::v1::{PersistentVolume, Pod, Volume};
use kube::ResourceExt as _;

use crate::api::{PodVolumeBackup, PodVolumePhase};
pub use crate::backup::volumes::fs_request::PVC_UID_LABEL;

/// What the agent does with a PodVolumeBackup it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Another node's (its pod runs there): never touched, whatever its phase.
    NotOurs,
    /// New (or no phase yet): claim it and back the volume up.
    Take,
    /// Being worked on, or ended: nothing to do (an InProgress one is the sweep's, at start).
    Leave,
}

/// Whether `pvb` is for `node`, and what to do with it.
pub fn next(pvb: &PodVolumeBackup, node: &str) -> Next {
    if pvb.spec.node != node {
        return Next::NotOurs;
    }
    match pvb.status.as_ref().and_then(|s| s.phase) {
        None | Some(PodVolumePhase::New) => Next::Take,
        Some(_) => Next::Leave,
    }
}

/// Whether a start-up sweep fails `pvb`: this node's, left InProgress (the agent that ran it
/// is gone: the agent holds no work across a restart, as Velero's does not).
pub fn orphaned(pvb: &PodVolumeBackup, node: &str) -> bool {
    pvb.spec.node == node
        && pvb.status.as_ref().and_then(|s| s.phase) == Some(PodVolumePhase::InProgress)
}

/// The snapshot an incremental backup of `pvb`'s volume compares with (files unchanged since
/// are not read again): the newest Completed PodVolumeBackup of the same claim (Velero's
/// `velero.io/pvc-uid` label), location and uploader, as Velero's backupper picks a parent.
/// `None` for a volume that is not a claim's (an emptyDir is new with each pod): a parent from
/// another volume could match a file by path, size and times and skip reading it.
pub fn parent_snapshot(pvb: &PodVolumeBackup, others: &[PodVolumeBackup]) -> Option<String> {
    let claim = pvb.labels().get(PVC_UID_LABEL).filter(|u| !u.is_empty())?;
    others
        .iter()
        .filter(|o| o.labels().get(PVC_UID_LABEL) == Some(claim))
        .filter(|o| o.metadata.uid != pvb.metadata.uid)
        .filter(|o| o.spec.backup_storage_location == pvb.spec.backup_storage_location)
        .filter(|o| o.spec.uploader_type == pvb.spec.uploader_type)
        .filter_map(|o| {
            let status = o.status.as_ref()?;
            if status.phase != Some(PodVolumePhase::Completed) {
                return None;
            }
            let id = status.snapshot_id.clone().filter(|id| !id.is_empty())?;
            let ended = status.completion_timestamp.as_ref().map(|t| t.0);
            Some((ended, id))
        })
        .max_by_key(|(ended, _)| *ended)
        .map(|(_, id)| id)
}

/// How a volume is found under `<pods dir>/<pod uid>/volumes/<plugin>/`: by this directory
/// name, in whichever plugin folder holds it (`kubernetes.io~empty-dir`, `kubernetes.io~csi`,
/// ...), as Velero globs `volumes/*/<dir>`.
///
/// A claim's volume is named after its PersistentVolume, and a CSI filesystem volume's data
/// sits in its `mount` folder; any other volume is named as in the pod.
pub fn volume_dir(volume: &Volume, bound: Option<&PersistentVolume>) -> Result<String, String> {
    if volume.persistent_volume_claim.is_none() {
        return Ok(volume.name.clone());
    }
    let Some(pv) = bound else {
        return Err(format!(
            "volume {}: its claim is not bound to a PersistentVolume",
            volume.name
        ));
    };
    let pv_name = pv.metadata.name.clone().unwrap_or_default();
    let spec = pv.spec.as_ref();
    let block = spec.and_then(|s| s.volume_mode.as_deref()) == Some("Block");
    if block {
        // Velero skips block volumes for file-system backup (its data mover takes them).
        return Err(format!(
            "volume {}: PersistentVolume {pv_name} is a block volume, which file-system backup \
             cannot read",
            volume.name
        ));
    }
    if spec.and_then(|s| s.csi.as_ref()).is_some() {
        Ok(format!("{pv_name}/mount"))
    } else {
        Ok(pv_name)
    }
}

/// The pod's volume named `name`.
pub fn pod_volume<'a>(pod: &'a Pod, name: &str) -> Option<&'a Volume> {
    pod.spec
        .as_ref()?
        .volumes
        .as_ref()?
        .iter()
        .find(|v| v.name == name)
}

/// The one path among `matches` (the plugin folders holding the volume's directory), or why
/// there is not exactly one, as Velero's `SinglePathMatch` requires.
pub fn single_match(
    matches: Vec<std::path::PathBuf>,
    looked: &str,
) -> Result<std::path::PathBuf, String> {
    let mut matches = matches;
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(format!(
            "no volume directory matches {looked}: the pod's volume is not on this node (is the \
             kubelet's pods directory mounted at --kubelet-pods-dir?)"
        )),
        n => Err(format!(
            "{n} volume directories match {looked}; expected one"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PodVolumeBackupSpec, PodVolumeBackupStatus};
    use serde_json::json;

    fn pvb(node: &str, phase: Option<PodVolumePhase>) -> PodVolumeBackup {
        let mut pvb = PodVolumeBackup::new(
            "b-1",
            PodVolumeBackupSpec {
                node: node.to_owned(),
                ..Default::default()
            },
        );
        pvb.status = phase.map(|p| PodVolumeBackupStatus {
            phase: Some(p),
            ..Default::default()
        });
        pvb
    }

    #[test]
    fn only_this_node_s_new_backups_are_taken() {
        use PodVolumePhase::*;
        let table = [
            ("node-a", None, Next::Take, false),
            ("node-a", Some(New), Next::Take, false),
            ("node-a", Some(InProgress), Next::Leave, true),
            ("node-a", Some(Completed), Next::Leave, false),
            ("node-a", Some(Failed), Next::Leave, false),
            ("node-b", None, Next::NotOurs, false),
            ("node-b", Some(New), Next::NotOurs, false),
            ("node-b", Some(InProgress), Next::NotOurs, false),
            ("", Some(New), Next::NotOurs, false),
        ];
        for (node, phase, want, swept) in table {
            let p = pvb(node, phase);
            assert_eq!(next(&p, "node-a"), want, "{node} {phase:?}");
            assert_eq!(orphaned(&p, "node-a"), swept, "{node} {phase:?}");
        }
    }

    fn volume(v: serde_json::Value) -> Volume {
        serde_json::from_value(v).unwrap()
    }

    fn pv(spec: serde_json::Value) -> PersistentVolume {
        serde_json::from_value(json!({"metadata": {"name": "pv-1"}, "spec": spec})).unwrap()
    }

    #[test]
    fn volume_directories_are_velero_s() {
        let empty = volume(json!({"name": "cache", "emptyDir": {}}));
        let claim = volume(json!({"name": "data", "persistentVolumeClaim": {"claimName": "c"}}));
        let csi = pv(json!({"csi": {"driver": "d", "volumeHandle": "h"}}));
        let block = pv(json!({"csi": {"driver": "d", "volumeHandle": "h"}, "volumeMode": "Block"}));
        let host = pv(json!({"hostPath": {"path": "/x"}}));
        let table: [(&Volume, Option<&PersistentVolume>, Result<&str, &str>); 5] = [
            (&empty, None, Ok("cache")),
            (&claim, Some(&csi), Ok("pv-1/mount")),
            (&claim, Some(&host), Ok("pv-1")),
            (&claim, Some(&block), Err("block volume")),
            (&claim, None, Err("not bound")),
        ];
        for (v, pv, want) in table {
            match (volume_dir(v, pv), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn the_parent_is_the_same_claim_s_newest_completed_snapshot() {
        let make = |uid: &str,
                    claim: Option<&str>,
                    loc: &str,
                    phase: PodVolumePhase,
                    id: &str,
                    at: i64| {
            let mut p = pvb("node-a", Some(phase));
            p.metadata.uid = Some(uid.to_owned());
            if let Some(c) = claim {
                p.metadata.labels = Some([(PVC_UID_LABEL.to_owned(), c.to_owned())].into());
            }
            p.spec.backup_storage_location = loc.to_owned();
            let status = p.status.as_mut().unwrap();
            status.snapshot_id = Some(id.to_owned());
            status.completion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::from_second(at).unwrap(),
                ));
            p
        };
        use PodVolumePhase::*;
        let me = make("me", Some("c1"), "default", New, "", 0);
        let others = vec![
            make("a", Some("c1"), "default", Completed, "old", 100),
            make("b", Some("c1"), "default", Completed, "new", 200),
            make("c", Some("c1"), "default", Failed, "failed", 300),
            make("d", Some("c2"), "default", Completed, "other-claim", 400),
            make(
                "e",
                Some("c1"),
                "elsewhere",
                Completed,
                "other-location",
                500,
            ),
            make("f", None, "default", Completed, "no-claim", 600),
        ];
        assert_eq!(parent_snapshot(&me, &others).as_deref(), Some("new"));
        // Not a claim's volume: no parent at all.
        let empty_dir = make("me", None, "default", New, "", 0);
        assert_eq!(parent_snapshot(&empty_dir, &others), None);
        // No earlier backup of the claim.
        assert_eq!(parent_snapshot(&me, &others[3..]), None);
    }

    #[test]
    fn exactly_one_directory_matches() {
        use std::path::PathBuf;
        let one = vec![PathBuf::from("/p/u/volumes/kubernetes.io~empty-dir/cache")];
        assert_eq!(single_match(one.clone(), "x").unwrap(), one[0]);
        let none = single_match(vec![], "/p/u/volumes/*/cache").unwrap_err();
        assert!(none.contains("--kubelet-pods-dir"), "{none}");
        let two = single_match(vec![one[0].clone(), one[0].clone()], "x").unwrap_err();
        assert!(two.contains("2 volume directories"), "{two}");
    }
}
