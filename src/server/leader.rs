//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): the controllers run
//! only while this replica holds the lease, and stop at once when it is lost.

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio_util::sync::CancellationToken;

/// The Lease and how long a holder keeps it without renewing.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
    pub grace: Duration,
}

/// Run `lead` each time the lease is acquired, cancelling the token handed to it the moment
/// the lease is lost or `shutdown` fires. Returns after shutdown, having released the lease.
pub async fn run_while_leader<F, Fut>(
    client: Client,
    settings: LeaseSettings,
    shutdown: CancellationToken,
    lead: F,
) -> anyhow::Result<()>
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let manager = LeaseManagerBuilder::new(client, &settings.name)
        .with_namespace(&settings.namespace)
        .with_identity(&settings.identity)
        .with_duration(settings.duration.as_secs().max(2))
        .with_grace(settings.grace.as_secs().max(1))
        .with_field_manager(format!("veloxide-{}", settings.identity))
        .build()
        .await?;
    let (mut is_leader, manager_task) = manager.watch().await;
    let mut term: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    loop {
        let leading = *is_leader.borrow_and_update();
        match (leading, term.is_some()) {
            (true, false) => {
                tracing::info!(identity = %settings.identity, lease = %settings.name, "acquired the lease; starting controllers");
                let token = shutdown.child_token();
                term = Some((token.clone(), tokio::spawn(lead(token))));
            }
            (false, true) => {
                tracing::warn!(identity = %settings.identity, "lost the lease; stopping controllers");
                if let Some((token, task)) = term.take() {
                    token.cancel();
                    let _ = task.await;
                }
            }
            _ => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = is_leader.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the lease manager stopped");
                }
            }
        }
    }
    if let Some((token, task)) = term.take() {
        token.cancel();
        let _ = task.await;
    }
    // Closing the channel makes the manager task finish; then release so a peer takes over
    // at once instead of waiting for the lease to expire.
    drop(is_leader);
    if let Ok(Ok(manager)) = manager_task.await {
        if let Err(e) = manager.release().await {
            tracing::warn!(error = %e, "could not release the lease");
        }
    }
    Ok(())
}
