//! The node agent's decisions for PodVolumeRestores, pure: whether one is this node's, and
//! whether its pod is ready to be written (Velero's `shouldProcess` and
//! `isInitContainerRunning`: the pod runs on this node and its `restore-wait` init container
//! is running, so the volume is mounted and the application has not started).

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;

use crate::api::{PodVolumePhase, PodVolumeRestore};
use crate::restore::fsb::WAIT_CONTAINER;
use crate::restore::fsb::pvr::RESTORE_UID_LABEL;

/// What the agent does with a PodVolumeRestore it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreNext {
    /// Its pod runs on another node: never touched.
    NotOurs,
    /// Ours, but the pod is not scheduled yet or its wait container not running yet: look
    /// again shortly.
    Wait,
    /// Claim it and write the volume.
    Take,
    /// Ended, being worked on, or its pod is gone or replaced: nothing to do.
    Leave,
}

/// What to do with `pvr`, given its pod as read now (`None`: no such pod).
pub fn restore_next(pvr: &PodVolumeRestore, pod: Option<&Pod>, node: &str) -> RestoreNext {
    let phase = pvr.status.as_ref().and_then(|s| s.phase);
    if !matches!(phase, None | Some(PodVolumePhase::New)) {
        return RestoreNext::Leave;
    }
    let Some(pod) = pod else {
        return RestoreNext::Leave;
    };
    if let Some(want) = pvr.spec.pod.uid.as_deref().filter(|u| !u.is_empty())
        && pod.uid().as_deref() != Some(want)
    {
        return RestoreNext::Leave;
    }
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        None | Some("") => return RestoreNext::Wait,
        Some(n) if n != node => return RestoreNext::NotOurs,
        Some(_) => {}
    }
    let wait = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == WAIT_CONTAINER));
    match wait.and_then(|c| c.state.as_ref()) {
        Some(state) if state.running.is_some() => RestoreNext::Take,
        // Finished (someone made the done file, or the pod was changed): nothing to write into.
        Some(state) if state.terminated.is_some() => RestoreNext::Leave,
        _ => RestoreNext::Wait,
    }
}

/// Whether a start-up sweep fails `pvr`: this node's, left InProgress.
pub fn restore_orphaned(pvr: &PodVolumeRestore, node: &str) -> bool {
    let status = pvr.status.as_ref();
    status.and_then(|s| s.phase) == Some(PodVolumePhase::InProgress)
        && status.and_then(|s| s.node.as_deref()) == Some(node)
}

/// The Restore's uid, which names the done file (Velero: the `velero.io/restore-uid` label,
/// else the owning Restore's uid).
pub fn restore_uid(pvr: &PodVolumeRestore) -> Option<String> {
    if let Some(uid) = pvr
        .labels()
        .get(RESTORE_UID_LABEL)
        .filter(|u| !u.is_empty())
    {
        return Some(uid.clone());
    }
    pvr.owner_references()
        .iter()
        .find(|o| o.kind == "Restore")
        .map(|o| o.uid.clone())
        .filter(|u| !u.is_empty())
}

/// A done-file name that stays one file inside `.velero/` (a uid has no `/` and is not `..`).
pub fn done_file_name(uid: &str) -> Result<&str, String> {
    let ok = !uid.is_empty()
        && uid != "."
        && uid != ".."
        && Path::new(uid).components().count() == 1
        && !uid.contains('/');
    if ok {
        Ok(uid)
    } else {
        Err(format!(
            "the restore uid {uid:?} cannot name a file in the volume's .velero directory"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pvr(phase: Option<&str>, uid: &str) -> PodVolumeRestore {
        serde_json::from_value(json!({
            "metadata": {"name": "r-1", "labels": {"velero.io/restore-uid": "ru"}},
            "spec": {"pod": {"namespace": "app", "name": "web", "uid": uid}, "volume": "data",
                     "backupStorageLocation": "d", "repoIdentifier": "r", "snapshotID": "s",
                     "sourceNamespace": "app"},
            "status": phase.map(|p| json!({"phase": p, "node": "node-a"})),
        }))
        .unwrap()
    }

    fn pod(uid: &str, node: Option<&str>, wait: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "app", "uid": uid},
            "spec": {"nodeName": node, "containers": []},
            "status": {"initContainerStatuses": [
                {"name": "restore-wait", "image": "i", "imageID": "", "ready": false,
                 "restartCount": 0, "state": wait}
            ]},
        }))
        .unwrap()
    }

    #[test]
    fn only_this_node_s_pods_are_written_once_their_wait_container_runs() {
        use RestoreNext::*;
        let running = json!({"running": {}});
        let waiting = json!({"waiting": {"reason": "PodInitializing"}});
        let done = json!({"terminated": {"exitCode": 0}});
        let table = [
            (
                None,
                "u1",
                Some(pod("u1", Some("node-a"), running.clone())),
                Take,
            ),
            (
                Some("New"),
                "u1",
                Some(pod("u1", Some("node-a"), running.clone())),
                Take,
            ),
            (
                None,
                "",
                Some(pod("u1", Some("node-a"), running.clone())),
                Take,
            ),
            (None, "u1", Some(pod("u1", Some("node-a"), waiting)), Wait),
            (None, "u1", Some(pod("u1", None, json!({}))), Wait),
            (
                None,
                "u1",
                Some(pod("u1", Some("node-b"), running.clone())),
                NotOurs,
            ),
            (None, "u1", Some(pod("u1", Some("node-a"), done)), Leave),
            (
                None,
                "u1",
                Some(pod("u2", Some("node-a"), running.clone())),
                Leave,
            ),
            (None, "u1", None, Leave),
            (
                Some("InProgress"),
                "u1",
                Some(pod("u1", Some("node-a"), running.clone())),
                Leave,
            ),
            (
                Some("Completed"),
                "u1",
                Some(pod("u1", Some("node-a"), running)),
                Leave,
            ),
        ];
        for (phase, uid, pod, want) in table {
            assert_eq!(
                restore_next(&pvr(phase, uid), pod.as_ref(), "node-a"),
                want,
                "{phase:?} {uid} {pod:?}"
            );
        }
        assert!(restore_orphaned(&pvr(Some("InProgress"), "u"), "node-a"));
        assert!(!restore_orphaned(&pvr(Some("InProgress"), "u"), "node-b"));
        assert!(!restore_orphaned(&pvr(Some("Completed"), "u"), "node-a"));
    }

    #[test]
    fn the_done_file_is_named_by_the_restore_uid_and_stays_in_its_directory() {
        assert_eq!(restore_uid(&pvr(None, "u")).as_deref(), Some("ru"));
        assert_eq!(done_file_name("0b1c-22").unwrap(), "0b1c-22");
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(done_file_name(bad).is_err(), "{bad}");
        }
    }
}
