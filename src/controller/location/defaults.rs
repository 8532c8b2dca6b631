//! At most one default location: when several say `default: true`, the most recently created
//! keeps it (Velero's rule) and the others are switched off, each with an event saying why.

use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::api::BackupStorageLocation;
use crate::controller::{Context, Result, is_conflict};

/// Of the locations marked default, the one that keeps it: the newest (ties: the last name).
pub fn default_winner(locations: &[BackupStorageLocation]) -> Option<&BackupStorageLocation> {
    locations
        .iter()
        .filter(|l| l.spec.default == Some(true) && l.metadata.deletion_timestamp.is_none())
        .max_by(|a, b| {
            let key = |l: &BackupStorageLocation| {
                (
                    l.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    l.metadata.name.clone(),
                )
            };
            key(a).cmp(&key(b))
        })
}

pub(super) async fn ensure_single_default(
    location: &BackupStorageLocation,
    api: &Api<BackupStorageLocation>,
    ctx: &Context,
) -> Result<()> {
    if location.spec.default != Some(true) {
        return Ok(());
    }
    let all = api.list(&ListParams::default()).await?.items;
    let Some(winner) = default_winner(&all) else {
        return Ok(());
    };
    let winner_name = winner.name_any();
    for loser in all
        .iter()
        .filter(|l| l.spec.default == Some(true) && l.name_any() != winner_name)
    {
        // Only the object this decision was made on: if the user changed it since (say, set
        // default: false themselves, or edited it again), the change brings a new reconcile.
        let patch = json!({
            "metadata": {"resourceVersion": loser.resource_version()},
            "spec": {"default": false},
        });
        match api
            .patch(
                &loser.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => {
                tracing::info!(location = %loser.name_any(), "the location changed since it was read; leaving spec.default to the next reconcile");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let event = Event {
            type_: EventType::Normal,
            reason: "DefaultLocationChanged".into(),
            note: Some(format!(
                "no longer the default location: {winner_name:?} also says default: true and was created later"
            )),
            action: "SetDefault".into(),
            secondary: Some(winner.object_ref(&())),
        };
        crate::controller::publish_to(ctx, &event, &loser.object_ref(&())).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::fixtures::{Expect, mock_client, serve};
    use crate::controller::{Context, Settings};
    use crate::metrics::Metrics;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::Value;

    fn listed(name: &str, created: i64, rv: &str) -> Value {
        let mut l = serde_json::to_value(bsl(name, created, true)).unwrap();
        l["metadata"]["namespace"] = json!("velero");
        l["metadata"]["resourceVersion"] = json!(rv);
        l["spec"]["provider"] = json!("aws");
        l["spec"]["objectStorage"] = json!({"bucket": "b"});
        l
    }

    /// The switch-off is conditional on the version the decision was made on; when the user
    /// changed the location meanwhile (409), it is left alone and no event claims otherwise.
    #[tokio::test]
    async fn spec_default_is_rewritten_only_on_the_version_read() {
        for conflict in [false, true] {
            let (client, handle) = mock_client();
            let ctx = Context::new(
                client.clone(),
                Settings::new("velero"),
                Metrics::new(),
                None,
            );
            let api: Api<BackupStorageLocation> = Api::namespaced(client, "velero");
            let mut expected = vec![
                Expect {
                    method: "GET",
                    path: "/apis/velero.io/v1/namespaces/velero/backupstoragelocations",
                    body: |_| {},
                    reply: Some(json!({"apiVersion": "velero.io/v1",
                        "kind": "BackupStorageLocationList", "metadata": {},
                        "items": [listed("old", 100, "3"), listed("new", 200, "4")]})),
                },
                Expect {
                    method: "PATCH",
                    path: "/apis/velero.io/v1/namespaces/velero/backupstoragelocations/old",
                    body: |b| {
                        assert_eq!(b["metadata"]["resourceVersion"], "3", "{b}");
                        assert_eq!(b["spec"]["default"], false);
                    },
                    reply: Some(if conflict {
                        json!({"kind": "Status", "apiVersion": "v1", "code": 409,
                            "status": "Failure", "reason": "Conflict", "message": "changed"})
                    } else {
                        listed("old", 100, "5")
                    }),
                },
            ];
            if !conflict {
                expected.push(Expect {
                    method: "POST",
                    path: "/apis/events.k8s.io/v1/namespaces/velero/events",
                    body: |b| assert_eq!(b["reason"], "DefaultLocationChanged"),
                    reply: None,
                });
            }
            let verifier = tokio::spawn(serve(handle, expected));
            let new: BackupStorageLocation =
                serde_json::from_value(listed("new", 200, "4")).unwrap();
            ensure_single_default(&new, &api, &ctx).await.unwrap();
            verifier.await.unwrap();
        }
    }

    fn bsl(name: &str, created: i64, default: bool) -> BackupStorageLocation {
        let mut l = BackupStorageLocation::new(name, Default::default());
        l.spec.default = Some(default);
        l.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(created).unwrap()));
        l
    }

    #[test]
    fn the_newest_default_wins() {
        let all = [
            bsl("old", 100, true),
            bsl("new", 200, true),
            bsl("newest-but-not-default", 300, false),
        ];
        assert_eq!(default_winner(&all).unwrap().name_any(), "new");
        assert!(default_winner(&[bsl("a", 1, false)]).is_none());
    }
}
