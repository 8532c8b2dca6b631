//! At most one default location: when several say `default: true`, the most recently created
//! keeps it (Velero's rule) and the others are switched off, each with an event saying why.

use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, Result};
use crate::api::BackupStorageLocation;

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
        api.patch(
            &loser.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"default": false}})),
        )
        .await?;
        let event = Event {
            type_: EventType::Normal,
            reason: "DefaultLocationChanged".into(),
            note: Some(format!(
                "no longer the default location: {winner_name:?} also says default: true and was created later"
            )),
            action: "SetDefault".into(),
            secondary: Some(winner.object_ref(&())),
        };
        super::location::publish(ctx, &event, &loser.object_ref(&())).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

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
