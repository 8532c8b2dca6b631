//! The node agent (`veloxide node-agent`): on one node, it takes the PodVolumeBackups of the
//! pods running there and copies each volume from the kubelet's pods directory into the
//! repository of the pod's namespace, through the location's store (`storage::open`: its
//! trust and encryption on every pack). Velero's node agent
//! (`pkg/controller/pod_volume_backup_controller.go`) does the same with its own phases:
//! New → InProgress (a claim fenced on the resourceVersion) → Completed or Failed.
//!
//! It also takes the PodVolumeRestores whose pods run on its node (`restore.rs`): once the
//! pod's `restore-wait` init container runs, the snapshot is written into the new pod's volume
//! and the done file the container waits for is made (Velero's
//! `pod_volume_restore_controller.go`).
//!
//! The agent holds no state across a restart: at start it fails this node's PodVolumeBackups
//! and PodVolumeRestores left InProgress (their agent died mid-copy), as the server's sweep
//! fails its runs, and the backup or restore that made them sees the failure.

mod backup;
pub mod decide;
mod locate;
mod restore;
pub mod restore_decide;
mod sweep;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::{self, Action};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::fence::Swept;
use super::{Error, run_until};
use k8s_openapi::api::core::v1::Pod;

use crate::api::{PodVolumeBackup, PodVolumeRestore};
use crate::location::FilePaths;
use crate::storage::StoreCache;
use decide::Next;
use restore_decide::{RestoreNext, restore_next};

/// How soon a PodVolumeRestore waiting for its pod (scheduled, its wait container running)
/// is looked at again.
const POD_WAIT: Duration = Duration::from_secs(2);

/// Backups run one at a time on a node, as Velero's node agent by default (its
/// `loadConcurrency`): volumes are read from the node's disk, and two at once only share it.
const CONCURRENCY: u16 = 1;

/// What the agent is told at start.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    /// The namespace of the server (its locations, the repository password, the work objects).
    pub namespace: String,
    /// This node's name: only work naming it is taken.
    pub node: String,
    /// The kubelet's pods directory as mounted into the agent (read-only for backups).
    pub pods_dir: PathBuf,
    /// Where a location's credentialsFile may point, as for the server.
    pub files: FilePaths,
    /// A transfer stalled this long is abandoned (the server's `--store-stall-timeout`).
    pub store_stall_timeout: Duration,
}

/// The agent's clients and caches, shared by its work.
pub struct Agent {
    pub client: Client,
    pub settings: AgentSettings,
    pub stores: StoreCache,
    /// Cancelled at shutdown: work in progress is dropped (the next start's sweep fails it).
    pub shutdown: CancellationToken,
}

impl Agent {
    pub fn new(client: Client, settings: AgentSettings, shutdown: CancellationToken) -> Agent {
        let stores = StoreCache::new().with_stall_timeout(settings.store_stall_timeout);
        Agent {
            client,
            settings,
            stores,
            shutdown,
        }
    }

    fn backups(&self) -> Api<PodVolumeBackup> {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }

    fn restores(&self) -> Api<PodVolumeRestore> {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }
}

/// Sweep, tell `ready` what the sweeps did (backups, restores), then take this node's
/// PodVolumeBackups and PodVolumeRestores until shutdown.
pub async fn run(agent: Arc<Agent>, ready: impl FnOnce(&Swept, &Swept)) -> Result<(), kube::Error> {
    let swept = sweep::fail_orphans(&agent).await?;
    let swept_restores = sweep::fail_restore_orphans(&agent).await?;
    ready(&swept, &swept_restores);
    let backups = super::list::controller(agent.backups(), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(CONCURRENCY));
    let restores = super::list::controller(agent.restores(), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(CONCURRENCY));
    let term = agent.shutdown.clone();
    tokio::join!(
        run_until(
            backups,
            term.clone(),
            reconcile,
            error_policy,
            agent.clone(),
            "podvolumebackup",
        ),
        run_until(
            restores,
            term,
            reconcile_restore,
            restore_error_policy,
            agent,
            "podvolumerestore",
        ),
    );
    Ok(())
}

fn restore_error_policy(pvr: Arc<PodVolumeRestore>, error: &Error, _agent: Arc<Agent>) -> Action {
    tracing::warn!(name = %pvr.name_any(), error = %error, "PodVolumeRestore: retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile_restore(pvr: Arc<PodVolumeRestore>, agent: Arc<Agent>) -> Result<Action, Error> {
    // Only New ones need their pod read.
    if pvr
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(|p| p != crate::api::PodVolumePhase::New)
    {
        return Ok(Action::await_change());
    }
    let ns = pvr.spec.pod.namespace.clone().unwrap_or_default();
    let name = pvr.spec.pod.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(agent.client.clone(), &ns);
    let pod = pods.get_opt(&name).await.map_err(Error::Kube)?;
    match restore_next(&pvr, pod.as_ref(), &agent.settings.node) {
        RestoreNext::NotOurs | RestoreNext::Leave => Ok(Action::await_change()),
        RestoreNext::Wait => Ok(Action::requeue(POD_WAIT)),
        RestoreNext::Take => {
            restore::run(&agent, &pvr).await.map_err(Error::Kube)?;
            Ok(Action::await_change())
        }
    }
}

fn error_policy(pvb: Arc<PodVolumeBackup>, error: &Error, _agent: Arc<Agent>) -> Action {
    tracing::warn!(name = %pvb.name_any(), error = %error, "PodVolumeBackup: retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(pvb: Arc<PodVolumeBackup>, agent: Arc<Agent>) -> Result<Action, Error> {
    match decide::next(&pvb, &agent.settings.node) {
        Next::NotOurs | Next::Leave => Ok(Action::await_change()),
        Next::Take => {
            backup::run(&agent, &pvb).await.map_err(Error::Kube)?;
            Ok(Action::await_change())
        }
    }
}
