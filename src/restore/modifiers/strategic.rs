//! Strategic merge patches, the subset Velero's documentation uses, without a schema: no
//! well-kept Rust crate implements them (Kubernetes' own is Go, driven by its types' patch
//! tags). What is done (docs/restores.md says the same):
//! - maps merge key by key, a `null` value deletes the key;
//! - the lists Kubernetes' built-in types merge by a key merge element by element, by that key
//!   ([`MERGE_KEYS`]: containers, volumes, env and ports among them); an element with
//!   `$patch: delete` removes the element with its key; others replace the list whole;
//! - `finalizers` merges as a set; `$deleteFromPrimitiveList/<field>` removes values from one;
//! - `$patch: replace` on a map replaces it, `$patch: delete` removes it;
//!   `$setElementOrder/<field>` is accepted and ignored (order is kept, new elements last).
//!
//! Like Velero (whose patcher needs the kind in its scheme), only built-in kinds are patched:
//! a custom resource fails with an item error, as the API server refuses strategic merge
//! patches on them.

use serde_json::{Map, Value};

use super::patch::StrategicPatch;

/// List fields of built-in kinds and the key their elements merge by. `ports` merges by
/// `containerPort` in a container and by `port` in a Service: chosen by which the element has.
const MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("volumes", "name"),
    ("env", "name"),
    ("volumeMounts", "mountPath"),
    ("volumeDevices", "devicePath"),
    ("imagePullSecrets", "name"),
    ("hostAliases", "ip"),
    ("topologySpreadConstraints", "topologyKey"),
    ("conditions", "type"),
    ("resourceClaims", "name"),
    ("ownerReferences", "uid"),
];

/// Lists of plain values that merge as sets.
const SET_LISTS: &[&str] = &["finalizers"];

/// Apply each patch in order to `object` (a built-in kind).
pub(super) fn apply(object: &mut Value, patches: &[StrategicPatch]) -> Result<(), String> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if !(group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")) {
        return Err(format!(
            "strategic merge patch: {api_version} is not a built-in kind (the API server \
             refuses strategic merge patches on custom resources too); use patches or \
             mergePatches"
        ));
    }
    for p in patches {
        merge_map_into(object, &p.0, "")?;
    }
    Ok(())
}

fn merge_map_into(target: &mut Value, patch: &Value, field: &str) -> Result<(), String> {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return Ok(());
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return Ok(());
        }
        Some(other) if other != "merge" => {
            return Err(format!(
                "strategic merge patch: $patch {other:?} is not supported on the map {field:?} \
                 (use replace, or a null value to delete a key)"
            ));
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if key == "$patch" || key.starts_with("$setElementOrder/") || key == "$retainKeys" {
            continue;
        }
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) = (map.get_mut(list), value.as_array()) {
                items.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if value.is_null() {
            map.remove(key);
            continue;
        }
        if value.get("$patch").and_then(Value::as_str) == Some("delete") {
            map.remove(key);
            continue;
        }
        match (map.get_mut(key), value) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                merge_map_into(existing, value, key)?;
            }
            (Some(Value::Array(existing)), Value::Array(items)) => {
                merge_list(existing, items, key)?;
            }
            (_, Value::Object(_)) => {
                let mut fresh = Value::Object(Map::new());
                merge_map_into(&mut fresh, value, key)?;
                map.insert(key.clone(), fresh);
            }
            (_, Value::Array(items)) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter(|v| v.get("$patch").is_none())
                    .cloned()
                    .collect();
                map.insert(key.clone(), Value::Array(kept));
            }
            _ => {
                map.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(())
}

/// The key a list's elements merge by, if it is one of [`MERGE_KEYS`].
fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    if field == "ports" {
        return Some(
            if sample.is_some_and(|v| v.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            },
        );
    }
    MERGE_KEYS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, key)| *key)
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], field: &str) -> Result<(), String> {
    if SET_LISTS.contains(&field) {
        for item in items {
            if !existing.contains(item) {
                existing.push(item.clone());
            }
        }
        return Ok(());
    }
    let Some(key) = merge_key(field, items.first()) else {
        *existing = items.to_vec();
        return Ok(());
    };
    if items.iter().any(|i| !i.is_object()) {
        *existing = items.to_vec();
        return Ok(());
    }
    for item in items {
        let Some(id) = item.get(key) else {
            return Err(format!(
                "strategic merge patch: an element of {field} has no {key:?}, the key its \
                 elements merge by"
            ));
        };
        let at = existing.iter().position(|e| e.get(key) == Some(id));
        let directive = item.get("$patch").and_then(Value::as_str);
        match (at, directive) {
            (Some(i), Some("delete")) => {
                existing.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), Some("replace")) => {
                let mut replaced = item.clone();
                if let Some(m) = replaced.as_object_mut() {
                    m.remove("$patch");
                }
                existing[i] = replaced;
            }
            (Some(i), _) => merge_map_into(&mut existing[i], item, field)?,
            (None, _) => {
                let mut fresh = Value::Object(Map::new());
                merge_map_into(&mut fresh, item, field)?;
                existing.push(fresh);
            }
        }
    }
    Ok(())
}
