//! The node agent (`veloxide node-agent`): on one node, it takes the PodVolumeBackups of the
//! pods running there and copies each volume from the kubelet's pods directory into the
//! repository of the pod's namespace, through the location's store (`storage::open`: its
//! trust and encryption on every pack). Velero's node agent
//! (`pkg/controller/pod_volume_backup_controller.go`) does the same with its own phases:
//! New → InProgress (a claim fenced on the resourceVersion) → Completed or Failed.
//!
//! The agent holds no state across a restart: at start it fails this node's PodVolumeBackups
//! left InProgress (their agent died mid-backup), as the server's sweep fails its runs, and
//! the backup that made them sees the failure.

mod backup;
pub mod decide;
mod locate;
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
use crate::api::PodVolumeBackup;
use crate::location::FilePaths;
use crate::storage::StoreCache;
use decide::Next;

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
}

/// Sweep, tell `ready` what the sweep did, then take this node's PodVolumeBackups until
/// shutdown.
pub async fn run(agent: Arc<Agent>, ready: impl FnOnce(&Swept)) -> Result<(), kube::Error> {
    let swept = sweep::fail_orphans(&agent).await?;
    ready(&swept);
    let controller = super::list::controller(agent.backups(), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(CONCURRENCY));
    let term = agent.shutdown.clone();
    run_until(
        controller,
        term,
        reconcile,
        error_policy,
        agent,
        "podvolumebackup",
    )
    .await;
    Ok(())
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
