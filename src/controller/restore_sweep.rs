//! What a new leader does before its restore controller starts: every restore left
//! `InProgress` (its runner died or lost the lease) is marked `Failed` with Velero's message.
//! Objects it already created stay; a new restore with `existingResourcePolicy` finishes
//! the job.

use kube::api::ListParams;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::Context;
use super::restore::{event, patch_status};
use super::restore_status::{RESTART_MESSAGE, orphaned};
use crate::api::{Restore, RestorePhase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Fail every `InProgress` restore; returns how many were found.
pub async fn fail_in_progress(ctx: &Context) -> Result<usize, kube::Error> {
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let mut found = 0;
    for restore in api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|r| r.phase() == RestorePhase::InProgress)
    {
        found += 1;
        let status = orphaned(restore.status.as_ref(), &Time(jiff::Timestamp::now()));
        patch_status(&api, &restore.name_any(), &status).await?;
        tracing::warn!(restore = %restore.name_any(), "{RESTART_MESSAGE}");
        ctx.metrics
            .restores
            .failed_total
            .with_label_values(&[restore.schedule()])
            .inc();
        event(ctx, restore, EventType::Warning, "Failed", RESTART_MESSAGE).await;
    }
    Ok(found)
}
