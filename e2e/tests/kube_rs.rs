//! kube-rs against the stand-in (or VELOXIDE_E2E_KUBECONFIG's cluster): CRUD, conflicts,
//! patches, server-side apply, finalizers, paging, namespace deletion, CRD schemas and the status
//! subresource.

mod common;

use common::{eventually, install_crds, namespace, standin};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "e2e"}}, "data": data}),
    )
    .unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn crud_conflicts_and_patches() {
    let s = standin();
    let client = s.client().await.unwrap();
    let ns = namespace(&client, "crud").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    let created = api
        .create(&PostParams::default(), &cm("a", json!({"k": "1"})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    let err = api_error(
        api.create(&PostParams::default(), &cm("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "configmaps \"a\" already exists");

    // a write with a stale resourceVersion is refused
    let mut fresh = api.get("a").await.unwrap();
    fresh.data = Some([("k".to_string(), "2".to_string())].into());
    let updated = api
        .replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    let rv = |o: &ConfigMap| {
        o.metadata
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&updated) > rv(&created));
    let err = api_error(
        api.replace("a", &PostParams::default(), &fresh)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    // merge, JSON and strategic merge patches
    let pp = PatchParams::default();
    api.patch("a", &pp, &Patch::Merge(json!({"data": {"m": "1"}})))
        .await
        .unwrap();
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "1"}])).unwrap();
    api.patch("a", &pp, &Patch::<()>::Json(jp)).await.unwrap();
    let got = api
        .patch("a", &pp, &Patch::Strategic(json!({"data": {"k": null}})))
        .await
        .unwrap();
    assert_eq!(
        got.data.unwrap().keys().cloned().collect::<Vec<_>>(),
        vec!["j", "m"]
    );

    // server-side apply: a second manager changing an owned field conflicts unless forced
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"x": "1"}});
    api.patch("b", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .unwrap();
    let mut bob = applied.clone();
    bob["data"]["x"] = json!("2");
    let err = api_error(
        api.patch("b", &PatchParams::apply("bob"), &Patch::Apply(&bob))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409, "{}", err.message);
    let forced = api
        .patch("b", &PatchParams::apply("bob").force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["x"], "2");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"bob".to_string()), "{managers:?}");

    // selectors and delete
    let lp = ListParams::default()
        .labels("app=e2e")
        .fields("metadata.name=a");
    assert_eq!(api.list(&lp).await.unwrap().items.len(), 1);
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let err = api_error(api.get("a").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "configmaps \"a\" not found");

    if s.is_standin() {
        let log = s.requests().await.unwrap();
        assert!(log.iter().any(|r| r["method"] == "PATCH"
            && r["path"] == format!("/api/v1/namespaces/{ns}/configmaps/b")));
    }
}

#[tokio::test]
async fn finalizers_paging_and_namespace_deletion() {
    let s = standin();
    let client = s.client().await.unwrap();
    let ns = namespace(&client, "fin").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["e2e.veloxide.io/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = api.get("held").await.unwrap();
    assert!(
        still.metadata.deletion_timestamp.is_some(),
        "deletion waits for the finalizer"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("the finalized object to go", || async {
        api.get_opt("held").await.unwrap().is_none().then_some(())
    })
    .await;

    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("page-{i}"), json!({})))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.items[0].metadata.name.as_deref(), Some("page-2"));
    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 5);

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespace and its contents to go", || async {
        namespaces
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

fn bsl_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("velero.io", "v1", "BackupStorageLocation");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "backupstoragelocations"),
    )
}

fn bsl(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                                  "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

#[tokio::test]
async fn crd_schema_and_status_subresource() {
    let s = standin();
    let client = s.client().await.unwrap();
    install_crds(&client).await;
    let ns = namespace(&client, "crd").await;
    let api = bsl_api(&client, &ns);

    // required fields, enums and types are checked; unknown fields are pruned
    let err = api_error(
        api.create(
            &PostParams::default(),
            &bsl("bad", json!({"objectStorage": {"bucket": "b"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("spec.provider: Required value"),
        "{}",
        err.message
    );
    let spec =
        json!({"provider": "aws", "objectStorage": {"bucket": "b"}, "accessMode": "Sideways"});
    let err = api_error(
        api.create(&PostParams::default(), &bsl("bad", spec))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("spec.accessMode: Unsupported value: \"Sideways\""),
        "{}",
        err.message
    );
    let spec = json!({"provider": "aws", "objectStorage": {"bucket": "b"}, "notAField": 1});
    let created = api
        .create(&PostParams::default(), &bsl("loc", spec))
        .await
        .unwrap();
    assert!(
        created.data["spec"].get("notAField").is_none(),
        "unknown fields are pruned"
    );
    assert_eq!(created.metadata.generation, Some(1));

    // status goes through /status only, and does not bump generation
    let status = json!({"status": {"phase": "Available"}});
    let with_status = api
        .patch_status("loc", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(with_status.data["status"]["phase"], "Available");
    assert_eq!(with_status.metadata.generation, Some(1));
    let main = json!({"spec": {"default": true}, "status": {"phase": "Unavailable"}});
    let after = api
        .patch("loc", &PatchParams::default(), &Patch::Merge(&main))
        .await
        .unwrap();
    assert_eq!(
        after.data["status"]["phase"], "Available",
        "main-resource writes leave status alone"
    );
    assert_eq!(after.metadata.generation, Some(2));
    let only_status = json!({"spec": {"default": false}, "status": {"phase": "Unavailable"}});
    let after = api
        .patch_status("loc", &PatchParams::default(), &Patch::Merge(&only_status))
        .await
        .unwrap();
    assert_eq!(
        (
            after.data["spec"]["default"].clone(),
            after.data["status"]["phase"].clone()
        ),
        (json!(true), json!("Unavailable"))
    );
    let mut stale = created.clone();
    stale.data["spec"]["default"] = json!(false);
    let err = api_error(
        api.replace("loc", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
}
