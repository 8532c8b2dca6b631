//! One backup's work: list, archive and upload concurrently through a bounded channel, then
//! the side files. `velero-backup.json` is written separately ([`write_metadata`]) once the
//! caller has the final status, so its presence in the store means the backup is complete.

use std::io;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use super::error::BackupError;
use super::filter::ResourceDesc;
use super::keys::{backup_dir, backup_key};
use super::produce::{CRDS, Sources, produce};
use super::request::Request;
use super::sidefiles::{BackupLog, Results};
use super::timings::{Timings, timed};
use super::volumes;
use crate::storage::{Claim, ObjectStore, Owner, Recorded};

/// Chunks waiting for the upload; with 256 KiB chunks, at most 2 MiB between the two sides.
const CHANNEL_DEPTH: usize = 8;

/// What a finished backup wrote.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub items: u64,
    pub errors: u64,
    pub warnings: u64,
    pub tarball_size: u64,
    /// What the store recorded for the archive (every other object was checked against the
    /// same location settings by its own HEAD).
    pub encryption: Recorded,
    /// Objects written and HEAD-checked so far (velero-backup.json adds one).
    pub objects: u64,
    /// The hooks run on the backup's pods.
    pub hooks: crate::hooks::Tally,
    /// Snapshots attempted, completed and failed.
    pub volumes: volumes::record::Counts,
    /// Where the time went (status writes are the controller's to add).
    pub timings: Timings,
}

/// JSON, gzipped, as Velero's `encode.ToJSONGzip` writes its side files.
fn gzip_json(value: &serde_json::Value) -> io::Result<Vec<u8>> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(value).map_err(io::Error::other)?)?;
    gz.finish()
}

/// Run the backup: claim `backups/<name>/` (see [`crate::storage::Owner`]), then write. A
/// folder that is not empty, or whose marker another run wrote first, is a name taken
/// ([`BackupError::AlreadyExists`]); a store that does not answer the check cleanly fails the
/// run before anything is written ([`BackupError::Unchecked`]). On a failure after the claim,
/// the caller deletes the files this run wrote ([`super::remove_own`], while the marker still
/// names it), so a failed backup leaves nothing behind and never touches what is not its own.
pub async fn run(request: Request<'_>) -> Result<Outcome, BackupError> {
    let store = request.store;
    let dir = backup_dir(request.name);
    let (namespace, _) = request.qualified.split_once('/').unwrap_or(("", ""));
    let owner = Owner {
        kind: "Backup".into(),
        namespace: namespace.to_owned(),
        name: request.name.to_owned(),
        uid: request.uid.to_owned(),
    };
    // Existence is what a listing the store answered says, nothing else.
    match store.holds_any(&dir).await {
        Ok(false) => {}
        Ok(true) => {
            tracing::info!(
                backup = request.qualified,
                "the name is taken in the store: {dir} holds objects"
            );
            return Err(BackupError::AlreadyExists);
        }
        Err(e) => return Err(BackupError::Unchecked(e)),
    }
    match store.claim_dir(&dir, &owner).await {
        Ok(Claim::Claimed) => {}
        Ok(Claim::Taken(why)) => {
            tracing::info!(
                backup = request.qualified,
                "the name is taken in the store: {why}"
            );
            return Err(BackupError::AlreadyExists);
        }
        // The marker may be there or not: the caller's cleanup looks, and deletes it only if
        // it names this run.
        Err(e) => return Err(e.into()),
    }
    // On failure the caller cleans up (once, recording what it removed in the status).
    write_all(&request).await
}

async fn write_all(request: &Request<'_>) -> Result<Outcome, BackupError> {
    let mut log = BackupLog::new(request.qualified)?;
    let mut results = Results::default();
    log.line("info", "Starting backup");
    let mut timings = Timings::default();
    let all = timed(&mut timings.discovery, request.source.discover())
        .await
        .map_err(BackupError::Discovery)?;
    let (resources, unresolved) = request.plan.resources(&all);
    for name in unresolved {
        let message = format!("resource {name:?} named in the spec is not served by the cluster");
        log.line("warning", &message);
        results.warnings.add_general(message);
    }

    // Volumes first, pod by pod (pre hooks, snapshots, post hooks): the archive then holds the
    // snapshots' objects and the claims that point at them.
    let takes = |plural: &str| {
        resources
            .iter()
            .any(|r| r.group.is_empty() && r.plural == plural)
    };
    let job = volumes::Job {
        client: request.client.clone(),
        backup: request.backup,
        plan: request.plan,
        hooks: request.hooks,
        takes_pods: takes("pods"),
        takes_claims: takes("persistentvolumeclaims"),
        policies: request.policies,
        timeout: request.csi_timeout.clone(),
        metrics: request.csi_metrics,
        location: request.location,
        fs: request.fs,
    };
    // Boxed, both: each future is large, and inline they overflowed a worker's stack.
    let taken = timed(
        &mut timings.volumes,
        Box::pin(volumes::back_up(&job, &mut log, &mut results)),
    )
    .await;
    let written = Box::pin(write_archive(
        request, &all, &resources, &taken, log, results, timings,
    ))
    .await;
    if written.is_err() {
        // A failed backup keeps no snapshot: nothing will ever restore or delete it.
        volumes::discard(&request.client, &taken).await;
    }
    written
}

/// The archive, the side files and the log, once the volumes are taken.
async fn write_archive(
    request: &Request<'_>,
    all: &[ResourceDesc],
    resources: &[&ResourceDesc],
    taken: &volumes::Taken,
    mut log: BackupLog,
    mut results: Results,
    mut timings: Timings,
) -> Result<Outcome, BackupError> {
    let store = request.store;
    let name = request.name;

    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
    let progress = &request.progress;
    let body = StreamReader::new(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        if let Ok(bytes) = &chunk {
            progress.send_modify(|p| p.bytes += bytes.len() as u64);
        }
        Some((chunk, rx))
    })));
    let tar_key = backup_key(name, &format!("{name}.tar.gz"));
    // Each side notes when it ended: the upload's time after the producer's last chunk is
    // the store finishing the archive (its last part, completion and HEAD).
    let upload = async {
        let uploaded = store.upload(&tar_key, body).await;
        (uploaded, Instant::now())
    };
    let crds = all
        .iter()
        .find(|r| r.group_resource() == CRDS)
        .filter(|crds| {
            let chosen = resources.iter().any(|r| r.group_resource() == CRDS);
            request.plan.adds_crds_of_items(crds, chosen)
        });
    let sources = Sources {
        resources,
        all,
        crds,
        taken,
    };
    let listed_before = request.source.waited();
    let produce_started = Instant::now();
    let produce = async {
        let produced = Box::pin(produce(request, sources, tx, &mut log, &mut results)).await;
        (produced, Instant::now())
    };
    let ((uploaded, upload_ended), (produced, produce_ended)) = tokio::join!(upload, produce);
    // The upload's error says why it stopped; the producer then only saw a closed channel.
    let uploaded = uploaded?;
    let produced = produced?;
    timings.split_producer(
        produce_ended - produce_started,
        request.source.waited() - listed_before + produced.listing,
        produced.sending,
    );
    timings.upload += upload_ended.saturating_duration_since(produce_ended);
    let (items, resource_list) = (produced.items, produced.list);
    log.line("info", &format!("Backed up a total of {items} items"));
    let side_files_started = Instant::now();

    // The owner marker and the archive, each HEAD-checked when written.
    let mut objects = 2;
    // The volumes' records and the resource list, side by side (each HEAD-checked).
    let mut volume_files = volumes::record::side_files(
        name,
        request.uid,
        &taken.records,
        taken.pod_volume_infos(),
        &taken.classes.values().cloned().collect::<Vec<_>>(),
    );
    // The PodVolumeBackups as they ended, where Velero keeps them (its restore reads the
    // snapshots to write from here); only when the backup made any.
    if !taken.pod_volume_backups.is_empty() {
        let pvbs = serde_json::to_value(&taken.pod_volume_backups).map_err(io::Error::other)?;
        volume_files.push(("podvolumebackups.json.gz", pvbs));
    }
    let volume_puts =
        futures::future::try_join_all(volume_files.into_iter().map(|(suffix, json)| async move {
            let key = backup_key(name, &format!("{name}-{suffix}"));
            let body = Bytes::from(gzip_json(&json)?);
            Ok::<_, BackupError>(store.put(&key, body).await?)
        }));
    let list_key = backup_key(name, &format!("{name}-resource-list.json.gz"));
    let list_file = tokio::fs::File::from_std(resource_list.finish()?);
    let list_upload = async { Ok::<_, BackupError>(store.upload(&list_key, list_file).await?) };
    let (volume_written, _) = tokio::try_join!(volume_puts, list_upload)?;
    objects += volume_written.len() as u64 + 1;
    // The archive holds the snapshots' objects: they leave the cluster now (the storage
    // snapshots stay, their contents Retain), as Velero's finalizing step removes them.
    for record in &taken.records {
        if let Some(ready) = record.ready() {
            let snapshot = ready.snapshot["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            let content = ready.content["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            if let Err(e) =
                volumes::snapshot::release(&request.client, &record.namespace, snapshot, content)
                    .await
            {
                let message = format!(
                    "removing VolumeSnapshot {}/{snapshot} from the cluster failed (the backup holds it): {e}",
                    record.namespace
                );
                log.line("warning", &message);
                results.warnings.add(Some(&record.namespace), message);
            }
        }
    }
    // The results and the log, side by side: nothing is added to either after this.
    let results_body = Bytes::from(results.to_gzip()?);
    timings.side_files += side_files_started.elapsed();
    log.line(
        "info",
        &format!(
            "Time per phase (the results' and the log's own upload and status writes not \
             included): {}",
            timings.line()
        ),
    );
    log.line(
        "info",
        "Backup files written; writing velero-backup.json last",
    );
    let results_key = backup_key(name, &format!("{name}-results.gz"));
    let logs_key = backup_key(name, &format!("{name}-logs.gz"));
    let log_file = tokio::fs::File::from_std(log.finish()?);
    let results_put = async { Ok::<_, BackupError>(store.put(&results_key, results_body).await?) };
    let log_upload = async { Ok::<_, BackupError>(store.upload(&logs_key, log_file).await?) };
    timed(&mut timings.side_files, async {
        tokio::try_join!(results_put, log_upload)
    })
    .await?;
    objects += 2;
    Ok(Outcome {
        volumes: volumes::record::counts(&taken.records),
        items,
        errors: results.errors.count(),
        warnings: results.warnings.count(),
        tarball_size: uploaded.size,
        encryption: uploaded.encryption,
        objects,
        hooks: taken.hooks,
        timings,
    })
}

/// Write `velero-backup.json` (the Backup object, pretty-printed, as Velero writes it) and
/// HEAD-check it. Called last: its presence means every other object is in place.
pub async fn write_metadata(
    store: &ObjectStore,
    name: &str,
    backup_json: &serde_json::Value,
) -> Result<Recorded, BackupError> {
    let body = serde_json::to_vec_pretty(backup_json).map_err(io::Error::other)?;
    Ok(store
        .put(&backup_key(name, "velero-backup.json"), Bytes::from(body))
        .await?)
}
