//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): the controllers run
//! only while this replica holds the lease, and stop at once when it is lost.
//!
//! kube-lease-manager keeps saying "leader" while it cannot reach the API server (its renewals
//! fail and are retried), even after the lease has expired and a peer may have taken it. So
//! this replica also reads the Lease itself and leads only until the `renewTime` it last saw
//! plus the lease's duration, the same instant a peer reckons the lease expired: cut off from
//! the API server, it stops its controllers when its lease runs out, as client-go's leader
//! election does, and starts a new term (start-up sweep included) once a renewal is seen again.
//!
//! The election runs on a thread and runtime of its own, with a client of its own whose every
//! request is bounded by the time the lease has left: the controllers' work (a restore creating
//! 100,000 objects with dozens of requests in flight, a large archive being parsed) can neither
//! starve a renewal of a worker nor hold it in their client, and a renewal that fails is tried
//! again within two seconds ([`watch`]) until the lease runs out.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::time::Instant;
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

/// Run `lead` on the calling runtime each time the lease is acquired, cancelling the token
/// handed to it the moment the lease is lost or `shutdown` fires; the election itself runs on
/// a thread of its own (the module's note). Resolves after shutdown, the lease released.
pub async fn run_while_leader<F, Fut>(
    config: kube::Config,
    settings: LeaseSettings,
    shutdown: CancellationToken,
    lead: F,
) -> anyhow::Result<()>
where
    F: Fn(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let controllers = tokio::runtime::Handle::current();
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("veloxide-lease".into())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| {
                    runtime.block_on(async {
                        let client = lease_client(config, settings.duration)?;
                        elect(client, settings, shutdown, move |term| {
                            controllers.spawn(lead(term))
                        })
                        .await
                    })
                });
            let _ = done.send(outcome);
        })?;
    result
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the lease thread ended without an answer")))
}

/// The election's own client: every request (a renewal, a read of the Lease) is given up
/// after two thirds of the lease (a renewal starts a third of the way in, so it may take until
/// the lease would run out), not the 295 s kube's default allows. Not shorter: an API server
/// that queues the request (priority and fairness, behind the same identity's creates) serves
/// it late, and one given up and sent again only joins the back of the queue.
fn lease_client(mut config: kube::Config, duration: Duration) -> anyhow::Result<Client> {
    let bound = (duration * 2 / 3).max(Duration::from_millis(500));
    config.connect_timeout = Some(bound);
    config.read_timeout = Some(bound);
    config.write_timeout = Some(bound);
    Ok(Client::try_from(config)?)
}

async fn elect<F>(
    client: Client,
    settings: LeaseSettings,
    shutdown: CancellationToken,
    lead: F,
) -> anyhow::Result<()>
where
    F: Fn(CancellationToken) -> tokio::task::JoinHandle<()>,
{
    let mut held = HeldUntil::new(&client, &settings);
    let manager = LeaseManagerBuilder::new(client, &settings.name)
        .with_namespace(&settings.namespace)
        .with_identity(&settings.identity)
        .with_duration(settings.duration.as_secs().max(2))
        .with_grace(settings.grace.as_secs().max(1))
        .with_field_manager(format!("veloxide-{}", settings.identity))
        .build()
        .await?;
    let manager = std::sync::Arc::new(manager);
    let (mut is_leader, manager_task) = watch(manager.clone(), settings.duration);
    let mut term: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    let mut manager_changed = true;
    loop {
        let manager_says = *is_leader.borrow_and_update();
        if manager_says && std::mem::take(&mut manager_changed) {
            // The manager just took the lease: see its renewTime before leading.
            held.confirm().await;
        }
        let leading = manager_says && held.now_valid();
        match (leading, term.is_some()) {
            (true, false) => {
                tracing::info!(identity = %settings.identity, lease = %settings.name, "acquired the lease; starting controllers");
                let token = shutdown.child_token();
                term = Some((token.clone(), lead(token)));
            }
            (false, true) => {
                if manager_says {
                    tracing::warn!(identity = %settings.identity, "the lease ran out without a renewal this replica could see (is the API server reachable?); stopping controllers");
                } else {
                    tracing::warn!(identity = %settings.identity, "lost the lease; stopping controllers");
                }
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
                manager_changed = true;
            }
            // While leading: re-read the Lease, and wake when what was seen runs out.
            _ = held.next_check(), if manager_says => held.confirm().await,
        }
    }
    if let Some((token, task)) = term.take() {
        token.cancel();
        let _ = task.await;
    }
    // Closing the channel makes the manager task finish; then release so a peer takes over
    // at once instead of waiting for the lease to expire.
    drop(is_leader);
    let _ = manager_task.await;
    if let Err(e) = manager.release().await {
        tracing::warn!(error = %e, "could not release the lease");
    }
    Ok(())
}

/// Take and renew the lease, telling whether this replica holds it. kube-lease-manager's own
/// `watch` backs off after a failed request up to 30 s, twice a 15 s lease: under load (an API
/// server busy with a restore's creates answering a renewal after the client's bound) a
/// leader lost its lease with no attempt made in its last 20 s. Here a failed attempt is
/// retried after a tenth of the lease (at most 2 s, client-go's retry period), so the renewals
/// keep coming until the lease runs out.
fn watch(
    manager: std::sync::Arc<kube_lease_manager::LeaseManager>,
    duration: Duration,
) -> (
    tokio::sync::watch::Receiver<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (tell, told) = tokio::sync::watch::channel(false);
    let retry = (duration / 10).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                () = tell.closed() => break,
                changed = manager.changed() => match changed {
                    Ok(holds) => {
                        let _ = tell.send(holds);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, retry = ?retry, "taking or renewing the lease failed; trying again");
                        tokio::time::sleep(retry).await;
                    }
                },
            }
        }
    });
    (told, task)
}

/// Until when this replica may lead, from the last read of its Lease that showed it holding it.
struct HeldUntil {
    leases: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The local instant the lease runs out: the `renewTime` last seen plus the duration, less
    /// the time that renewal had already aged when it was read.
    until: Option<Instant>,
}

impl HeldUntil {
    fn new(client: &Client, settings: &LeaseSettings) -> HeldUntil {
        HeldUntil {
            leases: Api::namespaced(client.clone(), &settings.namespace),
            name: settings.name.clone(),
            identity: settings.identity.clone(),
            duration: settings.duration,
            until: None,
        }
    }

    fn now_valid(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() < until)
    }

    /// How often the Lease is read while leading: a third of its duration (the manager renews
    /// halfway through), and never later than the moment the last reading runs out.
    async fn next_check(&self) {
        let now = Instant::now();
        let every = now + (self.duration / 3).max(Duration::from_millis(300));
        let at = match self.until {
            Some(until) if until > now => until.min(every),
            _ => every,
        };
        tokio::time::sleep_until(at).await
    }

    /// Reads the Lease (bounded by a third of its duration); on success records until when it
    /// is held by this replica. A failed read changes nothing: the last reading runs out.
    async fn confirm(&mut self) {
        let wait = (self.duration / 3).max(Duration::from_millis(500));
        let lease = match tokio::time::timeout(wait, self.leases.get(&self.name)).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(kube::Error::Api(e))) if e.code == 404 => {
                // Deleted (with its namespace, say). The lease manager only creates it when it
                // starts, so put an unheld one back for it to take.
                self.recreate(wait).await;
                self.until = None;
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not read the lease");
                return;
            }
            Err(_) => {
                tracing::debug!("reading the lease timed out");
                return;
            }
        };
        self.until = lease_runs_out(&lease, &self.identity, jiff::Timestamp::now())
            .map(|left| Instant::now() + left);
        if self.until.is_none() {
            tracing::debug!("the lease is not held by this replica");
        }
    }
}

impl HeldUntil {
    async fn recreate(&self, wait: Duration) {
        let lease = Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(self.name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        let params = kube::api::PostParams::default();
        let create = self.leases.create(&params, &lease);
        match tokio::time::timeout(wait, create).await {
            Ok(Ok(_)) => {
                tracing::info!(lease = %self.name, "the lease was deleted; created it again")
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "could not create the lease again"),
            Err(_) => tracing::debug!("creating the lease again timed out"),
        }
    }
}

/// How long `lease` stays this identity's, seen at `now`: `renewTime` plus
/// `leaseDurationSeconds` minus `now`; `None` when another identity holds it, it has no renew
/// time, or it has already run out.
fn lease_runs_out(lease: &Lease, identity: &str, now: jiff::Timestamp) -> Option<Duration> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed = spec.renew_time.as_ref()?.0;
    let seconds = i64::from(spec.lease_duration_seconds?);
    let expires = renewed
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .ok()?;
    let left = now.duration_until(expires);
    (left.is_positive()).then(|| left.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: &str, renewed: jiff::Timestamp, seconds: i32) -> Lease {
        Lease {
            spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed)),
                lease_duration_seconds: Some(seconds),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_lease_is_held_until_its_renewal_plus_its_duration() {
        let renewed: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let at = |s: i64| {
            renewed
                .checked_add(jiff::SignedDuration::from_secs(s))
                .unwrap()
        };
        let mine = lease("a", renewed, 15);
        assert_eq!(
            lease_runs_out(&mine, "a", at(5)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(lease_runs_out(&mine, "a", at(15)), None, "run out");
        assert_eq!(lease_runs_out(&mine, "a", at(20)), None, "run out");
        assert_eq!(lease_runs_out(&mine, "b", at(1)), None, "someone else's");
        assert_eq!(lease_runs_out(&Lease::default(), "a", at(1)), None);
    }
}
