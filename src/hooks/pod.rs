//! Decisions about the pod a hook runs in, from the pod object alone.

use k8s_openapi::api::core::v1::Pod;

/// The container a hook runs in: the one named (a container, or a sidecar: an init container
/// with `restartPolicy: Always`), else the pod's first, as Velero's `podexec` picks it.
pub fn container(pod: &Pod, wanted: Option<&str>) -> Result<String, String> {
    let spec = pod.spec.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let Some(wanted) = wanted else {
        return containers
            .first()
            .map(|c| c.name.clone())
            .ok_or_else(|| "the pod has no container".to_owned());
    };
    let sidecar = spec
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.name == wanted && c.restart_policy.as_deref() == Some("Always"));
    if containers.iter().any(|c| c.name == wanted) || sidecar {
        Ok(wanted.to_owned())
    } else {
        Err(format!("no such container: {wanted:?}"))
    }
}

/// The phase of a pod that has finished (`Succeeded`, `Failed`): Velero runs no hook in one.
pub fn finished(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .filter(|p| matches!(*p, "Succeeded" | "Failed"))
}

/// `namespace/name`.
pub fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn container_choice() {
        let p = pod(serde_json::json!({"spec": {
            "containers": [{"name": "app"}, {"name": "db"}],
            "initContainers": [{"name": "side", "restartPolicy": "Always"}, {"name": "setup"}],
        }}));
        for (wanted, want) in [
            (None, Ok("app")),
            (Some("db"), Ok("db")),
            (Some("side"), Ok("side")),
            (Some("setup"), Err("no such container: \"setup\"")),
            (Some("nope"), Err("no such container: \"nope\"")),
        ] {
            assert_eq!(
                container(&p, wanted),
                want.map(str::to_owned).map_err(str::to_owned)
            );
        }
        assert!(container(&pod(serde_json::json!({})), None).is_err());
    }

    #[test]
    fn finished_pods() {
        for (phase, want) in [
            ("Running", None),
            ("Succeeded", Some("Succeeded")),
            ("Failed", Some("Failed")),
        ] {
            let p = pod(serde_json::json!({"status": {"phase": phase}}));
            assert_eq!(finished(&p), want);
        }
    }
}
