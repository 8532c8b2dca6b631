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
