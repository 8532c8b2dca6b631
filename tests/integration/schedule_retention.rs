//! Retention end to end: a schedule with `keepLast: 2` keeps exactly its newest two backups;
//! the others go through DeleteBackupRequests, and a manual backup and another schedule's
//! backup are never touched.

use crate::backup_support;
use crate::server_support;

use std::collections::BTreeSet;
use std::time::Duration;

use backup_support::{backups, create, create_backup_labelled, eventually, wait_phase};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use server_support::{NS, World};
use veloxide::api::{BackupPhase, DeleteBackupRequest, Schedule};

/// The control plane the tests run against (see tests/schedules.rs).
async fn world() -> World {
    World::start().await
}

async fn names_of(world: &World, schedule: &str) -> BTreeSet<String> {
    backups(world)
        .list(&ListParams::default().labels(&format!("velero.io/schedule-name={schedule}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|b| b.metadata.deletion_timestamp.is_none())
        .map(|b| b.metadata.name.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_exactly_the_newest_and_deletes_through_requests() {
    let world = world().await;
    let server = backup_support::serve_plain_location(&world, "default").await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    // Not this schedule's: a manual backup, and one of another schedule whose name shares the
    // prefix ("keep-other" starts with "keep").
    create_backup_labelled(
        &world,
        "by-hand",
        json!({"includedNamespaces": ["app"]}),
        json!({}),
    )
    .await;
    create_backup_labelled(
        &world,
        "keep-other-20260101000000",
        json!({"includedNamespaces": ["app"]}),
        json!({"velero.io/schedule-name": "keep-other"}),
    )
    .await;
    wait_phase(
        &world,
        "by-hand",
        BackupPhase::Completed,
        Duration::from_secs(30),
    )
    .await;
    wait_phase(
        &world,
        "keep-other-20260101000000",
        BackupPhase::Completed,
        Duration::from_secs(30),
    )
    .await;

    let schedules: Api<Schedule> = Api::namespaced(world.client.clone(), NS);
    let schedule: Schedule = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "keep", "namespace": NS},
        "spec": {"schedule": "@every 2s", "template": {"includedNamespaces": ["app"]},
                 "retention": {"keepLast": 2}},
    }))
    .unwrap();
    schedules
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();

    // Let it make backups and prune as it goes; record every name it ever had.
    let mut seen = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 6 {
        assert!(std::time::Instant::now() < deadline, "only {seen:?}");
        seen.extend(names_of(&world, "keep").await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    schedules
        .patch(
            "keep",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap();
    eventually("its backups finish", Duration::from_secs(20), || async {
        backups(&world)
            .list(&ListParams::default().labels("velero.io/schedule-name=keep"))
            .await
            .unwrap()
            .items
            .iter()
            .all(|b| b.phase().is_terminal() || b.phase() == BackupPhase::Deleting)
    })
    .await;
    seen.extend(names_of(&world, "keep").await);
    let newest: BTreeSet<String> = seen.iter().rev().take(2).cloned().collect();
    let doomed: BTreeSet<String> = seen.difference(&newest).cloned().collect();

    // Every other backup of the schedule was asked for by a request naming it, annotated with
    // the schedule; nothing else was asked for.
    let requests: Api<DeleteBackupRequest> = Api::namespaced(world.client.clone(), NS);
    eventually(
        "the requests for every backup not kept",
        Duration::from_secs(30),
        || async {
            let asked: BTreeSet<String> = requests
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|r| {
                    r.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("veloxide.io/retention-of"))
                        == Some(&"keep".to_owned())
                })
                .map(|r| r.spec.backup_name)
                .collect();
            let left = names_of(&world, "keep").await;
            // Without the deletion controller (the disaster-recovery branch) the requests wait,
            // one for each backup not kept; with it, those backups go (and processed requests
            // with them).
            asked.is_subset(&doomed) && (asked == doomed || left == newest)
        },
    )
    .await;
    let left = names_of(&world, "keep").await;
    assert!(
        newest.is_subset(&left),
        "kept {left:?}, expected {newest:?}"
    );
    for name in ["by-hand", "keep-other-20260101000000"] {
        assert!(
            backups(&world).get_opt(name).await.unwrap().is_some(),
            "{name} was touched"
        );
    }
    drop(server);
}

/// A day's slot goes to its Completed backup: a PartiallyFailed run later the same day does not
/// displace it (and is the one retention asks to delete).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partially_failed_run_does_not_displace_the_days_completed_one() {
    let world = world().await;
    let schedules: Api<Schedule> = Api::namespaced(world.client.clone(), NS);
    let schedule: Schedule = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "daily", "namespace": NS},
        "spec": {"schedule": "0 3 * * *", "paused": true, "template": {},
                 "retention": {"keepDaily": 1, "keepLastSuccessful": 0}},
    }))
    .unwrap();
    let schedule = schedules
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
    let uid = schedule.metadata.uid.unwrap();
    // Made by the schedule (its name and uid), finished, before any server runs.
    for (name, phase) in [
        ("daily-20261201030000", "Completed"),
        ("daily-20261201150000", "PartiallyFailed"),
    ] {
        create_backup_labelled(
            &world,
            name,
            json!({"storageLocation": "default"}),
            json!({"velero.io/schedule-name": "daily", "veloxide.io/schedule-uid": uid}),
        )
        .await;
        let mut finished = backups(&world).get(name).await.unwrap();
        finished.status = Some(serde_json::from_value(json!({"phase": phase})).unwrap());
        finished.metadata.managed_fields = None;
        backups(&world)
            .replace_status(name, &PostParams::default(), &finished)
            .await
            .unwrap();
    }
    let server = backup_support::serve_plain_location(&world, "default").await;
    let requests: Api<DeleteBackupRequest> = Api::namespaced(world.client.clone(), NS);
    eventually(
        "retention asks for the PartiallyFailed run",
        Duration::from_secs(30),
        || async {
            requests
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .iter()
                .any(|r| r.spec.backup_name == "daily-20261201150000")
                || backups(&world)
                    .get_opt("daily-20261201150000")
                    .await
                    .unwrap()
                    .is_none()
        },
    )
    .await;
    let asked: Vec<String> = requests
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.spec.backup_name)
        .collect();
    assert!(
        !asked.contains(&"daily-20261201030000".to_owned()),
        "the day's Completed backup was asked for: {asked:?}"
    );
    assert!(
        backups(&world)
            .get_opt("daily-20261201030000")
            .await
            .unwrap()
            .is_some()
    );
    drop(server);
}
