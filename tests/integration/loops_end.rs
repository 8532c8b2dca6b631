//! Every loop ends: a name nothing can have ends with a status saying why (not a requeue every
//! few seconds for ever), a deletion a crashed leader left InProgress is carried out by the
//! next, a schedule is not held back for ever by a backup no controller here advances, and a
//! sync pass ends with the leadership term it began in.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::proxy::Proxy;
use backup_support::*;
use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use server_support::{BUCKET, NS, Server, World};
use veloxide::api::{
    Backup, BackupPhase, DeleteBackupRequest, DeleteBackupRequestPhase, Schedule, SchedulePhase,
};

const WAIT: Duration = Duration::from_secs(60);

fn schedules(world: &World) -> Api<Schedule> {
    Api::namespaced(world.client.clone(), NS)
}

fn requests(world: &World) -> Api<DeleteBackupRequest> {
    Api::namespaced(world.client.clone(), NS)
}

async fn create_schedule(world: &World, name: &str, spec: serde_json::Value) {
    let schedule: Schedule = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .unwrap();
    schedules(world)
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_nothing_can_have_end_with_a_status_saying_why() {
    let world = World::start().await;
    let _server = serve_plain_location(&world, "default").await;
    // 64 characters: the API server takes the Schedule (without the webhook), but its backups'
    // velero.io/schedule-name label cannot hold the name.
    let long = format!("s{}", "x".repeat(63));
    create_schedule(
        &world,
        &long,
        json!({"schedule": "@every 2s", "template": {}}),
    )
    .await;
    eventually("the long-named schedule fails validation", WAIT, || async {
        let s = schedules(&world).get(&long).await.unwrap();
        s.phase() == SchedulePhase::FailedValidation
            && s.status
                .and_then(|st| st.validation_errors)
                .is_some_and(|e| e[0].starts_with("metadata.name: 64 characters"))
    })
    .await;

    let request: DeleteBackupRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
        "metadata": {"name": "spaced", "namespace": NS}, "spec": {"backupName": "my backup"},
    }))
    .unwrap();
    requests(&world)
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    eventually("the request for `my backup` is refused", WAIT, || async {
        let r = requests(&world).get("spaced").await.unwrap();
        r.phase() == DeleteBackupRequestPhase::Processed
            && r.status.and_then(|s| s.errors).is_some_and(|e| {
                e[0].starts_with("spec.backupName \"my backup\" is not a Backup name")
            })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_left_in_progress_by_a_crash_is_carried_out_by_the_next_leader() {
    let world = World::start().await;
    let first = serve_plain_location(&world, "default").await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    let made = backed_up(&world, "b1", json!({"includedNamespaces": ["app"]}), WAIT).await;
    assert!(!list_keys(&world, "default/backups/b1/").is_empty());
    // The leader dies mid-deletion: the Backup is Deleting, its request InProgress, and the
    // files still there (as after a crash before the delete of the folder).
    first.kill();
    let mut deleting = backups(&world).get("b1").await.unwrap();
    deleting.status.as_mut().unwrap().phase = Some(BackupPhase::Deleting);
    deleting.metadata.managed_fields = None;
    backups(&world)
        .replace_status("b1", &PostParams::default(), &deleting)
        .await
        .unwrap();
    let request: DeleteBackupRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
        "metadata": {"name": "b1-crashed", "namespace": NS,
                     "labels": {"velero.io/backup-name": "b1",
                                "velero.io/backup-uid": made.metadata.uid.clone().unwrap()}},
        "spec": {"backupName": "b1"},
    }))
    .unwrap();
    let mut created = requests(&world)
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    created.status = Some(serde_json::from_value(json!({"phase": "InProgress"})).unwrap());
    created.metadata.managed_fields = None;
    requests(&world)
        .replace_status("b1-crashed", &PostParams::default(), &created)
        .await
        .unwrap();

    // The next leader (once the dead one's lease runs out) finishes the job.
    let _second = Server::start(&world.server_kubeconfig, "server-b");
    eventually(
        "the backup and its files are gone",
        Duration::from_secs(90),
        || async {
            backups(&world).get_opt("b1").await.unwrap().is_none()
                && list_keys(&world, "default/backups/b1/").is_empty()
        },
    )
    .await;
    let left: Vec<String> = requests(&world)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|r| r.phase() != DeleteBackupRequestPhase::Processed)
        .map(|r| r.metadata.name.unwrap())
        .collect();
    assert!(left.is_empty(), "requests not done: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_not_held_back_by_a_synced_or_a_migrated_backup() {
    let world = World::start().await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    // Before any server runs: a Backup the sync created (never run here, still New) and one
    // Velero left in its asynchronous phase before a migration, both labelled with the
    // schedule's name.
    let labelled = |name: &str, annotations: serde_json::Value| -> Backup {
        serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations,
                         "labels": {"velero.io/schedule-name": "often"}},
            "spec": {"includedNamespaces": ["app"]},
        }))
        .unwrap()
    };
    backups(&world)
        .create(
            &PostParams::default(),
            &labelled(
                "often-20260101000000",
                json!({"veloxide.io/synced-from": "default"}),
            ),
        )
        .await
        .unwrap();
    let mut waiting = backups(&world)
        .create(
            &PostParams::default(),
            &labelled("often-20260102000000", json!({})),
        )
        .await
        .unwrap();
    waiting.status =
        Some(serde_json::from_value(json!({"phase": "WaitingForPluginOperations"})).unwrap());
    waiting.metadata.managed_fields = None;
    backups(&world)
        .replace_status("often-20260102000000", &PostParams::default(), &waiting)
        .await
        .unwrap();

    let _server = serve_plain_location(&world, "default").await;
    create_schedule(
        &world,
        "often",
        json!({"schedule": "@every 2s", "template": {"includedNamespaces": ["app"]}}),
    )
    .await;
    eventually("the schedule made a backup of its own", WAIT, || async {
        backups(&world)
            .list(&ListParams::default().labels("velero.io/schedule-name=often"))
            .await
            .unwrap()
            .items
            .iter()
            .any(|b| {
                !b.metadata
                    .name
                    .as_deref()
                    .unwrap()
                    .starts_with("often-2026010")
                    && b.phase() == BackupPhase::Completed
            })
    })
    .await;
}

/// How many stored backups the bucket holds for the term test, and the rate (bytes per second)
/// at which the store answers: the pass over them takes minutes, the term ends seconds into it.
const STORED: usize = 1000;
const SLOW_STORE: u64 = 20_000;

/// A sync pass stops when the leadership term ends. Replica A leads (lease 15 s, read every
/// 5 s) and syncs a bucket of 1,000 stored backups through a slow store; a few seconds into the
/// pass replica B takes the Lease. Within two reads of the Lease A stops creating Backups,
/// though its pass is far from done: the new leader may be syncing (and deleting orphans) by
/// then. Before the per-folder check, the pass went on to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_pass_stops_creating_backups_when_the_term_ends() {
    let world = World::start().await;
    // Another cluster's backups, padded to the size of a real velero-backup.json.
    let padding = "p".repeat(2048);
    futures::stream::iter(0..STORED)
        .map(|i| {
            let name = format!("theirs-{i:04}");
            let stored = json!({
                "apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": NS,
                             "uid": format!("00000000-0000-4000-8000-{i:012}"),
                             "annotations": {"padding": padding}},
                "spec": {"includedNamespaces": ["*"]},
                "status": {"phase": "Completed", "expiration": "2099-01-01T00:00:00Z"},
            });
            let path = format!("/{BUCKET}/slow/backups/{name}/velero-backup.json");
            let moto = world.moto.clone();
            async move {
                moto.s3(
                    reqwest::Method::PUT,
                    &path,
                    serde_json::to_vec(&stored).unwrap(),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .for_each(|_| async {})
        .await;
    let proxy = Proxy::start(world.moto.port, None, SLOW_STORE).await;
    let server = Server::start_with(
        &world.server_kubeconfig,
        "replica-a",
        &["--lease-duration", "15s", "--backup-sync-period", "2s"],
    );
    server.wait_ready().await;
    world
        .create_available_location("slow", json!({"s3Url": proxy.url()}), json!({}))
        .await;
    let count = || async {
        backups(&world)
            .list_metadata(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
    };
    eventually("the pass has begun", Duration::from_secs(60), || async {
        count().await >= 10
    })
    .await;

    // The handover, as in `leader_fencing`: the Lease looks expired to anyone who reads it
    // now, and replica B (which never syncs: a zero period) takes it; A, reading the Lease
    // every 5 s, finds it held by B.
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), NS);
    let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    leases
        .patch(
            "veloxide-controller",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"renewTime": MicroTime(long_ago)}})),
        )
        .await
        .unwrap();
    let _b = Server::start_with(
        &world.server_kubeconfig,
        "replica-b",
        &["--lease-duration", "15s", "--backup-sync-period", "0s"],
    );
    eventually("B leads", Duration::from_secs(30), || async {
        leases
            .get("veloxide-controller")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.holder_identity)
            .as_deref()
            == Some("replica-b")
    })
    .await;
    // Two reads of the Lease (every 5 s), and a folder in flight.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let stopped = count().await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let later = count().await;
    assert_eq!(
        later, stopped,
        "the replica went on creating Backups after its term ended"
    );
    assert!(
        stopped < STORED,
        "the pass finished before the term ended ({stopped} Backups): slow the store down"
    );
}
