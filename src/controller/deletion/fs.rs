//! A deleted backup's file-system backups: their snapshots forgotten in the repositories of the
//! volumes' namespaces (`backup::volumes::fs_delete`), before the backup's files go, since the
//! list of them is one of those files. The repository password is read only when there is
//! something to forget.

use std::sync::Arc;

use super::state::Files;
use crate::backup::volumes::fs_delete;
use crate::controller::Context;
use crate::storage::ObjectStore;

/// Through `store`, the deletion's own (the location the backup was written to, opened once).
pub(super) async fn forget(
    ctx: &Context,
    store: &Arc<ObjectStore>,
    name: &str,
    files: &Files,
) -> Result<(), String> {
    let snapshots = fs_delete::recorded(store, name).await?;
    if snapshots.is_empty() {
        return Ok(());
    }
    let password = crate::repository::read_password(&ctx.client, &ctx.settings.namespace)
        .await
        .map_err(|e| format!("forgetting the backup's file-system backups: {e}"))?;
    let forgotten =
        fs_delete::forget(store.clone(), &password, name, &files.uid, &snapshots).await?;
    tracing::info!(
        backup = name,
        forgotten,
        "the backup's file-system backups forgotten"
    );
    Ok(())
}
