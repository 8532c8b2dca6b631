//! Before a backup is looked at: the location it goes to, and Velero's location label.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::backup::STORAGE_LOCATION_LABEL;
use crate::api::label::valid_name;
use crate::api::{Backup, BackupStorageLocation};
use crate::controller::{Context, Error};

/// The location the backup names, else the one marked default, else the server's default name
/// (Velero's rule).
pub(super) async fn location_name(ctx: &Context, backup: &Backup) -> Result<String, Error> {
    if let Some(l) = backup
        .spec
        .storage_location
        .as_deref()
        .filter(|l| !l.is_empty())
    {
        return Ok(l.to_owned());
    }
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let list = locations.list(&Default::default()).await?;
    Ok(list
        .items
        .iter()
        .find(|l| l.spec.default == Some(true))
        .map_or_else(
            || ctx.settings.backup.default_location.clone(),
            |l| l.name_any(),
        ))
}

/// Velero's location label and the resolved location name, in one write guarded by the
/// resourceVersion; `true` when it was written (the backup is looked at again when the watch
/// brings it back). No finalizer: deleting the object deletes no data.
pub(super) async fn label(
    api: &Api<Backup>,
    backup: &Backup,
    location_name: &str,
) -> Result<bool, Error> {
    let label = valid_name(location_name);
    let labelled = backup.labels().get(STORAGE_LOCATION_LABEL) == Some(&label);
    if labelled && backup.spec.storage_location.as_deref() == Some(location_name) {
        return Ok(false);
    }
    let patch = json!({
        "metadata": {
            "resourceVersion": backup.resource_version(),
            "labels": {STORAGE_LOCATION_LABEL: label},
        },
        "spec": {"storageLocation": location_name},
    });
    api.patch(
        &backup.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(true)
}
