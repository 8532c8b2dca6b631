//! Objects the benchmarks create in the API server, shared so each measures the same load.

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use std::time::Instant;

use crate::server_support::World;

/// Create namespace `name`.
pub async fn create_namespace(world: &World, name: &str) {
    let namespaces: Api<Namespace> = Api::all(world.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Create `count` ConfigMaps of 1 KiB in `ns`, 16 at a time; the seconds it took.
pub async fn create_configmaps(world: &World, ns: &str, count: usize) -> f64 {
    let api: Api<ConfigMap> = Api::namespaced(world.client.clone(), ns);
    let value = "x".repeat(1024);
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": format!("cm-{i:06}"), "namespace": ns},
                "data": {"value": format!("{i}-{value}")},
            }))
            .unwrap();
            async move { api.create(&PostParams::default(), &cm).await.unwrap() }
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    started.elapsed().as_secs_f64()
}
