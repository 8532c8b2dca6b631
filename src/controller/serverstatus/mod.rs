//! The ServerStatusRequest controller: answer each new request with the server's version and
//! the plugins it stands in for, and delete answered requests a minute later, as Velero does.
//! `velero version` and `velero plugin get` create one and wait for the answer, so both work
//! against a veloxide server.

pub mod state;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DeleteParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::{Context, Error, patch_status, run_until};
use crate::api::{
    PluginInfo, ServerStatusRequest, ServerStatusRequestPhase, ServerStatusRequestStatus,
};
use state::{CONTROLLER, TTL};

/// The version `velero version` prints for this server.
pub fn server_version() -> String {
    format!("veloxide-v{}", env!("CARGO_PKG_VERSION"))
}

/// What `velero plugin get` lists: the Velero plugins whose work veloxide does itself (the AWS
/// object store is built in; no plugin process runs).
pub fn plugins() -> Vec<PluginInfo> {
    vec![PluginInfo {
        name: "velero.io/aws".into(),
        kind: "ObjectStore".into(),
    }]
}

pub async fn run(ctx: Arc<Context>, term: CancellationToken) {
    let api: Api<ServerStatusRequest> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let controller = Controller::new(api, watcher::Config::default());
    run_until(controller, term, reconcile, error_policy, ctx, CONTROLLER).await;
}

fn error_policy(_r: Arc<ServerStatusRequest>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed_reconcile(CONTROLLER, error, Duration::from_secs(5))
}

/// What to do with a request, from its status and the time.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Answer,
    /// Answered: delete it once this much more time has passed.
    Keep(Duration),
    Delete,
}

fn decide(status: Option<&ServerStatusRequestStatus>, now: jiff::Timestamp) -> Step {
    let Some(status) = status.filter(|s| s.phase == Some(ServerStatusRequestPhase::Processed))
    else {
        return Step::Answer;
    };
    // Answered without a time (written by hand): keep it one TTL from now.
    let Some(at) = &status.processed_timestamp else {
        return Step::Keep(TTL);
    };
    let age = Duration::try_from(now.duration_since(at.0)).unwrap_or(Duration::ZERO);
    match TTL.checked_sub(age) {
        Some(left) if !left.is_zero() => Step::Keep(left),
        _ => Step::Delete,
    }
}

async fn reconcile(request: Arc<ServerStatusRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer(CONTROLLER);
    let api: Api<ServerStatusRequest> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let name = request.name_any();
    let now = jiff::Timestamp::now();
    match decide(request.status.as_ref(), now) {
        Step::Answer => {
            let answer = ServerStatusRequestStatus {
                phase: Some(ServerStatusRequestPhase::Processed),
                processed_timestamp: Some(Time(now)),
                server_version: Some(server_version()),
                plugins: Some(plugins()),
            };
            patch_status(&api, &name, &answer).await?;
            Ok(Action::requeue(TTL))
        }
        Step::Keep(left) => Ok(Action::requeue(left)),
        Step::Delete => {
            match api.delete(&name, &DeleteParams::default()).await {
                // Already gone (the CLI deletes its own): nothing left to do.
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Action::await_change())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processed(at: Option<&str>) -> ServerStatusRequestStatus {
        ServerStatusRequestStatus {
            phase: Some(ServerStatusRequestPhase::Processed),
            processed_timestamp: at.map(|t| Time(t.parse().unwrap())),
            ..Default::default()
        }
    }

    #[test]
    fn new_requests_are_answered_and_answered_ones_deleted_after_a_minute() {
        let now: jiff::Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
        let new = ServerStatusRequestStatus {
            phase: Some(ServerStatusRequestPhase::New),
            ..Default::default()
        };
        let cases = [
            (None, Step::Answer),
            (Some(new), Step::Answer),
            (
                Some(processed(Some("2026-12-06T11:59:40Z"))),
                Step::Keep(Duration::from_secs(40)),
            ),
            (Some(processed(Some("2026-12-06T11:59:00Z"))), Step::Delete),
            (Some(processed(Some("2026-12-06T11:00:00Z"))), Step::Delete),
            (Some(processed(None)), Step::Keep(TTL)),
            // A clock that went back: kept a whole TTL, not deleted early.
            (
                Some(processed(Some("2026-12-06T12:00:30Z"))),
                Step::Keep(TTL),
            ),
        ];
        for (status, want) in cases {
            assert_eq!(decide(status.as_ref(), now), want, "{status:?}");
        }
    }

    #[test]
    fn the_version_names_veloxide() {
        assert!(server_version().starts_with("veloxide-v"));
        assert_eq!(plugins()[0].kind, "ObjectStore");
    }
}
