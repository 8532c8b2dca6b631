//! `veloxide server`: the controllers (on the lease holder), the admission webhook and the
//! metrics/health endpoints (on every replica), under one shutdown signal.

mod download;
mod http;
mod leader;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum_server::accept::DefaultAcceptor;
use kube::Api;
use tokio_util::sync::CancellationToken;

use crate::api::BackupStorageLocation;
use crate::controller::fence::Swept;
use crate::controller::{self, Context, Settings};
use crate::http_limits::{self, Limited, MAX_CONNECTIONS};
use crate::metrics::Metrics;
use crate::webhook::{self, ServeOptions};

pub use http::Readiness;
pub use leader::LeaseSettings;

/// Everything `veloxide server` is configured with.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The API server and credentials (from `--kubeconfig`/`--context`, else inferred).
    pub kube: kube::Config,
    pub settings: Settings,
    pub metrics_listen: SocketAddr,
    /// The admission webhook, when a certificate is given.
    pub webhook: Option<ServeOptions>,
    pub lease: LeaseSettings,
    /// How long in-flight work may take to end once shutdown is asked for; then whatever still
    /// runs is dropped, as the kubelet's SIGKILL would, and the next leader's sweep takes over.
    pub shutdown_timeout: Duration,
}

/// Run until `shutdown` fires; every task stops on that one signal and in-flight work ends.
pub async fn run(options: ServerOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = options.kube.clone();
    let client = kube::Client::try_from(config.clone())?;
    // kube retries 429/503/504 up to 15 times with backoff growing to minutes: right for
    // controllers, wrong for a backup reading a resource whose aggregated API is down (each
    // namespace would wait minutes). Backups and restores read through a client without it and
    // retry briefly themselves (backup::collect).
    let mut reader_config = config;
    reader_config.default_retry = false;
    let reader = kube::Client::try_from(reader_config)?;
    let metrics = Metrics::new();
    let readiness = Readiness::default();
    let ctx = Context::with_reader(
        client.clone(),
        reader,
        options.settings.clone(),
        metrics.clone(),
        Some(options.lease.identity.clone()),
    );
    metrics.register_storage(ctx.stores.stats());
    let mut tasks = tokio::task::JoinSet::new();
    serve_http(&options, &ctx, &readiness, &shutdown, &mut tasks)?;
    serve_webhook(&options, &readiness, &shutdown, &mut tasks);
    tasks.spawn(mirror(ctx.clone(), readiness.clone(), shutdown.clone()));
    let lease = options.lease.clone();
    let leading = shutdown.clone();
    let lease_config = options.kube.clone();
    tasks.spawn(async move {
        leader::run_while_leader(lease_config, lease, leading, move |term| {
            controllers(ctx.clone(), term)
        })
        .await
    });

    // The first task to fail brings the others down; a clean shutdown waits for all, but no
    // longer than the shutdown timeout: a reconcile stuck on a store that stalls (bounded only
    // by the stall timeout) would otherwise outlive the pod's grace period and be SIGKILLed.
    let overdue = async {
        shutdown.cancelled().await;
        tokio::time::sleep(options.shutdown_timeout).await;
    };
    tokio::pin!(overdue);
    let mut outcome = Ok(());
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next() => joined,
            () = &mut overdue => {
                tracing::warn!(
                    timeout = ?options.shutdown_timeout,
                    running = tasks.len(),
                    "work still running at the shutdown timeout is dropped; the next leader's start-up sweep fails and cleans up what it left"
                );
                tasks.abort_all();
                break;
            }
        };
        let Some(joined) = joined else { break };
        let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = result {
            tracing::error!(error = %e, "a server task failed; shutting down");
            shutdown.cancel();
            if outcome.is_ok() {
                outcome = Err(e);
            }
        }
    }
    tracing::info!("server stopped");
    outcome
}

type Tasks = tokio::task::JoinSet<anyhow::Result<()>>;

/// `/metrics`, `/healthz`, `/readyz` and the SSE-C downloads, on the metrics address.
fn serve_http(
    options: &ServerOptions,
    ctx: &Arc<Context>,
    readiness: &Readiness,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(options.metrics_listen)?;
    listener.set_nonblocking(true)?;
    let metrics_addr = listener.local_addr()?;
    println!("veloxide metrics listening on http://{metrics_addr}");
    tracing::info!(addr = %metrics_addr, "serving /metrics, /healthz and /readyz");
    let app =
        http::router(ctx.metrics.clone(), readiness.clone()).merge(download::router(ctx.clone()));
    let shutdown = shutdown.clone();
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)?
        .acceptor(Limited::new(DefaultAcceptor, MAX_CONNECTIONS))
        .handle(handle.clone());
    let server = http_limits::configure(server);
    tasks.spawn(async move {
        shutdown.cancelled().await;
        // Downloads in flight get the same drain as webhook requests.
        handle.graceful_shutdown(Some(Duration::from_secs(10)));
        Ok(())
    });
    tasks.spawn(async move {
        server
            .serve(http_limits::bounded(app).into_make_service())
            .await
            .map_err(anyhow::Error::from)
    });
    Ok(())
}

/// The admission webhook, when it has a certificate; without one, it counts as ready.
fn serve_webhook(
    options: &ServerOptions,
    readiness: &Readiness,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) {
    let Some(webhook_options) = options.webhook.clone() else {
        readiness.webhook_ready.store(true, Ordering::Release);
        return;
    };
    let shutdown = shutdown.clone();
    let ready = readiness.webhook_ready.clone();
    let files = options.settings.files.clone();
    tasks.spawn(async move {
        let router = webhook::router_with(files);
        webhook::serve(webhook_options, router, shutdown, move |addr| {
            println!("veloxide webhook listening on https://{addr}");
            ready.store(true, Ordering::Release);
        })
        .await
        .map_err(anyhow::Error::from)
    });
}

/// Every replica mirrors the locations (metrics, readiness); a deleted one is forgotten.
async fn mirror(
    ctx: Arc<Context>,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let api: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let forget_ctx = ctx.clone();
    controller::mirror_locations(
        api,
        ctx.metrics.clone(),
        readiness.caches_synced.clone(),
        move |name| {
            forget_ctx.secrets_index.remove(name);
            forget_ctx.stores.remove(name);
            forget_ctx.validations.forget(name);
        },
        shutdown,
    )
    .await;
    Ok(())
}

/// What runs on the lease holder, for one leadership term.
async fn controllers(ctx: Arc<Context>, term: CancellationToken) {
    // Before backups and restores start on this leader: fail those another runner left
    // InProgress (Velero's restart behaviour, markInProgressCRsFailed). Locations need not wait.
    let backups = after_sweep(
        "backups",
        &term,
        || controller::backup::sweep::fail_in_progress(&ctx),
        controller::backup::run(ctx.clone(), term.clone()),
    );
    let restores = after_sweep(
        "restores",
        &term,
        || controller::restore::sweep::fail_in_progress(&ctx),
        controller::restore::run(ctx.clone(), term.clone()),
    );
    // A deletion another runner left InProgress is carried out again (deleting is idempotent).
    let deletions = after_sweep(
        "deletion requests",
        &term,
        || controller::deletion::resume::resume_in_progress(&ctx),
        controller::deletion::run(ctx.clone(), term.clone()),
    );
    // `--disable-controllers`: a disabled controller is not started; the backup controller
    // also collects expired backups, so it runs while either part is on and skips the other.
    let on = &ctx.settings.enabled;
    tokio::join!(
        controller::location::run(ctx.clone(), term.clone()),
        when(on.backup || on.gc, backups),
        when(on.restore, restores),
        when(
            on.download_request,
            controller::download::run(ctx.clone(), term.clone())
        ),
        when(on.backup_deletion, deletions),
        when(
            on.backup_sync,
            controller::sync::run(ctx.clone(), term.clone())
        ),
        when(
            on.schedule,
            controller::schedule::run(ctx.clone(), term.clone())
        ),
        when(
            on.server_status_request,
            controller::serverstatus::run(ctx.clone(), term.clone())
        ),
    );
}

/// `controller` when `on`, else nothing (it is never polled, so never started).
async fn when(on: bool, controller: impl Future<Output = ()>) {
    if on {
        controller.await;
    }
}

/// Run `sweep` until it succeeds (only its list can fail it; an object it cannot write is
/// reported and skipped inside), then `controller`; nothing more once the term ends.
async fn after_sweep<S>(
    what: &str,
    term: &CancellationToken,
    sweep: impl Fn() -> S,
    controller: impl Future<Output = ()>,
) where
    S: Future<Output = Result<Swept, kube::Error>>,
{
    while let Err(e) = sweep().await {
        tracing::warn!(error = %e, "the start-up sweep of {what} failed; retrying");
        tokio::select! {
            _ = term.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    controller.await;
}
