//! The `restore-wait` init container (Velero's `velero.io/pod-volume-restore` action): a
//! restored pod whose volumes have snapshots starts with a container of the server's image
//! running `veloxide restore-helper <restore uid>`, which mounts each such volume at
//! `/restores/<volume>` and ends once the node agent has written the done file
//! `.velero/<restore uid>` into every one of them, so the application starts on its data.

use serde_json::{Value, json};

use super::{FsVolume, FsVolumes, RESTORES_DIR, WAIT_CONTAINER, WAIT_CONTAINER_LEGACY};

/// The user the helper runs as when the pod's first container sets no security context
/// (Velero's `restoreHelperUID`, the distroless nonroot user).
const HELPER_UID: i64 = 65532;

/// The snapshots of `pod` (a restored pod, namespace already mapped) that are for volumes it
/// has: a volume the pod no longer has (a modifier removed it) has nowhere to go.
pub fn volumes_of<'v>(pod: &Value, volumes: &'v FsVolumes) -> Vec<&'v FsVolume> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let has = |v: &str| {
        pod["spec"]["volumes"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|x| x["name"].as_str() == Some(v)))
    };
    volumes
        .for_pod(ns, name)
        .iter()
        .filter(|v| has(&v.volume))
        .collect()
}

/// Put the wait container first among `pod`'s init containers when it has volumes to restore
/// (an old one of Velero's name, from a pod backed up mid-restore, is removed first, as Velero
/// removes it). Returns the volumes it waits for.
pub fn add(pod: &mut Value, volumes: &FsVolumes, image: &str, restore_uid: &str) -> Vec<String> {
    let names: Vec<String> = volumes_of(pod, volumes)
        .iter()
        .map(|v| v.volume.clone())
        .collect();
    if names.is_empty() {
        return names;
    }
    let security = pod["spec"]["containers"][0]
        .get("securityContext")
        .filter(|s| !s.is_null())
        .cloned()
        .unwrap_or_else(|| {
            json!({
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
                "runAsUser": HELPER_UID,
                "runAsNonRoot": true,
            })
        });
    let mounts: Vec<Value> = names
        .iter()
        .map(|v| json!({"name": v, "mountPath": format!("{RESTORES_DIR}/{v}")}))
        .collect();
    let container = json!({
        "name": WAIT_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["restore-helper", restore_uid],
        "env": [
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        // Velero's defaults: the helper only looks for files once a second.
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "100m", "memory": "128Mi"},
        },
        "securityContext": security,
        "volumeMounts": mounts,
    });
    let spec = pod["spec"].as_object_mut();
    let Some(spec) = spec else { return Vec::new() };
    let mut inits: Vec<Value> = spec
        .remove("initContainers")
        .and_then(|v| match v {
            Value::Array(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            let name = c["name"].as_str();
            name != Some(WAIT_CONTAINER) && name != Some(WAIT_CONTAINER_LEGACY)
        })
        .collect();
    inits.insert(0, container);
    spec.insert("initContainers".into(), Value::Array(inits));
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PodVolumeBackup;

    fn volumes() -> FsVolumes {
        let pvb = |pod: &str, volume: &str| -> PodVolumeBackup {
            serde_json::from_value(json!({
                "metadata": {"name": "b-x"},
                "spec": {"node": "n", "pod": {"namespace": "app", "name": pod}, "volume": volume,
                         "backupStorageLocation": "default", "repoIdentifier": "r"},
                "status": {"phase": "Completed", "snapshotID": "s"},
            }))
            .unwrap()
        };
        FsVolumes::from_backups(
            &[pvb("web", "data"), pvb("web", "gone"), pvb("db", "data")],
            |ns| ns.to_owned(),
        )
    }

    fn pod(name: &str, inits: Value, security: Value) -> Value {
        json!({
            "metadata": {"namespace": "app", "name": name},
            "spec": {
                "initContainers": inits,
                "containers": [{"name": "main", "securityContext": security}],
                "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
            }
        })
    }

    #[test]
    fn the_wait_container_goes_first_with_each_restored_volume_mounted() {
        let mut p = pod(
            "web",
            json!([{"name": "setup"}, {"name": "restore-wait", "image": "old"}]),
            Value::Null,
        );
        let waited = add(&mut p, &volumes(), "img:1", "uid-1");
        // `gone` is not a volume of the pod any more.
        assert_eq!(waited, vec!["data".to_owned()]);
        let inits = p["spec"]["initContainers"].as_array().unwrap();
        assert_eq!(inits.len(), 2, "{inits:?}");
        assert_eq!(inits[0]["name"], "restore-wait");
        assert_eq!(inits[0]["image"], "img:1");
        assert_eq!(inits[0]["args"], json!(["restore-helper", "uid-1"]));
        assert_eq!(
            inits[0]["volumeMounts"],
            json!([{"name": "data", "mountPath": "/restores/data"}])
        );
        assert_eq!(inits[0]["securityContext"]["runAsUser"], 65532);
        assert_eq!(inits[1]["name"], "setup");
    }

    #[test]
    fn the_first_container_s_security_context_is_kept_and_other_pods_are_untouched() {
        let mut p = pod("db", Value::Null, json!({"runAsUser": 1000}));
        add(&mut p, &volumes(), "img", "u");
        assert_eq!(
            p["spec"]["initContainers"][0]["securityContext"],
            json!({"runAsUser": 1000})
        );
        let mut other = pod("cache", json!([{"name": "setup"}]), Value::Null);
        let before = other.clone();
        assert!(add(&mut other, &volumes(), "img", "u").is_empty());
        assert_eq!(other, before);
    }
}
