//! Watches against the stand-in: kube-runtime's watcher (list-then-watch and streaming lists),
//! 410 Gone after compaction, and a small Controller reconciling.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, namespace, standin};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": "1"}})).unwrap()
}

/// Runs a watcher with `config` and checks it sees a create, an update and a delete.
async fn watcher_sees_changes(config: watcher::Config) {
    let s = standin();
    let client = s.client().await.unwrap();
    let ns = namespace(&client, "watch").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher::watcher(api.clone(), config);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.try_next().await.expect("watch stream") {
            let seen = match ev {
                Event::InitApply(o) => format!("init {}", o.metadata.name.unwrap()),
                Event::InitDone => "init-done".to_string(),
                Event::Apply(o) => format!(
                    "apply {} {}",
                    o.metadata.name.unwrap(),
                    o.data.unwrap()["v"]
                ),
                Event::Delete(o) => format!("delete {}", o.metadata.name.unwrap()),
                Event::Init => continue,
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an event")
            .unwrap()
    };
    assert_eq!(next().await, "init before");
    assert_eq!(next().await, "init-done");
    api.create(&PostParams::default(), &cm("live"))
        .await
        .unwrap();
    assert_eq!(next().await, "apply live 1");
    api.patch(
        "live",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    assert_eq!(next().await, "apply live 2");
    api.delete("live", &DeleteParams::default()).await.unwrap();
    assert_eq!(next().await, "delete live");
    task.abort();
}

#[tokio::test]
async fn watcher_with_list_then_watch() {
    watcher_sees_changes(watcher::Config::default()).await;
}

#[tokio::test]
async fn watcher_with_streaming_lists() {
    watcher_sees_changes(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test]
async fn raw_watch_replays_bookmarks_times_out_and_expires() {
    let s = standin();
    let client = s.client().await.unwrap();
    let ns = namespace(&client, "raw").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let first = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();

    // from a resourceVersion: only what came after it, then the timeout ends the stream
    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default().timeout(2)
    };
    let events: Vec<_> = api
        .watch(&wp, &rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        matches!(&events[0], WatchEvent::Modified(o) if o.data.as_ref().unwrap()["v"] == "2"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| !matches!(e, WatchEvent::Added(_))));

    if s.is_standin() {
        s.compact().await.unwrap();
        let mut stream = api
            .watch(&WatchParams::default(), &rv)
            .await
            .unwrap()
            .boxed();
        match stream.try_next().await.unwrap() {
            Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
            other => panic!("expected 410 Gone, got {other:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("kube: {0}")]
struct ReconcileError(#[from] kube::Error);

#[tokio::test]
async fn controller_reconciles() {
    let s = standin();
    let client = s.client().await.unwrap();
    let ns = namespace(&client, "ctrl").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    async fn reconcile(
        obj: Arc<ConfigMap>,
        api: Arc<Api<ConfigMap>>,
    ) -> Result<Action, ReconcileError> {
        let name = obj.metadata.name.clone().unwrap();
        let v = obj
            .data
            .as_ref()
            .and_then(|d| d.get("v"))
            .cloned()
            .unwrap_or_default();
        let status = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"seen": v}});
        api.patch(
            &name,
            &PatchParams::apply("e2e-controller").force(),
            &Patch::Apply(&status),
        )
        .await?;
        Ok(Action::await_change())
    }
    let ctx = Arc::new(api.clone());
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            ctx,
        )
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    api.create(&PostParams::default(), &cm("one"))
        .await
        .unwrap();
    let seen = |want: &'static str| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let o = api.get("one").await.ok()?;
                (o.data?.get("seen").map(String::as_str) == Some(want)).then_some(())
            }
        }
    };
    eventually("the controller to reconcile the new object", seen("1")).await;
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    eventually("the controller to reconcile the change", seen("2")).await;
    task.abort();
}
