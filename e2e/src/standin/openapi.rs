//! OpenAPI v3, as much as `kubectl apply` and Helm need for validation. kubectl checks that the
//! PATCH operation of a kind declares the `fieldValidation` query parameter, and when it does it
//! leaves validation to the server (`?fieldValidation=Strict`), which this stand-in performs
//! (typed decoding for built-ins, structural schemas for CRDs). Built-in schemas are not published,
//! so kubectl falls back to its compiled-in types for strategic merge patches, and `kubectl explain`
//! knows custom resources only. OpenAPI v2 (protobuf) is not served.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use super::resources::{Registry, ResourceInfo};
use super::status::ApiError;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per group version, with a hash that changes with its content.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, versions) in reg.groups() {
        for v in versions {
            let p = gv_path(&g, &v);
            let doc = group_version(reg, &p).unwrap_or_default();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            doc.to_string().hash(&mut h);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={:016X}", h.finish())}),
            );
        }
    }
    json!({"paths": paths})
}

/// The schema name the real server uses: `io.velero.v1.BackupStorageLocation`.
fn schema_name(info: &ResourceInfo, version: &str) -> String {
    let group = if info.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        let mut parts: Vec<&str> = info.group.split('.').collect();
        parts.reverse();
        parts.join(".")
    };
    format!("{group}.{version}.{}", info.kind)
}

fn gvk(info: &ResourceInfo, version: &str) -> Value {
    json!({"group": info.group, "version": version, "kind": info.kind})
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn ok(reference: &str) -> Value {
    json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}}})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/GROUP/VERSION`.
pub fn group_version(reg: &Registry, path: &str) -> Result<Value, ApiError> {
    let parts: Vec<&str> = path.split('/').collect();
    let (group, version) = match parts.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return Err(ApiError::page_not_found()),
    };
    let infos: Vec<&ResourceInfo> = reg
        .resources
        .iter()
        .filter(|r| r.group == group && r.version(version).is_some())
        .collect();
    if infos.is_empty() {
        return Err(ApiError::page_not_found());
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for info in infos {
        let name = schema_name(info, version);
        let reference = format!("#/components/schemas/{name}");
        let mut schema = info
            .version(version)
            .and_then(|v| v.schema.clone())
            .unwrap_or_else(|| json!({"type": "object"}));
        schema["x-kubernetes-group-version-kind"] = json!([gvk(info, version)]);
        schemas.insert(name, schema);
        let base = if info.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                info.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), info.plural)
        };
        let ext = |action: &str| json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk(info, version)});
        let op = |action: &str, params: Vec<Value>| {
            let mut o = ext(action);
            o["parameters"] = json!(params);
            o["responses"] = ok(&reference);
            o
        };
        let write_params = || {
            vec![
                query_param("dryRun"),
                query_param("fieldManager"),
                query_param("fieldValidation"),
            ]
        };
        let body = |types: &[&str]| {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": {"$ref": reference}})))
                .collect();
            json!({"content": content, "required": true})
        };
        let mut post = op("post", write_params());
        post["requestBody"] = body(&["application/json", "application/yaml"]);
        paths.insert(
            base.clone(),
            json!({"get": op("list", vec![query_param("labelSelector")]), "post": post}),
        );
        let mut put = op("put", write_params());
        put["requestBody"] = body(&["application/json", "application/yaml"]);
        let mut patch = op(
            "patch",
            [write_params(), vec![query_param("force")]].concat(),
        );
        patch["requestBody"] = body(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]);
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op("get", vec![]), "put": put, "patch": patch, "delete": op("delete", vec![query_param("dryRun")])}),
        );
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kube-standin)", "version": super::KUBE_VERSION.2},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_declare_field_validation() {
        let reg = Registry::with_builtins();
        let root = root(&reg);
        assert!(
            root["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .contains("hash=")
        );
        let doc = group_version(&reg, "api/v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Secret");
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"].is_object());
        assert!(group_version(&reg, "apis/nope/v1").is_err());
    }
}
