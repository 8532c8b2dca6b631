//! One writer at a time for a claimed run's status. A replica that lost the lease but has not
//! noticed yet must not overwrite what the new leader wrote (its start-up sweep's `Failed`,
//! after it deleted the run's files). Every status write of a claimed backup or restore is a
//! merge patch carrying the resourceVersion this replica last wrote or read, so the API server
//! refuses it (409) once anyone else has written; and the write is skipped outright when this
//! replica knows it no longer leads.

use std::fmt::Debug;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::is_conflict;

/// What became of a fenced write.
#[derive(Debug)]
pub enum Fenced<K> {
    /// Written; the object as stored.
    Written(K),
    /// Someone else wrote first and the run is no longer this replica's to finish (for
    /// example the new leader's sweep failed it): nothing was written.
    Lost(K),
    /// This replica no longer leads: nothing was written; the next leader's sweep decides.
    NotLeader,
}

/// What a start-up sweep of the runs left `InProgress` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Runs found InProgress.
    pub found: usize,
    /// Of those, marked Failed.
    pub failed: usize,
    /// Of those, whose status could not be written (reported, left as they were).
    pub skipped: Vec<String>,
}

/// Attempts before a write that keeps failing for other reasons than a conflict gives up.
const ATTEMPTS: u32 = 5;

/// The merge patch of a fenced status write: the status, and the resourceVersion it is
/// conditional on.
pub fn fenced_patch(resource_version: &str, status: &impl Serialize) -> serde_json::Value {
    json!({"metadata": {"resourceVersion": resource_version}, "status": status})
}

/// Write `status` to `name`'s status if the object is still at `*resource_version`. On a
/// conflict the object is read again: when `still_ours` says the run is still in the state
/// this replica claimed (InProgress), the write is retried on the new version (a label
/// change, say); otherwise the run is [`Fenced::Lost`]. `*resource_version` follows every
/// successful write and read. `leading` is the leadership token: cancelled, nothing is written.
pub async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    resource_version: &mut String,
    status: &S,
    still_ours: impl Fn(&K) -> bool,
    leading: &CancellationToken,
) -> Result<Fenced<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let mut failures = 0;
    loop {
        // The cheap check first; the resourceVersion is the fence that holds across replicas.
        if leading.is_cancelled() {
            return Ok(Fenced::NotLeader);
        }
        let patch = fenced_patch(resource_version, status);
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(stored) => {
                *resource_version = stored.resource_version().unwrap_or_default();
                return Ok(Fenced::Written(stored));
            }
            Err(e) if is_conflict(&e) => {
                let now = api.get(name).await?;
                if !still_ours(&now) {
                    return Ok(Fenced::Lost(now));
                }
                *resource_version = now.resource_version().unwrap_or_default();
            }
            // A refusal (invalid, forbidden, gone) will not change by retrying.
            Err(kube::Error::Api(e)) if (400..500).contains(&e.code) && e.code != 429 => {
                return Err(kube::Error::Api(e));
            }
            Err(e) if failures + 1 < ATTEMPTS => {
                failures += 1;
                tracing::warn!(name, error = %e, "writing a status failed; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(failures))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::api::{Backup, BackupPhase};
    use crate::controller::fixtures::{Expect, mock_client, serve};

    fn in_progress(_: &Backup) -> bool {
        true
    }

    #[test]
    fn the_patch_carries_the_version_it_is_conditional_on() {
        assert_eq!(
            fenced_patch("42", &json!({"phase": "Completed"})),
            json!({"metadata": {"resourceVersion": "42"}, "status": {"phase": "Completed"}})
        );
    }

    #[tokio::test]
    async fn a_run_another_writer_finished_is_lost_and_not_overwritten() {
        let (client, handle) = mock_client();
        let api: Api<Backup> = Api::namespaced(client, "velero");
        let path = "/apis/velero.io/v1/namespaces/velero/backups/b1/status";
        let server = tokio::spawn(serve(
            handle,
            vec![
                Expect {
                    method: "PATCH",
                    path,
                    body: |b: &Value| assert_eq!(b["metadata"]["resourceVersion"], "7"),
                    reply: Some(json!({"kind": "Status", "apiVersion": "v1", "code": 409,
                        "status": "Failure", "reason": "Conflict", "message": "conflict"})),
                },
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/backups/b1",
                    body: |_| {},
                    reply: Some(json!({"apiVersion": "velero.io/v1", "kind": "Backup",
                        "metadata": {"name": "b1", "namespace": "velero", "resourceVersion": "9"},
                        "spec": {}, "status": {"phase": "Failed"}})),
                },
            ],
        ));
        let mut rv = "7".to_owned();
        let outcome = write_status(
            &api,
            "b1",
            &mut rv,
            &json!({"phase": "Completed"}),
            |b: &Backup| b.phase() == BackupPhase::InProgress,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(
            matches!(&outcome, Fenced::Lost(b) if b.phase() == BackupPhase::Failed),
            "{outcome:?}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_replica_that_knows_it_lost_the_lease_writes_nothing() {
        let (client, handle) = mock_client();
        let api: Api<Backup> = Api::namespaced(client, "velero");
        let server = tokio::spawn(serve(handle, vec![]));
        let lost = CancellationToken::new();
        lost.cancel();
        let mut rv = "7".to_owned();
        let outcome = write_status(&api, "b1", &mut rv, &json!({}), in_progress, &lost)
            .await
            .unwrap();
        assert!(matches!(outcome, Fenced::NotLeader));
        server.await.unwrap();
    }
}
