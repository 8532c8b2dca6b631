//! The agent's start-up sweep: this node's PodVolumeBackups left InProgress were being worked
//! on by an agent that is gone (a restart, an OOM kill, a node reboot), and nothing will ever
//! finish them, so they are marked Failed (as Velero's node agent does at start), each write
//! fenced on the version listed: a backup that ended meanwhile keeps its status.

use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Agent;
use super::decide::orphaned;
use super::restore_decide::restore_orphaned;
use crate::api::{PodVolumeBackup, PodVolumeRestore};
use crate::controller::claim::Claimable as _;
use crate::controller::fence::{Fenced, Swept, write_status};
use crate::controller::{list, now};

/// Fail every PodVolumeBackup of this node left InProgress.
pub async fn fail_orphans(agent: &Agent) -> Result<Swept, kube::Error> {
    let api = agent.backups();
    let node = &agent.settings.node;
    let mut swept = Swept::default();
    // The sweep runs before any work is taken; a shutdown meanwhile does not stop its writes.
    let always = CancellationToken::new();
    for pvb in list::all(&api, &ListParams::default()).await? {
        if !orphaned(&pvb, node) {
            continue;
        }
        swept.found += 1;
        let name = pvb.name_any();
        let status = json!({
            "phase": "Failed",
            "message": format!(
                "the node agent on {node} stopped while backing this volume up (restarted or \
                 killed); nothing was recorded: back the volume up again"
            ),
            "completionTimestamp": now(),
        });
        let mut rv = pvb.resource_version().unwrap_or_default();
        let still = PodVolumeBackup::in_progress;
        match write_status(&api, &name, &mut rv, &status, still, &always).await {
            Ok(Fenced::Written(_)) => {
                tracing::warn!(name = %name, "marked a PodVolumeBackup left InProgress Failed");
                swept.failed += 1;
            }
            Ok(Fenced::Lost(_) | Fenced::NotLeader) => {}
            Err(e) => {
                tracing::warn!(name = %name, error = %e, "could not mark a PodVolumeBackup left InProgress Failed");
                swept.skipped.push(name);
            }
        }
    }
    Ok(swept)
}

/// Fail every PodVolumeRestore this node's agent left InProgress: its pod's init container
/// waits for a done file nothing will write.
pub async fn fail_restore_orphans(agent: &Agent) -> Result<Swept, kube::Error> {
    let api = agent.restores();
    let node = &agent.settings.node;
    let mut swept = Swept::default();
    let always = CancellationToken::new();
    for pvr in list::all(&api, &ListParams::default()).await? {
        if !restore_orphaned(&pvr, node) {
            continue;
        }
        swept.found += 1;
        let name = pvr.name_any();
        let status = json!({
            "phase": "Failed",
            "message": format!(
                "the node agent on {node} stopped while restoring this volume (restarted or \
                 killed); the volume may be partly written and its pod still waits: delete the \
                 pod's namespace and restore again"
            ),
            "completionTimestamp": now(),
        });
        let mut rv = pvr.resource_version().unwrap_or_default();
        let still = PodVolumeRestore::in_progress;
        match write_status(&api, &name, &mut rv, &status, still, &always).await {
            Ok(Fenced::Written(_)) => {
                tracing::warn!(name = %name, "marked a PodVolumeRestore left InProgress Failed");
                swept.failed += 1;
            }
            Ok(Fenced::Lost(_) | Fenced::NotLeader) => {}
            Err(e) => {
                tracing::warn!(name = %name, error = %e, "could not mark a PodVolumeRestore left InProgress Failed");
                swept.skipped.push(name);
            }
        }
    }
    Ok(swept)
}
