//! Creating one prepared object in the cluster, and what to do when it already exists.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::prepare::{update_patch, view};

/// `existingResourcePolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExistingPolicy {
    /// Leave existing objects alone; warn when they differ from the backup.
    None,
    /// Make existing objects match the backup.
    Update,
}

impl ExistingPolicy {
    pub fn parse(value: Option<&str>) -> Result<ExistingPolicy, String> {
        match value.unwrap_or("") {
            "" | "none" => Ok(ExistingPolicy::None),
            "update" => Ok(ExistingPolicy::Update),
            other => Err(format!(
                "spec.existingResourcePolicy: invalid existing resource policy {other:?}; use \
                 \"none\" or \"update\""
            )),
        }
    }
}

/// What happened to one item; the word is Velero's, as its restore resource list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    /// Already there and equal to the backup.
    Unchanged,
    /// Already there, different, and left alone (policy `none`): a warning.
    ExistsDifferent,
    /// Could not be restored: an error.
    Failed(String),
    /// Left out by a restore action (the reason); a warning when `warn`.
    Skipped {
        reason: String,
        warn: bool,
    },
}

impl Applied {
    pub fn word(&self) -> &'static str {
        match self {
            Applied::Created => "created",
            Applied::Updated => "updated",
            Applied::Unchanged | Applied::ExistsDifferent | Applied::Skipped { .. } => "skipped",
            Applied::Failed(_) => "failed",
        }
    }
}

/// The API resource of an object, from its `apiVersion`, `kind` and the archive's
/// group-resource (which names the plural).
pub fn api_resource(object: &Value, group_resource: &str) -> Result<ApiResource, String> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or("the item has no apiVersion")?;
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("the item has no kind")?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let (plural, path_group) = group_resource
        .split_once('.')
        .unwrap_or((group_resource, ""));
    // The filters judged the path's group-resource; the object must be of that group.
    if group != path_group {
        return Err(format!(
            "refused: its apiVersion {api_version:?} is not in the group of its path in the \
             archive ({group_resource}); nothing was created"
        ));
    }
    Ok(ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    })
}

/// Create `object` (already prepared); on AlreadyExists, compare and apply `policy`.
pub async fn apply(
    client: &kube::Client,
    resource: &ApiResource,
    object: &Value,
    policy: ExistingPolicy,
) -> Applied {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api: Api<DynamicObject> = match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    };
    let dynamic: DynamicObject = match serde_json::from_value(object.clone()) {
        Ok(d) => d,
        Err(e) => return Applied::Failed(format!("cannot decode the item: {e}")),
    };
    let params = PostParams {
        field_manager: Some(crate::api::FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, &dynamic).await {
        Ok(_) => return Applied::Created,
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {
            return Applied::Failed(format!(
                "the cluster does not serve {} {} (or its namespace is missing): {}",
                resource.api_version, resource.plural, e.message
            ));
        }
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Applied::Failed(format!(
                "{} ({}); the server's restore identity creates only what the chart's \
                 rbac.restore.resources names (webhook configurations, admission policies, \
                 Leases and bindings are left out unless named there)",
                e.message, e.code
            ));
        }
        Err(e) => return Applied::Failed(describe(&e)),
    }
    let existing = match api.get(&name).await {
        Ok(o) => serde_json::to_value(o).unwrap_or_default(),
        Err(e) => return Applied::Failed(format!("exists, but cannot be read: {}", describe(&e))),
    };
    if view(&existing) == view(object) {
        return Applied::Unchanged;
    }
    match policy {
        ExistingPolicy::None => Applied::ExistsDifferent,
        ExistingPolicy::Update => {
            let Some(patch) = update_patch(&existing, object) else {
                return Applied::Unchanged;
            };
            let params = PatchParams {
                field_manager: Some(crate::api::FIELD_MANAGER.into()),
                ..Default::default()
            };
            match api.patch(&name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => Applied::Updated,
                Err(kube::Error::Api(e)) if e.code == 403 => Applied::Failed(format!(
                    "could not be updated: {} ({}); existingResourcePolicy \"update\" needs the \
                     chart's rbac.restore.existingResourcePolicyUpdate=true (and, for a \
                     Namespace, rbac.restore.updateNamespaces=true)",
                    e.message, e.code
                )),
                Err(e) => Applied::Failed(format!("could not be updated: {}", describe(&e))),
            }
        }
    }
}

fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_come_from_api_version_and_the_archive_path() {
        let r = api_resource(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
            "deployments.apps",
        )
        .unwrap();
        assert_eq!(
            (r.group.as_str(), r.version.as_str(), r.plural.as_str()),
            ("apps", "v1", "deployments")
        );
        let core = api_resource(&json!({"apiVersion": "v1", "kind": "Secret"}), "secrets").unwrap();
        assert_eq!((core.group.as_str(), core.plural.as_str()), ("", "secrets"));
        assert!(api_resource(&json!({"kind": "Secret"}), "secrets").is_err());
        // A ClusterRoleBinding filed under configmaps.
        let err = api_resource(
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"}),
            "configmaps",
        )
        .unwrap_err();
        assert!(err.contains("not in the group of its path"), "{err}");
    }

    #[test]
    fn policies_parse_with_velero_s_values() {
        assert_eq!(ExistingPolicy::parse(None), Ok(ExistingPolicy::None));
        assert_eq!(
            ExistingPolicy::parse(Some("update")),
            Ok(ExistingPolicy::Update)
        );
        assert!(ExistingPolicy::parse(Some("replace")).is_err());
    }
}
