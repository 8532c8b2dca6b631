//! Patches: JSON merge (RFC 7386) and JSON patch (RFC 6902) through the json-patch crate, and a
//! subset of strategic merge patch good for what kubectl and Helm send for built-in kinds.
//!
//! Strategic merge here knows list merge keys by field name (containers by `name`, ports by
//! `containerPort`/`port`, conditions by `type`, …) instead of from the Go struct tags, and
//! supports the `$patch: replace|delete`, `$retainKeys`, `$setElementOrder` (accepted, order not
//! enforced) and `$deleteFromPrimitiveList` directives.

use serde_json::{Map, Value};

use super::status::ApiError;

/// The patch formats the API accepts, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies a JSON, merge or strategic patch body to `current`.
pub fn apply_patch(kind: PatchKind, current: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchKind::Merge => json_patch::merge(&mut doc, &parse(body)?),
        PatchKind::Strategic => strategic(&mut doc, &parse(body)?),
        PatchKind::Apply => unreachable!("server-side apply is handled by managed.rs"),
    }
    Ok(doc)
}

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("patch body must be a JSON object"));
    }
    Ok(v)
}

/// The merge key of a list field, for the built-in fields kubectl and Helm patch.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "webhooks" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => "containerPort",
        "ports" => "port",
        _ => return None,
    })
}

/// Lists of scalars that strategic merge unions instead of replacing.
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge of `patch` into `target`.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Some(pmap) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if pmap.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = pmap.clone();
        clean.remove("$patch");
        *target = Value::Object(clean);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let tmap = target.as_object_mut().expect("made an object");
    for (k, v) in pmap {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                tmap.remove(k);
            }
            Value::Object(_) => strategic(tmap.entry(k.clone()).or_insert(Value::Null), v),
            Value::Array(items) => {
                merge_list(tmap.entry(k.clone()).or_insert(Value::Null), items, k)
            }
            _ => {
                tmap.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in pmap {
        if let Some(list_field) = k.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(have)), Some(drop)) = (tmap.get_mut(list_field), v.as_array())
        {
            have.retain(|x| !drop.contains(x));
        }
    }
    if let Some(keep) = pmap.get("$retainKeys").and_then(Value::as_array) {
        tmap.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
}

fn merge_list(target: &mut Value, items: &[Value], field: &str) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        );
        return;
    }
    if is_set_list(field) {
        let mut have = target.as_array().cloned().unwrap_or_default();
        for i in items {
            if !have.contains(i) {
                have.push(i.clone());
            }
        }
        *target = Value::Array(have);
        return;
    }
    let Some(key) = merge_key(field, items).filter(|_| items.iter().all(Value::is_object)) else {
        *target = Value::Array(items.to_vec());
        return;
    };
    let mut have = target.as_array().cloned().unwrap_or_default();
    for item in items {
        let id = &item[key];
        let pos = have.iter().position(|h| &h[key] == id);
        match (item.get("$patch").and_then(Value::as_str), pos) {
            (Some("delete"), Some(p)) => {
                have.remove(p);
            }
            (Some("delete"), None) => {}
            (_, Some(p)) => strategic(&mut have[p], item),
            (_, None) => {
                let mut fresh = Value::Null;
                strategic(&mut fresh, item);
                have.push(fresh);
            }
        }
    }
    *target = Value::Array(have);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name_and_honours_directives() {
        let mut d = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
            "spec": {"containers": [{"name": "app", "image": "v1", "env": [{"name": "A", "value": "1"}]},
                                    {"name": "side", "image": "s"}]}});
        let p = json!({"metadata": {"finalizers": ["b"], "labels": {"y": null}},
            "spec": {"$setElementOrder/containers": [{"name": "app"}],
                     "containers": [{"name": "app", "image": "v2", "env": [{"name": "B", "value": "2"}]},
                                    {"name": "side", "$patch": "delete"}]}});
        strategic(&mut d, &p);
        assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(d["metadata"]["labels"], json!({"x": "1"}));
        assert_eq!(d["spec"]["containers"].as_array().unwrap().len(), 1);
        assert_eq!(d["spec"]["containers"][0]["image"], "v2");
        assert_eq!(
            d["spec"]["containers"][0]["env"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn lists_without_merge_keys_are_replaced_and_retain_keys_prunes() {
        let mut d = json!({"spec": {"args": ["a", "b"], "strategy": {"type": "RollingUpdate", "rollingUpdate": {}}}});
        let p = json!({"spec": {"args": ["c"], "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "$deleteFromPrimitiveList/args": ["c"]}});
        strategic(&mut d, &p);
        assert_eq!(d["spec"]["args"], json!([]));
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn json_and_merge_patches() {
        let cur = json!({"a": 1, "b": {"c": 2}});
        let j = apply_patch(
            PatchKind::Json,
            &cur,
            br#"[{"op":"replace","path":"/a","value":5}]"#,
        )
        .unwrap();
        assert_eq!(j["a"], 5);
        let m = apply_patch(PatchKind::Merge, &cur, br#"{"b":{"c":null,"d":1}}"#).unwrap();
        assert_eq!(m["b"], json!({"d": 1}));
        let bad = apply_patch(
            PatchKind::Json,
            &cur,
            br#"[{"op":"test","path":"/a","value":9}]"#,
        );
        assert_eq!(bad.unwrap_err().code, 422);
    }
}
