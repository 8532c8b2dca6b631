//! Why the chart names core resources one by one, asked of a real kube-apiserver: RBAC's
//! `resources: ["*"]` matches every subresource, and not only `get` acts through one. A request
//! with an empty name in its path and the field selector `metadata.name=P` is authorized as a
//! `list` (the request info has no name in the path, so a GET becomes a list) yet the API
//! server names the object from the selector and routes it to the subresource's handler:
//! `GET /api/v1/namespaces/N/pods//exec?fieldSelector=metadata.name%3DP` reaches pod P's exec
//! with nothing but `list` on `*`. (The pod here has no node, so the handler answers "does not
//! have a host assigned": it looked the pod up, past authorization.) The server's identity,
//! with the chart's widest RBAC (`rbac.secretsScope=cluster`), is refused the same request.

use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use kube::api::{Api, PostParams};
use serde_json::json;

const EXEC_BY_SELECTOR: &str =
    "/api/v1/namespaces/other/pods//exec?fieldSelector=metadata.name%3Dp&command=true&stdout=true";

/// The API server's answer (status code and message) to a GET of `path` by `client`.
async fn answer(client: &kube::Client, path: &str) -> (u16, String) {
    let request = axum::http::Request::get(path).body(Vec::new()).unwrap();
    match client.request_text(request).await {
        Ok(body) => (200, body),
        Err(kube::Error::Api(e)) => (e.code, e.message),
        Err(e) => (0, e.to_string()),
    }
}

/// Asks until `want` holds (the authorizer sees RBAC through a watch) or 20 s pass.
async fn eventually(
    client: &kube::Client,
    path: &str,
    want: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, message) = answer(client, path).await;
        if want(code, &message) || Instant::now() > deadline {
            return (code, message);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_on_every_resource_reaches_pods_exec_and_the_servers_identity_has_none() {
    let cluster = Cluster::start().expect("the control plane starts");
    let admin = cluster.client().await.unwrap();
    let yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: other}}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {{name: velero}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n\
         metadata: {{name: list-everything}}\n\
         rules: [{{apiGroups: [\"*\"], resources: [\"*\"], verbs: [list]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n\
         metadata: {{name: list-everything}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: list-everything}}\n\
         subjects: [{{kind: ServiceAccount, name: probe, namespace: other}}]\n---\n{}",
        e2e::manifests::chart_rbac("velero", &["rbac.secretsScope=cluster"]).unwrap()
    );
    e2e::manifests::apply(&admin, &yaml).await.unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), "other");
    let pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    let as_account =
        |ns: &str, name: &str| cluster.kubeconfig_for_service_account(ns, name).unwrap();
    let client_of = |path: std::path::PathBuf| async move {
        let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    };
    let probe = client_of(as_account("other", "probe")).await;
    let (code, message) = eventually(&probe, EXEC_BY_SELECTOR, |_, m| {
        m.contains("does not have a host assigned")
    })
    .await;
    assert!(
        message.contains("pod p does not have a host assigned"),
        "list on * reaches pod p's exec handler: {code} {message}"
    );
    // The same identity is refused the ordinary exec path: only the list trick gets through.
    let (code, _) = answer(
        &probe,
        "/api/v1/namespaces/other/pods/p/exec?command=true&stdout=true",
    )
    .await;
    assert_eq!(code, 403, "a named exec needs get or create on pods/exec");

    let server = client_of(as_account("velero", "veloxide")).await;
    // Wait until the chart's RBAC is seen (the server may list pods), then ask.
    eventually(&server, "/api/v1/namespaces/other/pods", |c, _| c == 200).await;
    for path in [
        EXEC_BY_SELECTOR,
        "/api/v1/nodes//proxy/pods?fieldSelector=metadata.name%3Dnode-1",
        "/api/v1/namespaces/other/pods//log?fieldSelector=metadata.name%3Dp",
    ] {
        let (code, message) = answer(&server, path).await;
        assert_eq!(
            code, 403,
            "the server's identity is refused {path}: {message}"
        );
    }
}
