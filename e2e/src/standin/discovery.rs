//! Legacy (unaggregated) discovery. kubectl asks for aggregated discovery first
//! (`apidiscovery.k8s.io/v2` in Accept) and falls back to these documents when the response's
//! Content-Type is plain `application/json`, which is what the stand-in always sends.

use serde_json::{Value, json};

use super::resources::{Registry, ResourceInfo};
use super::status::ApiError;

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(reg: &Registry, name: &str) -> Result<Value, ApiError> {
    let (g, vs) = reg
        .groups()
        .into_iter()
        .find(|(g, _)| g == name)
        .ok_or_else(ApiError::page_not_found)?;
    let mut v = group_entry(&g, &vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Ok(v)
}

fn entries(r: &ResourceInfo, version: &str) -> Vec<Value> {
    let mut main = json!({
        "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    let mut out = vec![main];
    if r.has_status(version) {
        out.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get", "patch", "update"]}));
    }
    out
}

pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Result<Value, ApiError> {
    let resources: Vec<Value> = reg
        .resources
        .iter()
        .filter(|r| r.group == group && r.version(version).is_some())
        .flat_map(|r| entries(r, version))
        .collect();
    if resources.is_empty() {
        return Err(ApiError::page_not_found());
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_groups_and_resources() {
        let reg = Registry::with_builtins();
        let groups = group_list(&reg);
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "apps")
        );
        let core = resource_list(&reg, "", "v1").unwrap();
        assert!(
            core["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "namespaces/status")
        );
        assert!(resource_list(&reg, "nope.io", "v1").is_err());
        assert_eq!(
            group(&reg, "apps").unwrap()["preferredVersion"]["version"],
            "v1"
        );
    }
}
