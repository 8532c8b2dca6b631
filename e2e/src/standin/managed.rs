//! Field managers and server-side apply, simplified: a manager owns the leaf fields it set
//! (lists count as one leaf, so `k:`/`v:` list-item ownership is not modelled); applying merges
//! the applied configuration into the object, reports conflicts with other managers that own a
//! field whose value the apply would change (unless `force=true`), and removes fields the same
//! manager applied before but no longer applies, when nobody else owns them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::patch::strategic;
use super::status::ApiError;

type Path = Vec<String>;

/// Metadata fields the server owns, never recorded in managedFields.
const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
];

/// The leaf fields set in an object.
pub fn leaves(v: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    collect(v, &mut vec![], &mut out);
    out
}

fn collect(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let skip = match path.as_slice() {
                    [] => matches!(k.as_str(), "apiVersion" | "kind"),
                    [meta] if meta == "metadata" => SERVER_META.contains(&k.as_str()),
                    _ => false,
                };
                if !skip {
                    path.push(k.clone());
                    collect(child, path, out);
                    path.pop();
                }
            }
        }
        _ if !path.is_empty() => {
            out.insert(path.clone());
        }
        _ => {}
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// `fieldsV1` (`{"f:spec": {"f:replicas": {}}}`) for a set of leaves.
pub fn to_fields(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut cur = &mut root;
        for k in p {
            cur = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("object");
        }
    }
    Value::Object(root)
}

pub fn from_fields(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let m = v.as_object().filter(|m| !m.is_empty());
        match m {
            None if !path.is_empty() => {
                out.insert(path.clone());
            }
            None => {}
            Some(m) => {
                for (k, child) in m {
                    if let Some(name) = k.strip_prefix("f:") {
                        path.push(name.to_string());
                        walk(child, path, out);
                        path.pop();
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut vec![], &mut out);
    out
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry(manager: &str, op: &str, api_version: &str, now: &str, set: &BTreeSet<Path>) -> Value {
    json!({"manager": manager, "operation": op, "apiVersion": api_version, "time": now,
           "fieldsType": "FieldsV1", "fieldsV1": to_fields(set)})
}

/// Records an `Update` by `manager`: it takes the fields whose values changed from everyone else.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
    let changed: BTreeSet<Path> = leaves(new)
        .into_iter()
        .filter(|p| old.and_then(|o| lookup(o, p)) != lookup(new, p))
        .collect();
    let mut list = old.map(entries).unwrap_or_default();
    // As on a real server, nobody manages a field that no longer exists (e.g. one an update
    // removed), so a later apply of it by another manager is not a conflict.
    let existing = leaves(new);
    list.retain_mut(|e| {
        let mut owned = from_fields(&e["fieldsV1"]);
        owned.retain(|p| existing.contains(p));
        e["fieldsV1"] = to_fields(&owned);
        !owned.is_empty()
    });
    if changed.is_empty() && !list.is_empty() {
        new["metadata"]["managedFields"] = Value::Array(list);
        return;
    }
    let api_version = new["apiVersion"].as_str().unwrap_or_default().to_string();
    let mut mine = BTreeSet::new();
    list.retain_mut(|e| {
        let mut owned = from_fields(&e["fieldsV1"]);
        if e["manager"] == manager && e["operation"] == "Update" {
            mine = owned;
            return false;
        }
        owned.retain(|p| !changed.contains(p));
        e["fieldsV1"] = to_fields(&owned);
        !owned.is_empty()
    });
    mine.extend(changed);
    list.push(entry(manager, "Update", &api_version, now, &mine));
    new["metadata"]["managedFields"] = Value::Array(list);
}

/// Server-side apply of `applied` by `manager` onto `current` (None: the object is new).
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let mine = leaves(applied);
    let Some(current) = current else {
        let mut obj = applied.clone();
        obj["metadata"]["managedFields"] =
            json!([entry(manager, "Apply", api_version(applied), now, &mine)]);
        return Ok(obj);
    };
    let mut list = entries(current);
    let mut conflicts = vec![];
    let mut previously = BTreeSet::new();
    for e in &list {
        let owned = from_fields(&e["fieldsV1"]);
        if e["manager"] == manager && e["operation"] == "Apply" {
            previously = owned;
            continue;
        }
        for p in owned.intersection(&mine) {
            let live = lookup(current, p).filter(|v| !v.is_null());
            if live.is_some() && live != lookup(applied, p) {
                conflicts.push(format!(
                    "conflict with \"{}\": .{}",
                    e["manager"].as_str().unwrap_or_default(),
                    p.join(".")
                ));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let n = conflicts.len();
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                conflicts.join("\n")
            ),
        ));
    }
    let mut obj = current.clone();
    let others: BTreeSet<Path> = list
        .iter()
        .filter(|e| !(e["manager"] == manager && e["operation"] == "Apply"))
        .flat_map(|e| from_fields(&e["fieldsV1"]))
        .filter(|p| !mine.contains(p))
        .collect();
    for p in previously.difference(&mine) {
        if !others.contains(p) {
            remove_path(&mut obj, p);
        }
    }
    let mut body = applied.clone();
    if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    strategic(&mut obj, &body);
    list.retain_mut(|e| {
        if e["manager"] == manager && e["operation"] == "Apply" {
            return false;
        }
        let mut owned = from_fields(&e["fieldsV1"]);
        owned.retain(|p| !mine.contains(p));
        e["fieldsV1"] = to_fields(&owned);
        !owned.is_empty()
    });
    list.push(entry(manager, "Apply", api_version(applied), now, &mine));
    obj["metadata"]["managedFields"] = Value::Array(list);
    Ok(obj)
}

fn api_version(v: &Value) -> &str {
    v["apiVersion"].as_str().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn fields_round_trip() {
        let set = leaves(
            &json!({"apiVersion": "v1", "metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v"}}),
        );
        assert_eq!(set.len(), 2);
        assert_eq!(from_fields(&to_fields(&set)), set);
    }

    #[test]
    fn apply_conflicts_forces_and_removes_dropped_fields() {
        let a1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1", "y": "1"}});
        let obj = apply(None, &a1, "alice", false, NOW).unwrap();
        // bob changes x: conflict unless forced
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "2"}});
        let err = apply(Some(&obj), &b, "bob", false, NOW).unwrap_err();
        assert!(
            err.message.contains("conflict with \"alice\": .data.x"),
            "{}",
            err.message
        );
        let obj = apply(Some(&obj), &b, "bob", true, NOW).unwrap();
        assert_eq!(obj["data"]["x"], "2");
        // alice stops applying y: it goes; x is bob's now, so it stays
        let a2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"z": "1"}});
        let obj = apply(Some(&obj), &a2, "alice", false, NOW).unwrap();
        assert_eq!(obj["data"], json!({"x": "2", "z": "1"}));
    }

    #[test]
    fn updates_take_ownership_of_changed_fields() {
        let old = apply(
            None,
            &json!({"apiVersion": "v1", "metadata": {"name": "c"}, "data": {"x": "1"}}),
            "alice",
            false,
            NOW,
        )
        .unwrap();
        let mut new = old.clone();
        new["data"]["x"] = json!("9");
        record_update(Some(&old), &mut new, "kubectl-edit", NOW);
        let list = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["manager"], "kubectl-edit");
    }

    #[test]
    fn removed_fields_are_no_longer_managed() {
        // alice applies a field, an update removes it, then bob applies it: no conflict, as on
        // a real server (the lease hand-over of kube-lease-manager depends on this).
        let applied = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"holder": "alice"}});
        let obj = apply(None, &applied, "alice", false, "t0").unwrap();
        let mut cleared = obj.clone();
        cleared["spec"].as_object_mut().unwrap().remove("holder");
        record_update(Some(&obj), &mut cleared, "alice", "t1");
        let bob = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"holder": "bob"}});
        let taken = apply(Some(&cleared), &bob, "bob", false, "t2").unwrap();
        assert_eq!(taken["spec"]["holder"], "bob");
    }
}
