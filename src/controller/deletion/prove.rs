//! Before a deletion touches anything: is the folder `backups/<name>/` this backup's? Clusters
//! sharing a bucket name their backups on their own, so a same-named folder may be another
//! cluster's backup.

use crate::api::BackupStorageLocation;
use crate::backup::{Proof, backup_dir, proof};
use crate::controller::{Context, store_for};

/// `Ok` when the folder is this backup's (its marker or stored metadata names `uid`) or holds
/// nothing that could be; otherwise the refusal, naming what the store shows.
pub async fn ours(
    ctx: &Context,
    location: &BackupStorageLocation,
    name: &str,
    uid: &str,
) -> Result<(), String> {
    let location_name = location.metadata.name.clone().unwrap_or_default();
    let dir = backup_dir(name);
    let store = store_for(ctx, location)
        .await
        .map_err(|e| format!("backup storage location {location_name} cannot be used: {e}"))?;
    match proof(&store, name, uid).await {
        Ok(Proof::Ours | Proof::Absent) => Ok(()),
        Ok(Proof::Other(why)) => Err(format!(
            "{dir} in location {location_name} is another backup of the same name, not this \
             one ({why}); nothing was deleted (it may be another cluster's sharing the bucket)"
        )),
        Err(e) => Err(format!(
            "cannot tell whether {dir} in location {location_name} is this backup's, so nothing \
             was deleted; ask again: {e}"
        )),
    }
}
