//! One pass over one location: list its backup folders, create a Backup for each stored backup
//! missing here, delete the objects of those whose files are gone, record `lastSyncedTime`.
//! Nothing in the store is written or deleted.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::plan::{Here, decode, here as facts, orphans, prepare, with_owner};
use super::state::{Skip, Summary};
use crate::api::{Backup, BackupStorageLocation};
use crate::backup::stored::{self, StoredError};
use crate::controller::{Context, is_conflict, list, now, publish, store_for};
use crate::storage::ObjectStore;

/// Sync `location`; the error says why it could not be listed at all, or that the term ended
/// mid-pass. Leadership is checked before each folder and each orphan: a replica that lost the
/// lease stops creating and deleting objects at once (a pass over 100,000 folders takes long
/// enough for a new leader to start its own), and records no `lastSyncedTime` for a pass it
/// did not finish.
pub async fn sync_location(
    ctx: &Context,
    location: &BackupStorageLocation,
    term: &CancellationToken,
) -> Result<Summary, String> {
    let name = location.name_any();
    let ns = &ctx.settings.namespace;
    let store = store_for(ctx, location).await?;
    let listing = store
        .list("backups/", Some("/"))
        .await
        .map_err(|e| format!("listing backups/ failed: {e}"))?;
    let in_store: BTreeSet<String> = listing
        .prefixes
        .iter()
        .filter_map(|p| p.strip_prefix("backups/")?.strip_suffix('/'))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .map(str::to_owned)
        .collect();
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), ns);
    // Page by page, each page reduced to the facts the pass needs before the next is read.
    let mut here: BTreeMap<String, Here> = BTreeMap::new();
    list::each(&backups, &ListParams::default(), |backup| {
        here.insert(backup.name_any(), facts(&backup, &name));
    })
    .await
    .map_err(|e| format!("listing Backups failed: {e}"))?;
    let mut summary = Summary {
        found: in_store.len(),
        ..Summary::default()
    };
    let ended = || "the leadership term ended mid-pass; the next leader syncs again".to_owned();
    // Folders are independent: several at a time, so a new cluster sees a bucket of 100,000
    // backups in minutes rather than hours (each folder costs a read from the store and two
    // writes to the API server). The term is checked before each one starts.
    let (store, backups) = (&store, &backups);
    let names: Vec<&str> = in_store.iter().map(String::as_str).collect();
    // By index: a stream of borrowed names trips the compiler's Send inference.
    let outcomes: Vec<Folder> = futures::stream::iter(0..names.len())
        .map(|i| {
            let folder = names[i];
            let existing = here.get(folder).copied();
            async move {
                if term.is_cancelled() {
                    return Folder::Ended;
                }
                sync_folder(ctx, store, backups, location, folder, existing).await
            }
        })
        .buffer_unordered(FOLDERS_IN_FLIGHT)
        .collect()
        .await;
    let mut term_ended = false;
    for outcome in outcomes {
        match outcome {
            Folder::Created => summary.created += 1,
            Folder::Skipped => summary.skipped += 1,
            Folder::Bad => summary.bad += 1,
            Folder::Nothing => {}
            Folder::Ended => term_ended = true,
        }
    }
    if term_ended {
        return Err(ended());
    }
    for backup in orphans(&here, &in_store) {
        if term.is_cancelled() {
            return Err(ended());
        }
        match backups.delete(backup, &Default::default()).await {
            Ok(_) => {
                summary.orphans_deleted += 1;
                tracing::info!(location = %name, %backup, "deleted a Backup object whose files are gone from the location (no data deleted)");
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::warn!(location = %name, %backup, error = %e, "could not delete an orphaned Backup object")
            }
        }
    }
    let patch = json!({"status": {"lastSyncedTime": now()}});
    Api::<BackupStorageLocation>::namespaced(ctx.client.clone(), ns)
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| format!("recording lastSyncedTime failed: {e}"))?;
    Ok(summary)
}

/// How many folders one pass works on at once.
const FOLDERS_IN_FLIGHT: usize = 16;

/// What one folder came to.
enum Folder {
    Created,
    Skipped,
    Bad,
    /// Already here, or not a backup (yet).
    Nothing,
    /// Not looked at: the leadership term had ended.
    Ended,
}

/// Sync one folder: create its Backup when missing here, finish one a previous pass created,
/// record the owner of one an older release synced; anything else of that name is left alone
/// (it is this cluster's, or already synced).
async fn sync_folder(
    ctx: &Context,
    store: &ObjectStore,
    backups: &Api<Backup>,
    location: &BackupStorageLocation,
    folder: &str,
    existing: Option<Here>,
) -> Folder {
    let name = location.name_any();
    let ns = &ctx.settings.namespace;
    // The pass kept facts, not objects: the few Backups it has work on are read whole now,
    // and decided on again as they are now.
    let whole = match existing {
        None => None,
        Some(h) if h.unfinished || h.lacks_owner => match backups.get_opt(folder).await {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(location = %name, backup = %folder, error = %e, "could not read a Backup the sync has work on; the next pass looks again");
                return Folder::Nothing;
            }
        },
        Some(_) => return Folder::Nothing,
    };
    let repair = match whole.as_ref().map(|b| (b, facts(b, &name))) {
        None => None,
        Some((b, now)) if now.unfinished => Some(b),
        Some((b, now)) if now.lacks_owner => {
            if let Err(e) = backfill_owner(store, backups, b, folder, location).await {
                tracing::info!(location = %name, backup = %folder, "could not record whose files a synced backup's are: {e}");
            }
            return Folder::Nothing;
        }
        Some(_) => return Folder::Nothing,
    };
    let outcome = async {
        let bytes = read_metadata(store, folder).await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let stored = decode(&bytes)?;
        let now = jiff::Timestamp::now();
        prepare(stored, folder, location, ns, now).map(Some)
    }
    .await;
    match outcome {
        Ok(None) => {
            tracing::debug!(location = %name, backup = %folder, "no velero-backup.json; not a backup (yet)");
            Folder::Nothing
        }
        Ok(Some(prepared)) => match create(ctx, backups, prepared, repair).await {
            Ok(true) => Folder::Created,
            Ok(false) => Folder::Nothing,
            Err(e) => {
                bad(ctx, location, folder, "CreateFailed", &e).await;
                Folder::Bad
            }
        },
        Err(Skip::Phase(phase)) => {
            tracing::debug!(location = %name, backup = %folder, phase, "not synced: its phase is not a finished one");
            Folder::Skipped
        }
        Err(Skip::Bad(reason, message)) => {
            bad(ctx, location, folder, reason, &message).await;
            Folder::Bad
        }
    }
}

/// The folder's `velero-backup.json`, read to at most [`stored::METADATA_LIMIT`] bytes; `None` when
/// there is none.
async fn read_metadata(store: &ObjectStore, folder: &str) -> Result<Option<Vec<u8>>, Skip> {
    stored::read(store, folder).await.map_err(|e| match e {
        StoredError::TooLarge { .. } => Skip::Bad("TooLarge", e.to_string()),
        e => Skip::Bad("ReadFailed", e.to_string()),
    })
}

/// Record in a Backup an older release synced (its `writtenTo` names no uid, or there is none)
/// the uid its stored metadata carries: deletions prove a folder is a backup's by that uid,
/// and without it no deletion of the backup could ever go ahead. Only `status.writtenTo`
/// changes, fenced on the object read.
async fn backfill_owner(
    store: &ObjectStore,
    backups: &Api<Backup>,
    backup: &Backup,
    folder: &str,
    location: &BackupStorageLocation,
) -> Result<(), String> {
    let skipped = |e: Skip| match e {
        Skip::Phase(phase) => format!("its stored phase is {phase}"),
        Skip::Bad(_, message) => message,
    };
    let bytes = read_metadata(store, folder)
        .await
        .map_err(skipped)?
        .ok_or("its velero-backup.json is gone")?;
    let stored = decode(&bytes).map_err(skipped)?;
    let Some(uid) = stored.metadata.uid.filter(|u| !u.is_empty()) else {
        return Err("its velero-backup.json names no uid".into());
    };
    let record = with_owner(backup, location, uid);
    let mut next = backup.clone();
    next.status.get_or_insert_with(Default::default).written_to = Some(record);
    next.metadata.managed_fields = None;
    backups
        .replace_status(&backup.name_any(), &PostParams::default(), &next)
        .await
        .map_err(|e| format!("writing its status failed: {e}"))?;
    tracing::info!(backup = %folder, "recorded whose files a backup synced by an older release are");
    Ok(())
}

/// Create the Backup (or take the one a previous pass created), then write its status: the
/// status subresource drops status on create, and the object never runs meanwhile (it carries
/// [`SYNCED_ANNOTATION`]). Returns whether an object was created.
async fn create(
    ctx: &Context,
    backups: &Api<Backup>,
    mut prepared: Backup,
    existing: Option<&Backup>,
) -> Result<bool, String> {
    let status = prepared.status.take();
    let (object, created) = match existing {
        Some(b) => (b.clone(), false),
        None => {
            prepared.metadata.owner_references = confirmed_owners(ctx, &prepared).await;
            match backups.create(&PostParams::default(), &prepared).await {
                Ok(b) => (b, true),
                // Made here meanwhile (a backup of this name started): not ours to touch.
                Err(e) if is_conflict(&e) => return Ok(false),
                Err(e) => return Err(format!("creating the Backup failed: {e}")),
            }
        }
    };
    let mut with_status = object.clone();
    with_status.status = status;
    with_status.metadata.managed_fields = None;
    // Fenced on the object just read: if anything changed it, the next pass looks again.
    backups
        .replace_status(&object.name_any(), &PostParams::default(), &with_status)
        .await
        .map_err(|e| format!("writing the synced Backup's status failed: {e}"))?;
    tracing::info!(backup = %object.name_any(), "synced a backup from its location");
    Ok(created)
}

/// Schedule owner references whose Schedule exists here with the same uid; every other is
/// dropped (kept, the garbage collector would delete the Backup for want of its owner).
async fn confirmed_owners(
    ctx: &Context,
    backup: &Backup,
) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>> {
    let refs = backup.metadata.owner_references.clone()?;
    let schedules: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &ctx.settings.namespace,
        &ApiResource {
            group: "velero.io".into(),
            version: "v1".into(),
            api_version: "velero.io/v1".into(),
            kind: "Schedule".into(),
            plural: "schedules".into(),
        },
    );
    let mut kept = Vec::new();
    for r in refs {
        match schedules.get_opt(&r.name).await {
            Ok(Some(s)) if s.uid().as_deref() == Some(r.uid.as_str()) => kept.push(r),
            Ok(_) => {
                tracing::info!(backup = %backup.name_any(), schedule = %r.name, "dropped an owner reference to a schedule that does not exist here")
            }
            Err(e) => {
                tracing::info!(backup = %backup.name_any(), schedule = %r.name, error = %e, "dropped an owner reference to a schedule that could not be confirmed")
            }
        }
    }
    (!kept.is_empty()).then_some(kept)
}

/// One unusable file: a metric and a Warning event on the location; the pass goes on.
async fn bad(
    ctx: &Context,
    location: &BackupStorageLocation,
    folder: &str,
    reason: &str,
    message: &str,
) {
    let name = location.name_any();
    ctx.metrics
        .sync
        .bad_metadata
        .with_label_values(&[&name, reason])
        .inc();
    tracing::warn!(location = %name, backup = %folder, reason, "{message}");
    let note = format!("backup {folder} was not synced: {message}");
    publish(
        ctx,
        location,
        EventType::Warning,
        "BackupNotSynced",
        "Sync",
        &note,
    )
    .await;
}
