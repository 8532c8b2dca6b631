//! `veloxide node-agent`: the flags into [`AgentSettings`], then the agent until SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::usage::parse_duration;
use super::{Globals, cancel_on_signal};
use crate::controller::podvolume::{Agent, AgentSettings, run};

#[derive(Args, Debug)]
pub struct NodeAgentArgs {
    /// This node's name: only PodVolumeBackups whose spec.node names it are taken (the
    /// DaemonSet sets NODE_NAME from spec.nodeName, as Velero's does).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// The kubelet's pods directory as mounted into the agent (Velero mounts it at
    /// /host_pods; the chart mounts it at the host's path, read-write for restores).
    #[arg(long, default_value = "/var/lib/kubelet/pods")]
    kubelet_pods_dir: PathBuf,
    /// A read from or upload to the object store that makes no progress for this long is
    /// abandoned, and its PodVolumeBackup fails naming the stall.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    store_stall_timeout: Duration,
    /// The only directories a location's credentialsFile and customerKeyEncryptionFile may
    /// name (repeat for several), as for the server.
    #[arg(long = "credentials-dir", default_value = crate::location::DEFAULT_CREDENTIALS_DIR)]
    credentials_dirs: Vec<PathBuf>,
}

pub async fn run_agent(args: NodeAgentArgs, globals: &Globals) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.node_name.trim().is_empty(),
        "--node-name (or NODE_NAME) is empty: set it to the node this agent runs on"
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let config = globals.kube_config().await?;
    let client = kube::Client::try_from(config).context("cannot build a Kubernetes client")?;
    let settings = AgentSettings {
        namespace: globals.namespace(),
        node: args.node_name,
        pods_dir: args.kubelet_pods_dir,
        files: crate::location::FilePaths::Under(args.credentials_dirs),
        store_stall_timeout: args.store_stall_timeout,
    };
    let node = settings.node.clone();
    let agent = Arc::new(Agent::new(client, settings, shutdown));
    run(agent, |swept, swept_restores| {
        // Tests and scripts wait for this line.
        println!("veloxide node-agent watching node {node}");
        tracing::info!(
            node = %node,
            found = swept.found,
            failed = swept.failed,
            "start-up sweep of this node's PodVolumeBackups left InProgress done"
        );
        tracing::info!(
            node = %node,
            found = swept_restores.found,
            failed = swept_restores.failed,
            "start-up sweep of this node's PodVolumeRestores left InProgress done"
        );
    })
    .await
    .context("the node agent stopped")?;
    Ok(())
}
