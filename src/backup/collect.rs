//! Reading the cluster: discovery (every listable resource at its group's preferred version)
//! and paged lists, so no more than one page of objects is in memory at a time.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectList};
use kube::core::TypeMeta;

use super::filter::ResourceDesc;

/// The API server, for a backup's reads.
#[derive(Clone)]
pub struct Source {
    client: kube::Client,
    page_size: u32,
    secrets_only_in: Option<String>,
    /// Nanoseconds spent waiting for list and get answers (the backup's listing phase).
    waited: Arc<AtomicU64>,
}

/// One page of objects and the token for the next, if any.
pub struct Page {
    pub items: Vec<DynamicObject>,
    pub next: Option<String>,
}

impl Source {
    /// `page_size` objects per list request (Velero's `--client-page-size`, default 500).
    pub fn new(client: kube::Client, page_size: u32) -> Source {
        Source {
            client,
            page_size: page_size.max(1),
            secrets_only_in: None,
            waited: Arc::default(),
        }
    }

    /// Time spent so far waiting for list and get answers (discovery not included).
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited.load(Ordering::Relaxed))
    }

    /// The same source with a counter of its own: lists made ahead of the archive, whose
    /// time is not time the backup waited.
    pub fn uncounted(&self) -> Source {
        Source {
            waited: Arc::default(),
            ..self.clone()
        }
    }

    /// How many namespaces the cluster has (`None` when they cannot be listed).
    pub async fn namespace_count(&self) -> Option<usize> {
        use k8s_openapi::api::core::v1::Namespace;
        let api: Api<Namespace> = Api::all(self.client.clone());
        let started = Instant::now();
        let listed = api.list_metadata(&ListParams::default()).await;
        self.count(started);
        match listed {
            Ok(list) => Some(list.items.len()),
            Err(e) => {
                tracing::debug!(error = %e, "cannot count the cluster's namespaces");
                None
            }
        }
    }

    fn count(&self, started: Instant) {
        let nanos = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.waited.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Reads Secrets only in `namespace` (the server's own, when its RBAC grants no more:
    /// `--secrets-scope namespace`, the chart's default). Secrets elsewhere are skipped with a
    /// warning instead of failing on a Forbidden list.
    pub fn secrets_only_in(mut self, namespace: Option<String>) -> Source {
        self.secrets_only_in = namespace;
        self
    }

    /// The namespaces to list `resource` in, from the plan's `scopes`, and why any were left
    /// out: Secrets outside [`Source::secrets_only_in`]'s namespace are never listed.
    pub fn scopes_for(
        &self,
        resource: &ResourceDesc,
        scopes: Vec<Option<String>>,
    ) -> (Vec<Option<String>>, Option<String>) {
        scopes_for(self.secrets_only_in.as_deref(), resource, scopes)
    }

    /// Every listable resource: for each group its preferred version's resources, then those
    /// only served at other versions (as `ServerPreferredResources`), core group first.
    pub async fn discover(&self) -> Result<Vec<ResourceDesc>, kube::Error> {
        let mut lists: Vec<APIResourceList> = Vec::new();
        for v in &self.client.list_core_api_versions().await?.versions {
            lists.push(self.client.list_core_api_resources(v).await?);
        }
        for group in self.client.list_api_groups().await?.groups {
            let mut versions: Vec<String> = group
                .versions
                .iter()
                .map(|v| v.group_version.clone())
                .collect();
            if let Some(preferred) = &group.preferred_version {
                versions.retain(|v| v != &preferred.group_version);
                versions.insert(0, preferred.group_version.clone());
            }
            for gv in &versions {
                match self.client.list_api_group_resources(gv).await {
                    Ok(list) => lists.push(list),
                    // An unavailable aggregated API must not stop every backup; its
                    // resources are simply not listed (Velero logs and goes on too).
                    Err(e) => tracing::warn!(group_version = %gv, error = %e, "discovery failed"),
                }
            }
        }
        Ok(preferred_resources(lists.iter()))
    }

    /// Velero's `EnableAPIGroupVersions`: each listable resource at each version its group
    /// serves besides the one [`Source::discover`] chose, as `(group-resource, version)`.
    pub async fn other_versions(
        &self,
        chosen: &[ResourceDesc],
    ) -> Result<Vec<(String, String)>, kube::Error> {
        let mut out = Vec::new();
        for group in self.client.list_api_groups().await?.groups {
            for v in &group.versions {
                let Ok(list) = self.client.list_api_group_resources(&v.group_version).await else {
                    continue;
                };
                for r in &list.resources {
                    if r.name.contains('/') || !r.verbs.iter().any(|v| v == "list") {
                        continue;
                    }
                    let gr = format!("{}.{}", r.name, group.name);
                    let preferred = chosen
                        .iter()
                        .any(|c| c.group_resource() == gr && c.version == v.version);
                    if !preferred {
                        out.push((gr, v.version.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// One page of `resource`, in `namespace` or across all.
    pub async fn list_page(
        &self,
        resource: &ResourceDesc,
        namespace: Option<&str>,
        selector: Option<&str>,
        token: Option<&str>,
    ) -> Result<Page, kube::Error> {
        let ar = api_resource(resource);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if resource.namespaced => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        let mut params = ListParams::default().limit(self.page_size);
        if let Some(t) = token {
            params = params.continue_token(t);
        }
        if let Some(s) = selector {
            params = params.labels(s);
        }
        let started = Instant::now();
        let list = list_with_retry(&api, &params).await;
        self.count(started);
        let list = list?;
        let next = list.metadata.continue_.filter(|c| !c.is_empty());
        let types = TypeMeta {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
        };
        // Items in a list carry no apiVersion or kind; the archive's copies must, as Velero's do.
        let items = list
            .items
            .into_iter()
            .map(|mut o| {
                o.types.get_or_insert_with(|| types.clone());
                o
            })
            .collect();
        Ok(Page { items, next })
    }
}

impl Source {
    /// The cluster-scoped object `name` of `resource` (`None` when there is none), with its
    /// apiVersion and kind set as a list's items get them.
    pub async fn get_cluster_scoped(
        &self,
        resource: &ResourceDesc,
        name: &str,
    ) -> Result<Option<DynamicObject>, kube::Error> {
        self.get(resource, None, name).await
    }

    /// The object `name` of `resource`, in `namespace` when it is namespaced (`None` when
    /// there is none), with its apiVersion and kind set.
    pub async fn get(
        &self,
        resource: &ResourceDesc,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<DynamicObject>, kube::Error> {
        let ar = api_resource(resource);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if resource.namespaced => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        let started = Instant::now();
        let got = api.get_opt(name).await;
        self.count(started);
        Ok(got?.map(|mut o| {
            o.types.get_or_insert_with(|| TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
            o
        }))
    }
}

/// Pauses before each retry of a list the API server answered with 429, 503 or 504: a
/// resource that stays unavailable costs a backup under two seconds, then counts as an item
/// error (the backup ends PartiallyFailed) instead of stalling it.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

async fn list_with_retry(
    api: &Api<DynamicObject>,
    params: &ListParams,
) -> Result<ObjectList<DynamicObject>, kube::Error> {
    let mut pauses = RETRY_PAUSES.iter();
    loop {
        match api.list(params).await {
            Err(kube::Error::Api(status)) if matches!(status.code, 429 | 503 | 504) => {
                match pauses.next() {
                    Some(pause) => tokio::time::sleep(*pause).await,
                    None => return Err(kube::Error::Api(status)),
                }
            }
            other => return other,
        }
    }
}

fn api_resource(r: &ResourceDesc) -> ApiResource {
    ApiResource {
        group: r.group.clone(),
        version: r.version.clone(),
        api_version: if r.group.is_empty() {
            r.version.clone()
        } else {
            format!("{}/{}", r.group, r.version)
        },
        kind: r.kind.clone(),
        plural: r.plural.clone(),
    }
}

/// Merge discovery documents, given per group with the preferred version first: a resource is
/// taken at the first version that lists it. Subresources and resources without `list` are
/// left out.
pub fn preferred_resources<'a>(
    lists: impl Iterator<Item = &'a APIResourceList>,
) -> Vec<ResourceDesc> {
    let mut out: Vec<ResourceDesc> = Vec::new();
    for list in lists {
        let (group, version) = match list.group_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), list.group_version.clone()),
        };
        for r in &list.resources {
            if r.name.contains('/') || !r.verbs.iter().any(|v| v == "list") {
                continue;
            }
            if out.iter().any(|o| o.group == group && o.plural == r.name) {
                continue;
            }
            out.push(ResourceDesc {
                group: group.clone(),
                version: version.clone(),
                plural: r.name.clone(),
                singular: if r.singular_name.is_empty() {
                    r.kind.to_ascii_lowercase()
                } else {
                    r.singular_name.clone()
                },
                kind: r.kind.clone(),
                short_names: r.short_names.clone().unwrap_or_default(),
                namespaced: r.namespaced,
            });
        }
    }
    out
}

/// [`Source::scopes_for`], without the client.
fn scopes_for(
    secrets_only_in: Option<&str>,
    resource: &ResourceDesc,
    scopes: Vec<Option<String>>,
) -> (Vec<Option<String>>, Option<String>) {
    let Some(own) = secrets_only_in else {
        return (scopes, None);
    };
    if !(resource.group.is_empty() && resource.plural == "secrets") {
        return (scopes, None);
    }
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for scope in scopes {
        match scope.as_deref() {
            Some(ns) if ns == own => kept.push(scope.clone()),
            Some(ns) => skipped.push(ns.to_owned()),
            None => {
                kept.push(Some(own.to_owned()));
                skipped.push("every other namespace".to_owned());
            }
        }
    }
    let why = (!skipped.is_empty()).then(|| {
        format!(
            "Secrets in {} are not backed up: the server reads Secrets only in {own} \
             (--secrets-scope namespace, the chart's rbac.secretsScope); set it to \
             \"cluster\" to back them up",
            skipped.join(", ")
        )
    });
    (kept, why)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_listed_only_in_the_servers_namespace_when_so_scoped() {
        let client_free = |resource: &ResourceDesc, scopes: Vec<Option<String>>, only| {
            scopes_for(only, resource, scopes)
        };
        let desc = |plural: &str| ResourceDesc {
            group: String::new(),
            version: "v1".into(),
            plural: plural.into(),
            singular: String::new(),
            kind: String::new(),
            short_names: vec![],
            namespaced: true,
        };
        let secrets = desc("secrets");
        let maps = desc("configmaps");
        let all = vec![Some("velero".to_owned()), Some("shop".to_owned())];
        assert_eq!(
            client_free(&secrets, all.clone(), None),
            (all.clone(), None)
        );
        assert_eq!(
            client_free(&maps, all.clone(), Some("velero")),
            (all.clone(), None)
        );
        let (kept, why) = client_free(&secrets, all, Some("velero"));
        assert_eq!(kept, vec![Some("velero".to_owned())]);
        assert!(
            why.unwrap()
                .starts_with("Secrets in shop are not backed up")
        );
        let (kept, why) = client_free(&secrets, vec![None], Some("velero"));
        assert_eq!(kept, vec![Some("velero".to_owned())]);
        assert!(why.unwrap().contains("every other namespace"));
    }

    use super::*;

    fn list(gv: &str, resources: serde_json::Value) -> APIResourceList {
        serde_json::from_value(serde_json::json!({"groupVersion": gv, "resources": resources}))
            .unwrap()
    }

    #[test]
    fn preferred_version_wins_and_subresources_are_skipped() {
        let lists = [
            list(
                "v1",
                serde_json::json!([
                    {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": ["get", "list"], "shortNames": ["cm"]},
                    {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
                    {"name": "bindings", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]},
                ]),
            ),
            list(
                "example.com/v2",
                serde_json::json!([{"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["list"]}]),
            ),
            list(
                "example.com/v1",
                serde_json::json!([
                    {"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["list"]},
                    {"name": "gadgets", "singularName": "", "namespaced": false, "kind": "Gadget", "verbs": ["list"]},
                ]),
            ),
        ];
        let got = preferred_resources(lists.iter());
        let names: Vec<(String, String, bool)> = got
            .iter()
            .map(|r| (r.group_resource(), r.version.clone(), r.namespaced))
            .collect();
        assert_eq!(
            names,
            [
                ("configmaps".into(), "v1".into(), true),
                ("widgets.example.com".into(), "v2".into(), true),
                ("gadgets.example.com".into(), "v1".into(), false),
            ]
        );
        assert_eq!(got[0].short_names, ["cm"]);
        assert_eq!(got[2].singular, "gadget");
    }
}
