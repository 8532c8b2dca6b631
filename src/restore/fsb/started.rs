//! The restore's side of file-system restores: the backup's snapshots read at the start
//! ([`prepare`]), a created pod's PodVolumeRestores made and waited for on a task of its own
//! ([`start`]: the other items go on being created meanwhile, as Velero's restorer runs in a
//! goroutine per pod), and what they ended as recorded ([`record`]).

use serde_json::Value;
use tokio::task::JoinSet;

use super::pvr::{self, Ended, Maker};
use super::wait_container::volumes_of;
use super::{FsRestore, FsVolume, FsVolumes};
use crate::backup::sidefiles::Results;
use crate::restore::log::RestoreLog;
use crate::storage::ObjectStore;

/// A created pod whose volumes are to be written back.
pub struct FsPod {
    namespace: String,
    name: String,
    volumes: Vec<FsVolume>,
}

/// One pod's results: its namespace and a line per volume.
pub type PodEnded = (String, Vec<Ended>);

/// The snapshots of the backup's PodVolumeBackups; none (and an error in the results) when
/// the backup's list cannot be read, so no pod waits for a volume nothing will write.
pub async fn prepare(
    store: &ObjectStore,
    backup: &str,
    target: impl Fn(&str) -> String,
    image: &str,
    log: &mut RestoreLog,
    results: &mut Results,
) -> FsRestore {
    let volumes = match super::load(store, backup).await {
        Ok(pvbs) => FsVolumes::from_backups(&pvbs, target),
        Err(e) => {
            let message = format!("pod volumes backed up file by file are not restored: {e}");
            log.line("error", &message);
            results.errors.add_general(message);
            FsVolumes::default()
        }
    };
    FsRestore {
        volumes,
        image: image.to_owned(),
    }
}

/// The pod just created, when it has volumes to write back.
pub fn pending(
    group_resource: &str,
    created: bool,
    object: Option<&Value>,
    fs: &FsRestore,
) -> Option<FsPod> {
    let pod = object.filter(|_| created && group_resource == "pods")?;
    let volumes: Vec<FsVolume> = volumes_of(pod, &fs.volumes).into_iter().cloned().collect();
    (!volumes.is_empty()).then(|| FsPod {
        namespace: pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        name: pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        volumes,
    })
}

/// Make the pod's PodVolumeRestores and wait for them on a task of its own.
pub fn start(
    pod: FsPod,
    client: &kube::Client,
    maker: &Maker,
    log: &mut RestoreLog,
    waits: &mut JoinSet<PodEnded>,
) {
    log.line(
        "info",
        &format!(
            "Restoring {} volumes of pod {}/{} file by file (its restore-wait init container waits for them)",
            pod.volumes.len(),
            pod.namespace,
            pod.name
        ),
    );
    let client = client.clone();
    let maker = maker.clone();
    waits.spawn(async move {
        let ended =
            pvr::restore_pod(&client, &maker, &pod.namespace, &pod.name, &pod.volumes).await;
        (pod.namespace, ended)
    });
}

/// Wait for every pod's volumes, recording each as it ends.
pub async fn finish(waits: &mut JoinSet<PodEnded>, log: &mut RestoreLog, results: &mut Results) {
    if !waits.is_empty() {
        log.line(
            "info",
            &format!("Waiting for the volumes of {} restored pods", waits.len()),
        );
    }
    while let Some(done) = waits.join_next().await {
        match done {
            Ok(ended) => record(ended, log, results),
            Err(e) => {
                let message = format!("a restored pod's volume restores did not finish: {e}");
                log.line("error", &message);
                results.errors.add_general(message);
            }
        }
    }
}

/// Each volume's line in the log; failures are errors in the results (the restore ends
/// PartiallyFailed), in the pod's namespace.
fn record(ended: PodEnded, log: &mut RestoreLog, results: &mut Results) {
    let (namespace, lines) = ended;
    for line in lines {
        match line {
            Ok(done) => log.line("info", &done),
            Err(e) => {
                log.line("error", &e);
                results.errors.add(Some(&namespace), e);
            }
        }
    }
}
