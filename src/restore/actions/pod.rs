//! Pods (`pkg/restore/actions/pod_action.go`): a restored pod is scheduled afresh, so
//! `spec.nodeName` goes (the old cluster's node, or a node of this one the pod was never
//! meant for); `spec.priority` goes (the Priority admission plugin computes it from
//! `priorityClassName` and refuses a pod that names another value); and the volumes of the
//! service account's legacy token Secret (`<serviceAccountName>-token-*`) go with their mounts,
//! since that Secret is not restored (see `secret.rs`) and the API server mounts a fresh token.

use serde_json::Value;

use super::types::{Context, Stop, map_at, str_at};

pub fn restore(object: &mut Value, _: &Context<'_>) -> Result<(), Stop> {
    let token_prefix = format!(
        "{}-token-",
        str_at(object, &["spec", "serviceAccountName"]).unwrap_or_default()
    );
    let Some(spec) = map_at(object, &["spec"]) else {
        return Ok(());
    };
    spec.remove("nodeName");
    spec.remove("priority");
    let is_token = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with(&token_prefix))
    };
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes.retain(|v| !is_token(v));
    }
    for containers in ["containers", "initContainers"] {
        let Some(list) = spec.get_mut(containers).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in list {
            if let Some(mounts) = container
                .get_mut("volumeMounts")
                .and_then(Value::as_array_mut)
            {
                mounts.retain(|m| !is_token(m));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn node_priority_and_token_volumes_go_the_rest_stays() {
        let t = TestContext::new();
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "app"},
            "spec": {
                "nodeName": "ip-10-0-0-1", "priority": 1000, "priorityClassName": "high",
                "serviceAccountName": "web",
                "volumes": [
                    {"name": "web-token-x7k2p", "secret": {"secretName": "web-token-x7k2p"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "kube-api-access-abcde", "projected": {"sources": []}}],
                "initContainers": [{"name": "init", "image": "busybox", "volumeMounts": [
                    {"name": "web-token-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "containers": [{"name": "app", "image": "busybox", "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "web-token-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}});
        restore(&mut pod, &t.ctx()).unwrap();
        let spec = &pod["spec"];
        assert_eq!(spec.get("nodeName"), None);
        assert_eq!(spec.get("priority"), None);
        assert_eq!(spec["priorityClassName"], "high");
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_owned())
                .collect()
        };
        // The projected token volume is the API server's own for the pod's account: kept, as
        // Velero keeps it.
        assert_eq!(names(&spec["volumes"]), ["data", "kube-api-access-abcde"]);
        assert_eq!(names(&spec["containers"][0]["volumeMounts"]), ["data"]);
        assert!(names(&spec["initContainers"][0]["volumeMounts"]).is_empty());
        // A pod of the default account (no serviceAccountName): only "-token-" volumes match.
        let mut plain =
            json!({"spec": {"nodeName": "n", "volumes": [{"name": "default-token-a"}]}});
        restore(&mut plain, &t.ctx()).unwrap();
        assert_eq!(
            plain,
            json!({"spec": {"volumes": [{"name": "default-token-a"}]}})
        );
    }
}
