//! Velero's change-storage-class plugin (`pkg/restore/actions/change_storageclass_action.go`):
//! a ConfigMap labelled `velero.io/plugin-config` and
//! `velero.io/change-storage-class: RestoreItemAction` in the server's namespace maps old
//! StorageClass names to new ones, for PersistentVolumes, claims and StatefulSets' claim
//! templates. A mapping to a class that does not exist fails the item, as in Velero.

use serde_json::Value;

use super::types::{Context, Stop};

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    let config = ctx.plugins;
    if let Some(e) = &config.storage_class_error {
        return Err(Stop::Refuse(format!("velero.io/change-storage-class: {e}")));
    }
    if config.storage_classes.is_empty() {
        return Ok(());
    }
    if object.get("kind").and_then(Value::as_str) == Some("StatefulSet") {
        let templates = object
            .pointer_mut("/spec/volumeClaimTemplates")
            .and_then(Value::as_array_mut);
        for template in templates.into_iter().flatten() {
            if let Some(spec) = template.get_mut("spec") {
                remap(spec, ctx)?;
            }
        }
        return Ok(());
    }
    match object.get_mut("spec") {
        Some(spec) => remap(spec, ctx),
        None => Ok(()),
    }
}

/// `spec.storageClassName` through the map.
fn remap(spec: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    let Some(old) = spec.get("storageClassName").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(new) = ctx.plugins.storage_classes.get(old) else {
        return Ok(());
    };
    if ctx.plugins.missing_classes.contains(new) {
        return Err(Stop::Refuse(format!(
            "the change-storage-class ConfigMap maps storage class {old:?} to {new:?}, which \
             does not exist in the cluster; create it or fix the mapping"
        )));
    }
    spec["storageClassName"] = Value::String(new.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn classes_are_mapped_in_claims_volumes_and_templates() {
        let mut t = TestContext::new();
        t.plugins.storage_classes = [
            ("standard".to_owned(), "fast".to_owned()),
            ("old".to_owned(), "gone".to_owned()),
        ]
        .into();
        t.plugins.missing_classes = ["gone".to_owned()].into();
        let cases = [
            (
                json!({"kind": "PersistentVolumeClaim", "spec": {"storageClassName": "standard"}}),
                Ok(json!({"kind": "PersistentVolumeClaim", "spec": {"storageClassName": "fast"}})),
            ),
            (
                json!({"kind": "PersistentVolume", "spec": {"storageClassName": "other"}}),
                Ok(json!({"kind": "PersistentVolume", "spec": {"storageClassName": "other"}})),
            ),
            (
                json!({"kind": "PersistentVolumeClaim", "spec": {}}),
                Ok(json!({"kind": "PersistentVolumeClaim", "spec": {}})),
            ),
            (
                json!({"kind": "StatefulSet", "spec": {"volumeClaimTemplates": [
                {"spec": {"storageClassName": "standard"}}, {"spec": {}}]}}),
                Ok(
                    json!({"kind": "StatefulSet", "spec": {"volumeClaimTemplates": [
                {"spec": {"storageClassName": "fast"}}, {"spec": {}}]}}),
                ),
            ),
            (
                json!({"kind": "PersistentVolumeClaim", "spec": {"storageClassName": "old"}}),
                Err("\"gone\", which does not exist"),
            ),
        ];
        for (mut object, want) in cases {
            let got = restore(&mut object, &t.ctx());
            match want {
                Ok(want) => {
                    assert_eq!(got, Ok(()));
                    assert_eq!(object, want);
                }
                Err(text) => match got {
                    Err(Stop::Refuse(why)) => assert!(why.contains(text), "{why}"),
                    other => panic!("{other:?}"),
                },
            }
        }
    }
}
