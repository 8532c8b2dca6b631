//! The stand-in's service proxy: a GET through `/api/v1/namespaces/NS/services/NAME:PORT/proxy/`
//! reaches the Service's backend (its clusterIP and targetPort) with path and query, and the
//! backend's status and body come back; without the token the proxy is refused like any API path.

mod common;

use common::{namespace, standin};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};

#[tokio::test]
async fn get_through_the_service_proxy() {
    if std::env::var_os("VELOXIDE_E2E_KUBECONFIG").is_some() {
        eprintln!("skipped: a real cluster cannot reach a backend on this machine");
        return;
    }
    let backend = axum::Router::new().route(
        "/files/{name}",
        axum::routing::get(
            |axum::extract::Path(name): axum::extract::Path<String>,
             axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                if name == "missing" {
                    return (
                        axum::http::StatusCode::NOT_FOUND,
                        "file not found".to_owned(),
                    );
                }
                (
                    axum::http::StatusCode::OK,
                    format!("{name}?{}", q.unwrap_or_default()),
                )
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, backend).await });

    let s = standin();
    let client = s.client().await.unwrap();
    let ns = namespace(&client, "proxy").await;
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "files"},
        "spec": {"clusterIP": "127.0.0.1",
                 "ports": [{"name": "http", "port": 80, "targetPort": port}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();

    let get = |path: String| {
        let client = client.clone();
        async move {
            let request = http::Request::get(path)
                .body(kube::client::Body::empty())
                .unwrap();
            let response = client.send(request).await.unwrap();
            let code = response.status().as_u16();
            let body = response.into_body().collect_bytes().await.unwrap();
            (code, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let base = format!("/api/v1/namespaces/{ns}/services/files:http/proxy");
    assert_eq!(
        get(format!("{base}/files/a.gz?token=abc")).await,
        (200, "a.gz?token=abc".to_owned())
    );
    assert_eq!(get(format!("{base}/files/missing")).await.0, 404);
    let unknown = format!("/api/v1/namespaces/{ns}/services/nope:http/proxy/files/a");
    assert_eq!(get(unknown).await.0, 404);
    // Like every API path, the proxy needs the caller's credentials.
    let anonymous = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("{}{base}/files/a.gz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
