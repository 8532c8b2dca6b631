//! Where a backup's files are, for everything that reaches them after its run: cleanup
//! retries, the start-up sweep, deletions, the Restore finalizer, restores and download links.
//! They go through the location recorded in `status.writtenTo`, and only while it still points
//! at the store the files were written to: a location repointed since (another bucket, prefix,
//! endpoint or region) may hold a same-named folder that is someone else's.

use kube::{Api, ResourceExt};

use super::{Context, store_for};
use crate::api::{Backup, BackupStorageLocation, BackupWrittenTo};
use crate::storage::ObjectStore;

/// The store holding a backup's files, and whose files they are.
pub struct Files {
    pub location: BackupStorageLocation,
    pub store: ObjectStore,
    /// The uid the folder's owner marker (or stored metadata) must name.
    pub uid: String,
}

/// Why a backup's files cannot be reached; each says so in a message for a condition or an
/// event (no secret material).
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// The backup names no location at all.
    #[error("backup {0:?} names no backup storage location")]
    NoLocation(String),
    #[error("backup storage location {0:?} does not exist")]
    LocationGone(String),
    /// The location points elsewhere now: the message says where, and how to fix it.
    #[error("{0}")]
    Moved(String),
    #[error("backup storage location {0:?} cannot be used: {1}")]
    Unusable(String, String),
    #[error("reading backup storage location {0:?} failed: {1}")]
    Api(String, kube::Error),
}

impl Unreachable {
    /// The reason a condition or an event carries.
    pub fn reason(&self) -> &'static str {
        match self {
            Unreachable::NoLocation(_) | Unreachable::LocationGone(_) => "LocationNotFound",
            Unreachable::Moved(_) => "LocationMoved",
            Unreachable::Unusable(..) => "LocationUnusable",
            Unreachable::Api(..) => "KubeApi",
        }
    }
}

/// Whether `location` still points where `backup`'s files were written: a message when not.
/// A backup without a record (older releases, Velero's) is not compared.
pub fn moved(backup: &Backup, location: &BackupStorageLocation) -> Option<String> {
    let written = backup.status.as_ref()?.written_to.as_ref()?;
    written.moved(&BackupWrittenTo::of(&location.name_any(), &location.spec))
}

/// The location and store of `backup`'s files: the recorded location (else, for a backup of
/// an older release or of Velero, `spec.storageLocation`), refused when it points elsewhere now.
pub async fn files_of(ctx: &Context, backup: &Backup) -> Result<Files, Unreachable> {
    let name = backup
        .files_location()
        .ok_or_else(|| Unreachable::NoLocation(backup.name_any()))?
        .to_owned();
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let location = locations
        .get_opt(&name)
        .await
        .map_err(|e| Unreachable::Api(name.clone(), e))?
        .ok_or_else(|| Unreachable::LocationGone(name.clone()))?;
    if let Some(why) = moved(backup, &location) {
        return Err(Unreachable::Moved(why));
    }
    let store = store_for(ctx, &location)
        .await
        .map_err(|e| Unreachable::Unusable(name.clone(), e))?;
    let uid = backup
        .status
        .as_ref()
        .and_then(|s| s.written_to.as_ref())
        .and_then(|w| w.uid.clone())
        .or_else(|| backup.uid())
        .unwrap_or_default();
    Ok(Files {
        location,
        store,
        uid,
    })
}
