//! Cleanup goes where the backup was written. A backup fails while the store is unreachable,
//! so its cleanup is pending; meanwhile its location is repointed to another prefix, where a
//! folder of the same name holds another backup. When the store answers again, the cleanup
//! retry refuses (`StoreCleaned=False`, reason `LocationMoved`, saying where to point the
//! location back) and deletes nothing in the new place. Before the fix, the retry deleted the
//! same-named folder through the repointed location.

use crate::backup_support;
use crate::server_support;

use std::time::Duration;

use backup_support::proxy::Proxy;
use backup_support::*;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use server_support::{BUCKET, NS, Server, World};
use veloxide::api::{BackupPhase, DownloadRequest, DownloadRequestPhase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanup_retry_never_deletes_through_a_repointed_location() {
    let world = World::start().await;
    // Another backup named `big`, under the prefix the location will be repointed to.
    for file in ["velero-backup.json", "big.tar.gz"] {
        let path = format!("/{BUCKET}/elsewhere/backups/big/{file}");
        world
            .moto
            .s3(reqwest::Method::PUT, &path, b"another cluster's".to_vec())
            .await;
    }
    let theirs = list_keys(&world, "elsewhere/backups/big/");
    assert_eq!(theirs.len(), 2);

    let mut proxy = Proxy::start(world.moto.port, None, 3_000_000).await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    back_up_big_slowly(&world, &proxy, &server).await;
    upload_in_flight(&world).await;
    proxy.stop();
    let failed = wait_phase(&world, "big", BackupPhase::Failed, Duration::from_secs(120)).await;
    let (cleaned, why, _) = condition(&failed, "StoreCleaned").unwrap();
    assert_eq!(
        (cleaned.as_str(), why.as_str()),
        ("False", "CleanupPending")
    );

    // The location now points at the other prefix; the store comes back.
    let patch = json!({"spec": {"objectStorage": {"prefix": "elsewhere"}}});
    world
        .locations()
        .patch("slow", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    // A retry that read the location before the edit (its requests to the unreachable store
    // being retried by the SDK) ends first: it would rightly clean up where the backup was written.
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.restart().await;
    eventually("the retry refuses", Duration::from_secs(90), || async {
        let b = backups(&world).get("big").await.unwrap();
        condition(&b, "StoreCleaned").is_some_and(|(_, reason, _)| reason == "LocationMoved")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        list_keys(&world, "elsewhere/backups/big/"),
        theirs,
        "the retry deleted a same-named folder through the repointed location"
    );
    let b = backups(&world).get("big").await.unwrap();
    let (status, _, message) = condition(&b, "StoreCleaned").unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("now points at bucket \"velero-backups\" prefix \"elsewhere\""),
        "{message}"
    );
    assert!(message.contains("point the location back"), "{message}");

    // Pointed back, the retry finishes the cleanup where the backup was written.
    let patch = json!({"spec": {"objectStorage": {"prefix": "slow"}}});
    world
        .locations()
        .patch("slow", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("the leftovers removed", Duration::from_secs(90), || async {
        let b = backups(&world).get("big").await.unwrap();
        condition(&b, "StoreCleaned").is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert_eq!(world.moto.multipart_uploads(BUCKET).await, 0);
    assert_eq!(list_keys(&world, "slow/backups/big/"), Vec::<String>::new());
    assert_eq!(list_keys(&world, "elsewhere/backups/big/"), theirs);
}

/// Download links go where the backup was written. A completed backup's location is repointed
/// to a prefix holding another backup of the same name: a DownloadRequest for its log stays
/// `New` with a message saying where the location points now, and no link to the other
/// backup's log is handed out; pointed back, the link is to the backup's own log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_is_refused_through_a_repointed_location() {
    let world = World::start().await;
    world
        .moto
        .s3(
            reqwest::Method::PUT,
            &format!("/{BUCKET}/elsewhere/backups/mine/mine-logs.gz"),
            b"another cluster's log".to_vec(),
        )
        .await;
    let _server = Server::start(&world.server_kubeconfig, "server-a");
    world
        .create_available_location("mine", json!({}), json!({}))
        .await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    backed_up(
        &world,
        "mine",
        json!({"includedNamespaces": ["app"], "storageLocation": "mine"}),
        Duration::from_secs(60),
    )
    .await;
    let patch = json!({"spec": {"objectStorage": {"prefix": "elsewhere"}}});
    world
        .locations()
        .patch("mine", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    let requests: Api<DownloadRequest> = Api::namespaced(world.client.clone(), NS);
    let request: DownloadRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DownloadRequest",
        "metadata": {"name": "mine-log"}, "spec": {"target": {"kind": "BackupLog", "name": "mine"}}
    }))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    eventually(
        "the request is refused",
        Duration::from_secs(30),
        || async {
            let status = requests.get("mine-log").await.unwrap().status;
            status.and_then(|s| s.message).is_some()
        },
    )
    .await;
    let status = requests.get("mine-log").await.unwrap().status.unwrap();
    assert_eq!(status.phase, Some(DownloadRequestPhase::New));
    assert_eq!(status.download_url, None, "a link was handed out");
    let message = status.message.unwrap();
    assert!(
        message.contains("now points at bucket \"velero-backups\" prefix \"elsewhere\""),
        "{message}"
    );

    let patch = json!({"spec": {"objectStorage": {"prefix": "mine"}}});
    world
        .locations()
        .patch("mine", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(
        "the link is handed out",
        Duration::from_secs(30),
        || async {
            let status = requests.get("mine-log").await.unwrap().status;
            status.and_then(|s| s.download_url).is_some()
        },
    )
    .await;
    let url = requests
        .get("mine-log")
        .await
        .unwrap()
        .status
        .unwrap()
        .download_url
        .unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/velero-backups/mine/backups/mine/mine-logs.gz?",
            world.moto.url()
        )),
        "{url}"
    );
}
