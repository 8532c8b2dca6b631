//! Two clusters, one bucket (two API servers, two `veloxide server`s, one moto): a cluster
//! never prunes or expires what the other keeps. A standby site deployed with the same
//! Schedule (a GitOps repository applies one manifest to both) neither prunes the active
//! site's backups by its own retention nor restores them by `scheduleName`; and a backup the
//! making site's retention keeps past its TTL is not expired by the site that synced it,
//! which learns that from the bucket alone.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::collections::BTreeSet;
use std::time::Duration;

use backup_support::*;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use restore_support::{cli, create_restore, stderr, wait_restore};
use serde_json::{Value, json};
use server_support::{NS, Server, World};
use veloxide::api::{BackupPhase, DeleteBackupRequest, RestorePhase, Schedule};

const WAIT: Duration = Duration::from_secs(60);
/// Both sites sync every 2 s, so a change in the bucket shows in seconds.
const SYNC: &str = "2s";

/// A site: its server (syncing every [`SYNC`]) and a location `default` writing under the
/// shared prefix `default`, as the same manifest applied to both clusters makes it.
async fn site(world: &World, identity: &str) -> Server {
    let server = Server::start_with(
        &world.server_kubeconfig,
        identity,
        &["--backup-sync-period", SYNC],
    );
    server.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({"prefix": "default"}))
        .await;
    server
}

async fn schedule(world: &World, name: &str, spec: Value) {
    let schedule: Schedule = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .unwrap();
    Api::<Schedule>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
}

/// The Completed backups labelled with `schedule`'s name.
async fn completed(world: &World, schedule: &str) -> BTreeSet<String> {
    backups(world)
        .list(&ListParams::default().labels(&format!("velero.io/schedule-name={schedule}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|b| b.phase() == BackupPhase::Completed)
        .map(|b| b.metadata.name.unwrap())
        .collect()
}

/// The backup folders in the shared bucket whose name starts with `prefix`.
fn stored(world: &World, prefix: &str) -> BTreeSet<String> {
    list_keys(world, "default/backups/")
        .iter()
        .filter_map(|k| k.strip_prefix("default/backups/")?.split('/').next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

async fn requests(world: &World) -> Vec<DeleteBackupRequest> {
    Api::<DeleteBackupRequest>::namespaced(world.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_schedule_of_the_same_name_prunes_and_restores_none_of_the_other_sites_backups() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let _server_a = site(&a, "site-a").await;
    let _server_b = site(&b, "site-b").await;
    create(
        &a,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    // The standby's copy keeps fewer and is paused: retention still runs on a paused schedule.
    schedule(
        &b,
        "nightly",
        json!({"schedule": "@every 2s", "paused": true,
               "template": {"includedNamespaces": ["app"]}, "retention": {"keepLast": 1}}),
    )
    .await;
    schedule(
        &a,
        "nightly",
        json!({"schedule": "@every 2s", "template": {"includedNamespaces": ["app"]},
               "retention": {"keepLast": 3}}),
    )
    .await;
    eventually("A made three backups", WAIT, || async {
        completed(&a, "nightly").await.len() >= 3
    })
    .await;
    Api::<Schedule>::namespaced(a.client.clone(), NS)
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap();
    // A settles on its newest three (its own retention deletes the older ones).
    eventually("A keeps exactly three, in the bucket", WAIT, || async {
        let all = backups(&a)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let kept = completed(&a, "nightly").await;
        all.iter().all(|x| x.phase().is_terminal())
            && kept.len() == 3
            && stored(&a, "nightly-") == kept
    })
    .await;
    let kept = completed(&a, "nightly").await;

    eventually("B synced A's three backups", WAIT, || async {
        completed(&b, "nightly").await == kept
    })
    .await;
    // B's schedule is woken by every backup labelled with its name; give it and the sync
    // several rounds to do what it would.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let asked: Vec<String> = requests(&b)
        .await
        .into_iter()
        .map(|r| r.spec.backup_name)
        .collect();
    assert!(asked.is_empty(), "B asked to delete A's backups {asked:?}");
    assert_eq!(stored(&a, "nightly-"), kept, "A's files were deleted");
    assert_eq!(completed(&b, "nightly").await, kept);

    // Nor does a restore by schedule name in B take A's newest backup: B's schedule made none.
    create_restore(&b, "by-schedule", json!({"scheduleName": "nightly"})).await;
    let restore = wait_restore(&b, "by-schedule", RestorePhase::FailedValidation).await;
    let errors = restore
        .status
        .unwrap()
        .validation_errors
        .unwrap_or_default();
    assert!(
        errors.iter().any(|e| e.starts_with(
            "spec.scheduleName: no Completed backup made by schedule \"nightly\" in this cluster"
        )),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_the_making_site_keeps_past_its_ttl_is_not_expired_by_the_site_that_synced_it() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let _server_a = site(&a, "site-a").await;
    let _server_b = site(&b, "site-b").await;
    create(
        &a,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    // A's schedule keeps its newest Completed backup whatever its TTL (keepLastSuccessful 1,
    // the default with retention); the backup is made on demand from it.
    schedule(
        &a,
        "weekly",
        json!({"schedule": "@daily", "paused": true, "retention": {},
               "template": {"includedNamespaces": ["app"], "ttl": "20s"}}),
    )
    .await;
    let made = cli(
        &a,
        &["backup", "create", "weekly-1", "--from-schedule", "weekly"],
    )
    .await;
    assert!(made.status.success(), "{}", stderr(&made));
    let made = wait_phase(&a, "weekly-1", BackupPhase::Completed, WAIT).await;
    // Its TTL ran out 20 s after it started (its expiration may already have been moved ahead
    // by A's retention when it is read here).
    let first =
        made.status.unwrap().start_timestamp.unwrap().0 + jiff::SignedDuration::from_secs(20);

    // B finds it in the bucket; its object's expiration is what the bucket said then.
    eventually("B synced it", WAIT, || async {
        completed(&b, "weekly").await.contains("weekly-1")
    })
    .await;
    // Past the TTL, and a few of B's looks after it.
    let past = first + jiff::SignedDuration::from_secs(8);
    while jiff::Timestamp::now() < past {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let asked: Vec<String> = requests(&b)
        .await
        .into_iter()
        .map(|r| r.spec.backup_name)
        .collect();
    assert!(asked.is_empty(), "B asked to delete {asked:?}");
    assert!(
        !stored(&a, "weekly-1").is_empty(),
        "the backup A keeps was deleted"
    );
    // The bucket says how long A keeps it, and B follows that.
    let text = download(&a, "default/backups/weekly-1/velero-backup.json");
    let json: Value = serde_json::from_slice(&text).unwrap();
    let in_store: jiff::Timestamp = json["status"]["expiration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        in_store > jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30),
        "stored expiration {in_store}"
    );
    eventually("B's copy follows the stored expiration", WAIT, || async {
        backups(&b)
            .get("weekly-1")
            .await
            .unwrap()
            .status
            .and_then(|s| s.expiration)
            .is_some_and(|e| e.0 == in_store)
    })
    .await;
    // A's own object says the same.
    let in_a = backups(&a).get("weekly-1").await.unwrap();
    assert_eq!(in_a.status.unwrap().expiration.unwrap().0, in_store);
}
