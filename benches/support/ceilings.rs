//! The API server's own ceilings for the work a backup and a restore do, measured on the same
//! control plane in the same run as the servers: creating the workload with 16 clients, a
//! sequential paged list of it, and a parallel one.

use std::time::{Duration, Instant};

use axum::http;
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, PostParams};
use kube::{Client, discovery};
use serde_json::{Value, json};

use crate::velero_support::resource;

pub const NAMESPACES: usize = 10;
const SECRETS: usize = 1000;
pub const PAGE: u32 = 500;
pub const CREATE_CLIENTS: usize = 16;
/// Lists in flight in the parallel list ceiling.
pub const LISTS_IN_FLIGHT: usize = 8;

pub fn namespace(i: usize) -> String {
    format!("bench-{i}")
}

/// The workload's objects, namespaces first (a restore's order between kinds): 10 namespaces
/// holding 1,000 Secrets and `count` - 1,000 ConfigMaps of 1 KiB each.
fn workload(count: usize) -> Vec<Value> {
    let value = "x".repeat(1024);
    let mut docs: Vec<Value> = (0..NAMESPACES)
        .map(|i| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(i)}}))
        .collect();
    for i in 0..SECRETS.min(count) {
        docs.push(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("s-{i:06}"), "namespace": namespace(i % NAMESPACES)},
            "stringData": {"value": format!("{i}-{value}")}}));
    }
    for i in 0..count.saturating_sub(SECRETS) {
        docs.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:06}"), "namespace": namespace(i % NAMESPACES)},
            "data": {"value": format!("{i}-{value}")}}));
    }
    docs
}

/// Create the workload with [`CREATE_CLIENTS`] requests in flight (namespaces first, then the
/// rest); the seconds it took: the create ceiling.
pub async fn populate(client: &Client, count: usize) -> f64 {
    let docs = workload(count);
    let started = Instant::now();
    let (namespaces, rest) = docs.split_at(NAMESPACES);
    for batch in [namespaces, rest] {
        futures::stream::iter(batch)
            .map(|doc| create(client, doc))
            .buffer_unordered(CREATE_CLIENTS)
            .for_each(|_| async {})
            .await;
    }
    started.elapsed().as_secs_f64()
}

async fn create(client: &Client, doc: &Value) {
    let plural = match doc["kind"].as_str() {
        Some("Namespace") => "namespaces",
        Some("Secret") => "secrets",
        _ => "configmaps",
    };
    let ns = doc["metadata"]["namespace"].as_str();
    let res = resource("v1", plural);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &res),
        None => Api::all_with(client.clone(), &res),
    };
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {plural}: {e}"));
}

/// GET `path` as text (bounded).
pub async fn get_text(client: &Client, path: &str) -> String {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    tokio::time::timeout(Duration::from_secs(120), client.request_text(request))
        .await
        .unwrap_or_else(|_| panic!("GET {path} within 120 s"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Every namespaced resource type discovery lists that can be listed: its group-version's
/// path (`/api/v1`, `/apis/apps/v1`) and its plural.
async fn namespaced_types(client: &Client) -> Vec<(String, String)> {
    let discovery = discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let mut bases = Vec::new();
    for group in discovery.groups() {
        for (res, caps) in group.recommended_resources() {
            if caps.scope != discovery::Scope::Namespaced || !caps.supports_operation("list") {
                continue;
            }
            let base = match res.group.as_str() {
                "" => format!("/api/{}", res.version),
                g => format!("/apis/{g}/{}", res.version),
            };
            bases.push((base, res.plural));
        }
    }
    bases
}

/// Every page of `path`, one after another, bodies dropped.
async fn list_all_pages(client: &Client, path: &str) {
    let mut token = String::new();
    loop {
        let url = format!("{path}?limit={PAGE}&continue={token}");
        let body = get_text(client, &url).await;
        match continue_token(&body) {
            Some(next) => token = next,
            None => break,
        }
    }
}

/// The sequential list ceiling: every namespaced resource type discovery lists, in each of the
/// namespaces, and the namespaces, paged, one request at a time, bodies dropped. Seconds.
pub async fn list_ceiling(client: &Client) -> f64 {
    let mut paths = vec!["/api/v1/namespaces".to_owned()];
    for (base, plural) in namespaced_types(client).await {
        for i in 0..NAMESPACES {
            paths.push(format!("{base}/namespaces/{}/{plural}", namespace(i)));
        }
    }
    let started = Instant::now();
    for path in &paths {
        list_all_pages(client, path).await;
    }
    started.elapsed().as_secs_f64()
}

/// The parallel list ceiling: every namespaced resource type listed cluster-wide and the
/// namespaces, [`LISTS_IN_FLIGHT`] types at a time, each type's pages one after another (a
/// page's request leaves as soon as the previous one's token is read: bodies are dropped, so
/// nothing is waited for between pages). Seconds.
pub async fn parallel_list_ceiling(client: &Client) -> f64 {
    let mut paths = vec!["/api/v1/namespaces".to_owned()];
    for (base, plural) in namespaced_types(client).await {
        paths.push(format!("{base}/{plural}"));
    }
    let started = Instant::now();
    futures::stream::iter(&paths)
        .map(|path| list_all_pages(client, path))
        .buffer_unordered(LISTS_IN_FLIGHT)
        .for_each(|_| async {})
        .await;
    started.elapsed().as_secs_f64()
}

/// The `metadata.continue` of a list body, read from the list's metadata (before `items`).
fn continue_token(body: &str) -> Option<String> {
    let head = &body[..body.find("\"items\"").unwrap_or(body.len())];
    let start = head.find("\"continue\":\"")? + "\"continue\":\"".len();
    let token = &head[start..start + head[start..].find('"')?];
    (!token.is_empty()).then(|| token.to_owned())
}
