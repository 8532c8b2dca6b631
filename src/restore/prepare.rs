//! What happens to a backed-up object before it is created again: server-set metadata removed, namespaces mapped, and the comparison with an object that
//! already exists. Plain functions over JSON.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The resources that are never restored (they are the cluster's, or Velero's own): Velero's
/// list and the requests veloxide acts on.
pub const NEVER_RESTORED: &[&str] = &[
    "nodes",
    "events",
    "events.events.k8s.io",
    "backups.velero.io",
    "restores.velero.io",
    "resticrepositories.velero.io",
    "csinodes.storage.k8s.io",
    "volumeattachments.storage.k8s.io",
    "backuprepositories.velero.io",
    // Not in Velero's list: restored, a request would act again on this cluster's backups
    // (a DeleteBackupRequest deletes one) or hand out a download link.
    "deletebackuprequests.velero.io",
    "downloadrequests.velero.io",
];

/// The labels Velero puts on every restored object.
pub const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
pub const RESTORE_NAME_LABEL: &str = "velero.io/restore-name";

/// How a restore changes objects.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub namespace_mapping: BTreeMap<String, String>,
    pub preserve_node_ports: bool,
    pub backup: String,
    pub restore: String,
    /// The Restore's uid: restored VolumeSnapshots and contents are named after it.
    pub restore_uid: String,
    /// `spec.restorePVs` (unset means true).
    pub restore_pvs: bool,
}

impl Rules {
    /// The namespace objects of `ns` (a backup namespace) are restored into.
    pub fn target_namespace<'a>(&'a self, ns: &'a str) -> &'a str {
        self.namespace_mapping.get(ns).map_or(ns, String::as_str)
    }
}

/// Turn a backed-up object into one to create: server-set metadata goes, the namespace is
/// mapped, and Velero's labels are added; status stays for the actions ([`strip_status`]). What
/// is specific to a kind (a Service's cluster IP, a Pod's node) is `actions/`' work, done after
/// this.
pub fn prepare(object: &mut Value, rules: &Rules, place: Place<'_>) -> Result<(), String> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let root = object
        .as_object_mut()
        .ok_or("the item is not a JSON object")?;
    let metadata = root
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or("the item has no metadata")?;
    check_place(metadata, place)?;
    reset_metadata(metadata);
    // The namespace comes from the archive path, as Velero takes it: the path is what the
    // filters judged, so the object goes nowhere else.
    match place.namespace {
        Some(ns) => {
            let mapped = rules.target_namespace(ns).to_owned();
            metadata.insert("namespace".into(), Value::String(mapped));
        }
        None => {
            metadata.remove("namespace");
        }
    }
    if kind == "Namespace" {
        let mapped = rules.target_namespace(place.name).to_owned();
        metadata.insert("name".into(), Value::String(mapped));
    }
    add_labels(metadata, rules);
    Ok(())
}

/// Velero's labels on a restored object.
fn add_labels(metadata: &mut Map<String, Value>, rules: &Rules) {
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(
            BACKUP_NAME_LABEL.into(),
            Value::String(rules.backup.clone()),
        );
        labels.insert(
            RESTORE_NAME_LABEL.into(),
            Value::String(rules.restore.clone()),
        );
    }
}

/// After a resource modifier changed an object: it goes to the namespace the filters chose
/// (Velero sets the namespace after its modifiers too) and carries the restore's labels.
pub fn label(object: &mut Value, rules: &Rules, place: Place<'_>) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    match place.namespace {
        Some(ns) => {
            let mapped = rules.target_namespace(ns).to_owned();
            metadata.insert("namespace".into(), Value::String(mapped));
        }
        None => {
            metadata.remove("namespace");
        }
    }
    add_labels(metadata, rules);
}

/// The last step before an object is created: its status goes (the API server sets it). Not
/// part of [`prepare`]: the restore actions read it first (a completed Pod or Job is skipped).
pub fn strip_status(object: &mut Value) {
    if let Some(root) = object.as_object_mut() {
        root.remove("status");
    }
}

/// Where an item sits in the archive (`resources/<gr>/namespaces/<ns>/<name>.json` or
/// `resources/<gr>/cluster/<name>.json`): what the restore's filters judged.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// Refuse an item whose JSON names another namespace or name than its path: a crafted archive
/// could otherwise put objects where the filters never looked.
fn check_place(metadata: &Map<String, Value>, place: Place<'_>) -> Result<(), String> {
    let json_ns = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (place.namespace, json_ns) {
        (Some(path), Some(json)) if path != json => {
            return Err(format!(
                "refused: its metadata.namespace {json:?} differs from the namespace of its \
                 path in the archive ({path:?}); nothing was created"
            ));
        }
        (None, Some(json)) => {
            return Err(format!(
                "refused: its path in the archive is cluster-scoped but its metadata.namespace \
                 is {json:?}; nothing was created"
            ));
        }
        _ => {}
    }
    match metadata.get("name").and_then(Value::as_str) {
        Some(name) if name == place.name => Ok(()),
        Some(name) => Err(format!(
            "refused: its metadata.name {name:?} differs from the name of its path in the \
             archive ({:?}); nothing was created",
            place.name
        )),
        None => Err("refused: the item has no metadata.name".into()),
    }
}

/// Velero's reset: the fields the API server sets. ownerReferences go too: they name owners
/// by uid, and a restored owner gets a new one.
fn reset_metadata(metadata: &mut Map<String, Value>) {
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
        "selfLink",
        "ownerReferences",
        "generateName",
    ] {
        metadata.remove(field);
    }
}

/// The label the API server sets on every Namespace to its own name: a namespace restored
/// under another name (namespaceMapping) carries the old value in the archive, and the server
/// corrects it, so it is never a difference.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The parts of an object a restore owns: everything but status and metadata, plus labels
/// and annotations (less those the API server sets itself). Two objects with equal views
/// count as unchanged.
pub fn view(object: &Value) -> Value {
    let mut out = Map::new();
    if let Some(root) = object.as_object() {
        for (k, v) in root {
            if !matches!(k.as_str(), "metadata" | "status") {
                out.insert(k.clone(), v.clone());
            }
        }
        let metadata = root.get("metadata").and_then(Value::as_object);
        for field in ["labels", "annotations"] {
            let mut map = metadata
                .and_then(|m| m.get(field))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            map.remove(BACKUP_NAME_LABEL);
            map.remove(RESTORE_NAME_LABEL);
            if field == "labels" {
                map.remove(NAMESPACE_NAME_LABEL);
            }
            if !map.is_empty() {
                out.insert(field.into(), Value::Object(map));
            }
        }
    }
    Value::Object(out)
}

/// An RFC 7386 merge patch turning `from` into `to`; `None` when they are equal. Arrays are
/// replaced whole, as merge patches replace them.
pub fn merge_diff(from: &Value, to: &Value) -> Option<Value> {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (k, v) in b {
                match a.get(k) {
                    Some(old) => {
                        if let Some(d) = merge_diff(old, v) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (a, b) if a == b => None,
        (_, b) => Some(b.clone()),
    }
}

/// The patch that makes `existing` what the backup holds, limited to what [`view`] covers.
pub fn update_patch(existing: &Value, desired: &Value) -> Option<Value> {
    let (from, to) = (view(existing), view(desired));
    let mut patch = merge_diff(&from, &to)?;
    // Labels and annotations live under metadata in the object.
    let root = patch.as_object_mut()?;
    let mut metadata = Map::new();
    for field in ["labels", "annotations"] {
        if let Some(v) = root.remove(field) {
            metadata.insert(field.into(), v);
        }
    }
    // Velero's labels are set on every restored or updated object.
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Some(labels), Some(want)) = (
        labels.as_object_mut(),
        desired
            .pointer("/metadata/labels")
            .and_then(Value::as_object),
    ) {
        for key in [BACKUP_NAME_LABEL, RESTORE_NAME_LABEL] {
            if let Some(v) = want.get(key) {
                labels.insert(key.into(), v.clone());
            }
        }
    }
    root.insert("metadata".into(), Value::Object(metadata));
    Some(patch)
}

#[cfg(test)]
mod tests;
