//! A run deletes only what it wrote, and only what it can prove is its own. Two clusters share
//! one bucket and one prefix (a disaster-recovery pair, or two sites of one team); the second
//! never syncs, so it can make a Backup named like one of the first's. Whatever happens to the
//! second's run (a store answering the existence check with 503 or never answering it, another cluster's SSE-C
//! backup answering 403 or 400, the two starting the same name at the same instant, a
//! DeleteBackupRequest for a Backup of an older release), the first cluster's files stay.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use e2e::peers::{Fault, Recorder, SseCMode};
use kube::ResourceExt as _;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use server_support::{NS, Server, World};
use veloxide::api::backup::SYNCED_ANNOTATION;
use veloxide::api::{Backup, BackupPhase, DeleteBackupRequest, DeleteBackupRequestPhase};

const WAIT: Duration = Duration::from_secs(90);
/// The prefix both clusters' locations write under.
const SHARED: &str = "shared";

/// Location `name` under the shared prefix, through `s3_url`, never syncing, with `config`
/// merged in; waits until Available.
async fn shared_location(world: &World, name: &str, s3_url: &str, config: Value) {
    let mut all = json!({"s3Url": s3_url});
    for (k, v) in config.as_object().unwrap() {
        all[k] = v.clone();
    }
    world
        .create_location(name, all, json!({"prefix": SHARED}))
        .await;
    let patch = json!({"spec": {"backupSyncPeriod": "0s"}});
    world
        .locations()
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    world
        .wait_ready_reason(name, "Available", Duration::from_secs(30))
        .await;
}

/// A namespace `shop` with one ConfigMap whose value names the site.
async fn shop(world: &World, site: &str) {
    create(
        world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"}, "data": {"site": site}}),
    )
    .await;
}

/// A DeleteBackupRequest `<backup>-delete` for `backup`; the API it was made through.
async fn ask_deletion(world: &World, backup: &str) -> Api<DeleteBackupRequest> {
    let requests: Api<DeleteBackupRequest> = Api::namespaced(world.client.clone(), NS);
    let request: DeleteBackupRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
        "metadata": {"name": format!("{backup}-delete"), "namespace": NS},
        "spec": {"backupName": backup},
    }))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    requests
}

fn folder(name: &str) -> String {
    format!("{SHARED}/backups/{name}/")
}

async fn wait_finished(world: &World, name: &str) -> Backup {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let b = backups(world).get(name).await.unwrap();
        if b.phase().is_terminal() {
            return b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The store answers the second cluster's existence check with 503 (HEAD of the folder's files,
/// or a listing of the folder): the run fails saying nothing was written or deleted, and the
/// first cluster's backup of that name keeps every file. Before the fix, the failed run's
/// cleanup deleted the whole folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failing_the_existence_check_deletes_nothing() {
    existence_check_fails(Fault::Status(503), &[]).await;
}

/// The same with a store that accepts the existence check and never answers it: the check is
/// bounded by `--store-stall-timeout` (3 s here), and a check that timed out decides nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_hanging_on_the_existence_check_deletes_nothing() {
    existence_check_fails(Fault::Hang(600), &["--store-stall-timeout", "3s"]).await;
}

/// Cluster A backs up `weekly`; cluster B, sharing the bucket, runs a backup of the same name
/// through a store that answers its existence check with `fault`.
async fn existence_check_fails(fault: Fault, server_args: &[&str]) {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let _server_a = Server::start(&a.server_kubeconfig, "site-a");
    shared_location(&a, "default", &a.moto.url(), json!({})).await;
    shop(&a, "a").await;
    backed_up(&a, "weekly", json!({"includedNamespaces": ["shop"]}), WAIT).await;
    let files = list_keys(&a, &folder("weekly"));
    assert!(files.len() >= 5, "{files:?}");

    let store = Recorder::in_front_of(&a.moto, SseCMode::PassThrough).await;
    // Reads that ask whether backups/weekly/ holds anything: a HEAD of one of its files, or a
    // listing of it one key long. (Deletes and whole listings pass.)
    store.inject("HEAD", &["/backups/weekly/"], fault);
    store.inject(
        "GET",
        &["max-keys=1", "prefix=shared/backups/weekly/"],
        fault,
    );
    let _server_b = Server::start_with(&b.server_kubeconfig, "site-b", server_args);
    shared_location(&b, "default", &store.url(), json!({})).await;
    shop(&b, "b").await;
    create_backup(&b, "weekly", json!({"includedNamespaces": ["shop"]})).await;
    let failed = wait_finished(&b, "weekly").await;
    // Let any cleanup or retry run.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        list_keys(&a, &folder("weekly")),
        files,
        "the failed run deleted the other cluster's files"
    );
    assert_eq!(failed.phase(), BackupPhase::Failed);
    let status = failed.status.unwrap();
    let reason = status.failure_reason.unwrap();
    assert!(
        reason.contains("nothing was written or deleted"),
        "{reason}"
    );
    assert_eq!(
        status.written_to, None,
        "a run that wrote nothing owns nothing"
    );
}

/// The first cluster's backups are SSE-C encrypted with its key: the second cluster's HEAD is
/// refused, with 403 (another key) or 400 (no key). Its runs end FailedValidation (the name is
/// taken: the folder lists files) and delete nothing. Before the fix, both runs failed with the
/// store's refusal and their cleanup deleted the first cluster's folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cluster_s_sse_c_backup_of_the_same_name_keeps_its_files() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let store = Recorder::in_front_of(&a.moto, SseCMode::Emulate).await;
    a.put_secret("ssec-key", &[("key", &[1u8; 32])], None).await;
    b.put_secret("ssec-key", &[("key", &[2u8; 32])], None).await;
    let _server_a = Server::start(&a.server_kubeconfig, "site-a");
    let ssec = json!({"customerKeyEncryptionSecret": "ssec-key/key"});
    shared_location(&a, "default", &store.url(), ssec.clone()).await;
    shop(&a, "a").await;
    for name in ["weekly", "daily"] {
        backed_up(&a, name, json!({"includedNamespaces": ["shop"]}), WAIT).await;
    }
    let before: Vec<Vec<String>> = ["weekly", "daily"]
        .map(|n| list_keys(&a, &folder(n)))
        .into();

    let _server_b = Server::start(&b.server_kubeconfig, "site-b");
    shared_location(&b, "other-key", &store.url(), ssec).await;
    shared_location(&b, "no-key", &store.url(), json!({})).await;
    shop(&b, "b").await;
    let spec =
        |location: &str| json!({"includedNamespaces": ["shop"], "storageLocation": location});
    create_backup(&b, "weekly", spec("other-key")).await;
    create_backup(&b, "daily", spec("no-key")).await;
    let refused = [
        wait_finished(&b, "weekly").await,
        wait_finished(&b, "daily").await,
    ];
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after: Vec<Vec<String>> = ["weekly", "daily"]
        .map(|n| list_keys(&a, &folder(n)))
        .into();
    assert_eq!(
        after, before,
        "a refused run deleted the other cluster's files"
    );
    for refused in refused {
        assert_eq!(refused.phase(), BackupPhase::FailedValidation);
        let errors = refused.status.unwrap().validation_errors.unwrap();
        assert!(
            errors[0].starts_with("backup already exists in object storage"),
            "{errors:?}"
        );
    }
}

/// Both clusters start backup `nightly` at the same instant (their existence checks are held
/// until both have asked, so both find the name free): one wins whole, the other ends
/// FailedValidation, and the folder holds one backup: its velero-backup.json, its owner marker
/// and its archive all the winner's. Before the fix both wrote the same keys, and both Backups
/// ended Completed over one mixed folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_starting_the_same_name_at_once_one_wins_whole() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let store = Recorder::in_front_of(&a.moto, SseCMode::PassThrough).await;
    // Whichever way a run asks whether the name is free, the two questions leave together.
    store.inject(
        "HEAD",
        &["/backups/nightly/velero-backup.json"],
        Fault::Together(2),
    );
    store.inject(
        "GET",
        &["max-keys=1", "prefix=shared/backups/nightly/"],
        Fault::Together(2),
    );
    let _server_a = Server::start(&a.server_kubeconfig, "site-a");
    let _server_b = Server::start(&b.server_kubeconfig, "site-b");
    for (world, site) in [(&a, "a"), (&b, "b")] {
        shared_location(world, "default", &store.url(), json!({})).await;
        shop(world, site).await;
    }
    let spec = json!({"includedNamespaces": ["shop"]});
    let (_, _) = tokio::join!(
        create_backup(&a, "nightly", spec.clone()),
        create_backup(&b, "nightly", spec.clone())
    );
    let (done_a, done_b) = tokio::join!(wait_finished(&a, "nightly"), wait_finished(&b, "nightly"));
    let phases = [done_a.phase(), done_b.phase()];
    let winners: Vec<(&Backup, &str)> = [(&done_a, "a"), (&done_b, "b")]
        .into_iter()
        .filter(|(b, _)| b.phase() == BackupPhase::Completed)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one run wins: {phases:?}");
    let (winner, site) = winners[0];
    assert!(
        phases.contains(&BackupPhase::FailedValidation),
        "the other is refused: {phases:?}"
    );
    // Everything in the folder is the winner's.
    let dir = folder("nightly");
    let metadata: Value =
        serde_json::from_slice(&download(&a, &format!("{dir}velero-backup.json"))).unwrap();
    assert_eq!(metadata["metadata"]["uid"], json!(winner.uid()));
    let marker: Value =
        serde_json::from_slice(&download(&a, &format!("{dir}veloxide-owner.json"))).unwrap();
    assert_eq!(marker["owner"]["uid"], json!(winner.uid()));
    let archive = untar(&download(&a, &format!("{dir}nightly.tar.gz")));
    let settings = archive
        .iter()
        .find(|(path, _)| path.ends_with("namespaces/shop/settings.json"))
        .map(|(_, data)| serde_json::from_slice::<Value>(data).unwrap())
        .expect("the archive holds the ConfigMap");
    assert_eq!(
        settings["data"]["site"], site,
        "the archive is the winner's"
    );
}

/// A Backup of an older release (no record of where or whose its files are) on the second
/// cluster, named like the first cluster's backup: its DeleteBackupRequest is refused, because
/// the stored metadata names another backup's uid, and nothing is deleted, in the store or in
/// the cluster. Before the fix the request deleted the first cluster's folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_needs_the_stored_uid_to_match() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let _server_a = Server::start(&a.server_kubeconfig, "site-a");
    shared_location(&a, "default", &a.moto.url(), json!({})).await;
    shop(&a, "a").await;
    backed_up(&a, "weekly", json!({"includedNamespaces": ["shop"]}), WAIT).await;
    let files = list_keys(&a, &folder("weekly"));

    // On B, before its server runs: a Completed Backup as an older release left it.
    create_backup(&b, "weekly", json!({"storageLocation": "default"})).await;
    let mut old = backups(&b).get("weekly").await.unwrap();
    old.status = Some(serde_json::from_value(json!({"phase": "Completed"})).unwrap());
    backups(&b)
        .replace_status("weekly", &PostParams::default(), &old)
        .await
        .unwrap();
    let _server_b = Server::start(&b.server_kubeconfig, "site-b");
    shared_location(&b, "default", &b.moto.url(), json!({})).await;
    let requests = ask_deletion(&b, "weekly").await;
    eventually("the request is processed", WAIT, || async {
        requests
            .get_opt("weekly-delete")
            .await
            .unwrap()
            .is_none_or(|r| r.phase() == DeleteBackupRequestPhase::Processed)
    })
    .await;
    let processed = requests.get_opt("weekly-delete").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        list_keys(&a, &folder("weekly")),
        files,
        "the deletion deleted the other cluster's files"
    );
    let errors = processed
        .expect("a refused request stays")
        .status
        .unwrap()
        .errors
        .unwrap();
    assert!(
        errors[0].contains("another backup of the same name"),
        "{errors:?}"
    );
    assert!(errors[0].contains("nothing was deleted"), "{errors:?}");
    let kept = backups(&b).get("weekly").await.unwrap();
    assert_eq!(
        kept.phase(),
        BackupPhase::Completed,
        "the Backup is untouched"
    );
}

/// A backup an older release synced (its `writtenTo` names no uid) can still be deleted: the
/// sync records the uid its stored metadata carries, and the deletion proves the folder is
/// its files by that uid. Before the backfill the deletion was refused for ever ("another
/// backup of the same name"), the object's own uid not being the stored one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_an_older_release_synced_can_be_deleted() {
    let a = World::start().await;
    let b = World::start_sharing(&a).await;
    let server_a = Server::start(&a.server_kubeconfig, "site-a");
    shared_location(&a, "default", &a.moto.url(), json!({})).await;
    shop(&a, "a").await;
    let made = backed_up(&a, "weekly", json!({"includedNamespaces": ["shop"]}), WAIT).await;
    let stored_uid = made.uid().unwrap();
    // Killed, not terminated: in this test a server asked to stop (SIGTERM) twice did not
    // exit (cause not found yet; see the closing note of 2026-12-06).
    server_a.kill();
    assert!(!list_keys(&a, &folder("weekly")).is_empty());

    // On B, before its server runs: the Backup as an older release's sync left it.
    create_backup(&b, "weekly", json!({"storageLocation": "default"})).await;
    let mut old = backups(&b).get("weekly").await.unwrap();
    old.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SYNCED_ANNOTATION.into(), "default".into());
    let old = backups(&b)
        .replace("weekly", &PostParams::default(), &old)
        .await
        .unwrap();
    let mut with_status = old.clone();
    with_status.status = Some(
        serde_json::from_value(json!({"phase": "Completed",
            "writtenTo": {"location": "default", "bucket": server_support::BUCKET, "prefix": SHARED}}))
        .unwrap(),
    );
    backups(&b)
        .replace_status("weekly", &PostParams::default(), &with_status)
        .await
        .unwrap();
    let _server_b = Server::start_with(
        &b.server_kubeconfig,
        "site-b",
        &["--backup-sync-period", "2s"],
    );
    // Synced every 2 s (the server's default here), unlike `shared_location`'s.
    b.create_location("default", json!({}), json!({"prefix": SHARED}))
        .await;
    b.wait_ready_reason("default", "Available", Duration::from_secs(30))
        .await;
    eventually("the sync records the stored uid", WAIT, || async {
        backups(&b)
            .get("weekly")
            .await
            .unwrap()
            .status
            .and_then(|s| s.written_to)
            .and_then(|w| w.uid)
            .as_deref()
            == Some(stored_uid.as_str())
    })
    .await;

    ask_deletion(&b, "weekly").await;
    eventually("the backup and its files are gone", WAIT, || async {
        backups(&b).get_opt("weekly").await.unwrap().is_none()
    })
    .await;
    assert_eq!(list_keys(&a, &folder("weekly")), Vec::<String>::new());
}
