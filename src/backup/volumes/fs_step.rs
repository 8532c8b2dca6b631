//! File-system backup of one pod's volumes, inside its step (after its pre hooks, before its
//! post hooks), as Velero's backupper does (`pkg/podvolume/backupper.go`): the volumes
//! [`fs_select`] chooses get a PodVolumeBackup each ([`fs_request`]), taken by the node agent
//! of the pod's node; the step waits for them all to end, within what is left of the server's
//! `--fs-backup-timeout` (Velero's default 4h) since the backup began. A PodVolumeBackup that
//! fails, or does not end in time, is an error of the backup (which ends PartiallyFailed)
//! naming the pod, the volume and why.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

use super::fs_policy::read_claim;
use super::fs_request::{ClaimRef, PVC_NAME_ANNOTATION, pod_volume_backup, repo_identifier};
use super::fs_select::{FsChoice, select};
use super::record::ClaimVolume;
use super::{Job, Taken};
use crate::api::{PodVolumeBackup, PodVolumePhase, UploaderType};
use crate::backup::sidefiles::{BackupLog, Results};

/// How often a waiting backup reads its PodVolumeBackups again.
const POLL: Duration = Duration::from_secs(1);

/// The PodVolumeBackups made for one pod, by name, and the claims whose volumes they take
/// (`namespace/claim`: no CSI snapshot is taken of those, as in Velero).
#[derive(Debug, Default)]
pub struct Started {
    pub names: Vec<String>,
    pub claims: BTreeSet<String>,
}

/// Whether file-system backup takes every volume by default: the Backup's
/// `defaultVolumesToFsBackup` (or the deprecated `defaultVolumesToRestic`), else the server's
/// `--default-volumes-to-fs-backup`.
pub fn defaults_to_fs(job: &Job<'_>) -> bool {
    job.backup
        .spec
        .volumes_to_fs_backup()
        .unwrap_or(job.fs.default_volumes)
}

/// Create a PodVolumeBackup for each volume of `pod` file-system backup takes; warn about each
/// volume asked for that cannot be taken.
pub async fn start(
    job: &Job<'_>,
    pod: &Pod,
    log: &mut BackupLog,
    results: &mut Results,
) -> Started {
    let mut started = Started::default();
    let namespace = pod.namespace().unwrap_or_default();
    let qualified = format!("{namespace}/{}", pod.name_any());
    let by_policy = super::fs_policy::actions(job, pod).await;
    let chosen: Vec<(String, FsChoice)> = select(pod, defaults_to_fs(job), &by_policy);
    if !chosen.iter().any(|(_, c)| *c == FsChoice::Backup) {
        report_skips(&qualified, &chosen, log, results);
        return started;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if phase != "Running" {
        // Velero's backupper skips the volumes of a pod that is not running (its files may
        // not be there), with a warning.
        let message = format!(
            "pod {qualified} is not running (phase {phase:?}): its volumes were not backed up \
             file by file"
        );
        log.line("warning", &message);
        results.warnings.add(Some(&namespace), message);
        return started;
    }
    report_skips(&qualified, &chosen, log, results);
    let identifier = match repo_identifier(&job.location.spec, UploaderType::Restic, &namespace) {
        Ok(id) => id,
        Err(e) => {
            let message = format!("pod {qualified}: file-system backup not started: {e}");
            log.line("error", &message);
            results.errors.add(Some(&namespace), message);
            return started;
        }
    };
    let api: Api<PodVolumeBackup> = Api::namespaced(
        job.client.clone(),
        &job.backup.namespace().unwrap_or_default(),
    );
    for (volume, _) in chosen.iter().filter(|(_, c)| *c == FsChoice::Backup) {
        let claim = claim_of(job, pod, volume).await;
        let mut pvb = pod_volume_backup(
            job.backup,
            pod,
            volume,
            &identifier,
            UploaderType::Restic,
            claim.as_ref(),
        );
        pvb.spec.backup_storage_location = job.location.name_any();
        match api.create(&PostParams::default(), &pvb).await {
            Ok(created) => {
                let name = created.name_any();
                log.line(
                    "info",
                    &format!("pod {qualified}, volume {volume}: PodVolumeBackup {name} created"),
                );
                started.names.push(name);
                if let Some(claim) = claim {
                    started.claims.insert(format!("{namespace}/{}", claim.name));
                }
            }
            Err(e) => {
                let message = format!(
                    "pod {qualified}, volume {volume}: creating its PodVolumeBackup failed: {e}"
                );
                log.line("error", &message);
                results.errors.add(Some(&namespace), message);
            }
        }
    }
    started
}

fn report_skips(
    qualified: &str,
    chosen: &[(String, FsChoice)],
    log: &mut BackupLog,
    results: &mut Results,
) {
    let namespace = qualified.split('/').next();
    for (_, choice) in chosen {
        match choice {
            FsChoice::Skipped(why) => {
                let message = format!("pod {qualified}: {why}");
                log.line("warning", &message);
                results.warnings.add(namespace, message);
            }
            FsChoice::NotApplicable(why) => log.line("info", &format!("pod {qualified}: {why}")),
            FsChoice::OptedOut | FsChoice::Backup => {}
        }
    }
}

/// The claim behind `volume` of `pod`, when it is one (its uid labels the PodVolumeBackup).
async fn claim_of(job: &Job<'_>, pod: &Pod, volume: &str) -> Option<ClaimRef> {
    let source = pod
        .spec
        .as_ref()?
        .volumes
        .as_ref()?
        .iter()
        .find(|v| v.name == volume)?
        .persistent_volume_claim
        .clone()?;
    let api: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(job.client.clone(), &pod.namespace().unwrap_or_default());
    let uid = api
        .get_opt(&source.claim_name)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.uid())
        .unwrap_or_default();
    Some(ClaimRef {
        name: source.claim_name,
        uid,
    })
}

/// Wait until every PodVolumeBackup in `started` has ended, or `deadline`; record each as it
/// ended (or as it was at the deadline) in `taken`.
pub async fn wait(
    job: &Job<'_>,
    started: Started,
    deadline: Instant,
    taken: &mut Taken,
    log: &mut BackupLog,
    results: &mut Results,
) {
    let api: Api<PodVolumeBackup> = Api::namespaced(
        job.client.clone(),
        &job.backup.namespace().unwrap_or_default(),
    );
    let mut pending = started.names;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in pending {
            match api.get_opt(&name).await {
                Ok(Some(mut pvb)) => match phase(&pvb) {
                    Some(
                        PodVolumePhase::Completed
                        | PodVolumePhase::Failed
                        | PodVolumePhase::Canceled,
                    ) => {
                        pvb.metadata.managed_fields = None;
                        ended(&pvb, log, results);
                        if let Some(claim) = claim_volume(job, &pvb).await {
                            taken.pod_volume_claims.insert(name.clone(), claim);
                        }
                        taken.pod_volume_backups.push(pvb);
                    }
                    _ if Instant::now() >= deadline => {
                        let message = format!(
                            "{}: did not end within the server's --fs-backup-timeout of {} \
                             (phase {:?}; is the node agent running on node {:?}?)",
                            describe(&pvb),
                            humantime(job.fs.timeout),
                            phase(&pvb),
                            pvb.spec.node
                        );
                        log.line("error", &message);
                        results
                            .errors
                            .add(pvb.spec.pod.namespace.as_deref(), message);
                        taken.pod_volume_backups.push(pvb);
                    }
                    _ => still.push(name),
                },
                Ok(None) => {
                    let message = format!("PodVolumeBackup {name} was deleted before it ended");
                    log.line("error", &message);
                    results.errors.add_general(message);
                }
                Err(e) if Instant::now() >= deadline => {
                    let message = format!("PodVolumeBackup {name}: reading it failed: {e}");
                    log.line("error", &message);
                    results.errors.add_general(message);
                }
                Err(_) => still.push(name),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The claim and volume behind a PodVolumeBackup of a claim's volume, for the volume info;
/// `None` for any other volume, or when they cannot be read (the entry then names no claim).
async fn claim_volume(job: &Job<'_>, pvb: &PodVolumeBackup) -> Option<ClaimVolume> {
    let claim = pvb.annotations().get(PVC_NAME_ANNOTATION)?;
    let namespace = pvb.spec.pod.namespace.clone().unwrap_or_default();
    let (_, volume) = read_claim(job, &namespace, claim).await.ok()?;
    let spec = volume.as_ref().and_then(|v| v.spec.as_ref());
    Some(ClaimVolume {
        namespace,
        claim: claim.clone(),
        volume: volume.as_ref().map(|v| v.name_any()).unwrap_or_default(),
        reclaim_policy: spec
            .and_then(|s| s.persistent_volume_reclaim_policy.clone())
            .unwrap_or_default(),
        volume_labels: volume.map(|v| v.labels().clone()).unwrap_or_default(),
    })
}

fn phase(pvb: &PodVolumeBackup) -> Option<PodVolumePhase> {
    pvb.status.as_ref().and_then(|s| s.phase)
}

fn describe(pvb: &PodVolumeBackup) -> String {
    format!(
        "pod {}/{}, volume {} (PodVolumeBackup {})",
        pvb.spec.pod.namespace.as_deref().unwrap_or_default(),
        pvb.spec.pod.name.as_deref().unwrap_or_default(),
        pvb.spec.volume,
        pvb.name_any()
    )
}

fn ended(pvb: &PodVolumeBackup, log: &mut BackupLog, results: &mut Results) {
    let status = pvb.status.clone().unwrap_or_default();
    if phase(pvb) == Some(PodVolumePhase::Completed) {
        log.line(
            "info",
            &format!(
                "{}: completed, snapshot {}",
                describe(pvb),
                status.snapshot_id.unwrap_or_default()
            ),
        );
        return;
    }
    let message = format!(
        "{}: {:?}: {}",
        describe(pvb),
        phase(pvb).unwrap_or(PodVolumePhase::Failed),
        status.message.unwrap_or_default()
    );
    log.line("error", &message);
    results
        .errors
        .add(pvb.spec.pod.namespace.as_deref(), message);
}

/// `4h0m0s` as Velero prints durations, near enough for a message.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}h{}m{}s", s / 3600, s % 3600 / 60, s % 60)
}
