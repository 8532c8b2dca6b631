//! Creating one prepared object in the cluster, and what to do when it already exists.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde::Deserialize as _;
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
    /// Created, but its status could not be restored (`restoreStatus`): a warning, as in
    /// Velero.
    CreatedWithoutStatus(String),
    /// Dry run: the API server accepted a dry-run create.
    WouldCreate,
    /// Dry run: it exists, differs, and policy `update` would patch it (the dry-run patch was
    /// accepted).
    WouldUpdate,
    /// Dry run: the API server refused the dry-run request (who refused, and its message).
    Refused {
        by: Refuser,
        reason: String,
    },
}

/// Who refused a request, read from the API server's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refuser {
    /// The server's RBAC: its identity may not create (or update) this.
    Rbac,
    /// An admission webhook or ValidatingAdmissionPolicy denied it.
    Admission,
    /// The API server's own validation (the object is invalid).
    Validation,
}

impl Refuser {
    /// Who refused a request answered with `code` and `message`; `None` when it was not a
    /// refusal (a missing namespace, a server error).
    pub fn of(code: u16, message: &str) -> Option<Refuser> {
        if message.contains("admission webhook")
            || message.contains("ValidatingAdmissionPolicy")
            || message.contains("denied request")
            || message.contains("denied the request")
        {
            return Some(Refuser::Admission);
        }
        match code {
            403 => Some(Refuser::Rbac),
            422 => Some(Refuser::Validation),
            _ => None,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Refuser::Rbac => "RBAC",
            Refuser::Admission => "admission",
            Refuser::Validation => "validation",
        }
    }
}

/// How an object is applied.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode<'a> {
    /// Server-side dry run: nothing is changed.
    pub dry_run: bool,
    /// The status to restore through the status subresource once the object is created.
    pub status: Option<&'a Value>,
}

impl Applied {
    pub fn word(&self) -> &'static str {
        match self {
            Applied::Created | Applied::CreatedWithoutStatus(_) => "created",
            Applied::Updated => "updated",
            Applied::WouldCreate => "would be created",
            Applied::WouldUpdate => "would be updated",
            Applied::Refused { .. } => "refused",
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

/// Create `object` (already prepared); on AlreadyExists, compare and apply `policy`. In a dry
/// run every write is a server-side dry-run request, so RBAC and admission judge it and
/// nothing changes.
pub async fn apply(
    client: &kube::Client,
    resource: &ApiResource,
    object: &Value,
    policy: ExistingPolicy,
    mode: Mode<'_>,
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
    // From the borrowed value: no copy of the object per create.
    let dynamic = match DynamicObject::deserialize(object) {
        Ok(d) => d,
        Err(e) => return Applied::Failed(format!("cannot decode the item: {e}")),
    };
    let params = PostParams {
        field_manager: Some(crate::api::FIELD_MANAGER.into()),
        dry_run: mode.dry_run,
    };
    match api.create(&params, &dynamic).await {
        Ok(_) if mode.dry_run => return Applied::WouldCreate,
        Ok(created) => return with_status(&api, created, mode.status).await,
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(kube::Error::Api(e)) if mode.dry_run && Refuser::of(e.code, &e.message).is_some() => {
            let by = Refuser::of(e.code, &e.message).expect("checked above");
            return Applied::Refused {
                by,
                reason: format!("{} ({})", e.message, e.code),
            };
        }
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
                 Leases and bindings are left out unless named there), and only in the \
                 namespaces of rbac.restore.namespaces when that is set",
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
                dry_run: mode.dry_run,
                ..Default::default()
            };
            match api.patch(&name, &params, &Patch::Merge(&patch)).await {
                Ok(_) if mode.dry_run => Applied::WouldUpdate,
                Ok(_) => Applied::Updated,
                Err(kube::Error::Api(e))
                    if mode.dry_run && Refuser::of(e.code, &e.message).is_some() =>
                {
                    Applied::Refused {
                        by: Refuser::of(e.code, &e.message).expect("checked above"),
                        reason: format!("{} ({})", e.message, e.code),
                    }
                }
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

/// Restore `status` on the object just created, through the status subresource with the
/// created object's resourceVersion (Velero's `UpdateStatus`, retried on a conflict). A
/// failure leaves the object created and is a warning, as in Velero.
async fn with_status(
    api: &Api<DynamicObject>,
    created: DynamicObject,
    status: Option<&Value>,
) -> Applied {
    let Some(status) = status else {
        return Applied::Created;
    };
    let name = created.metadata.name.clone().unwrap_or_default();
    let mut current = created;
    for _ in 0..3 {
        let mut object = match serde_json::to_value(&current) {
            Ok(v) => v,
            Err(e) => return Applied::CreatedWithoutStatus(e.to_string()),
        };
        object["status"] = status.clone();
        let body: DynamicObject = match serde_json::from_value(object) {
            Ok(d) => d,
            Err(e) => return Applied::CreatedWithoutStatus(e.to_string()),
        };
        let params = PostParams {
            field_manager: Some(crate::api::FIELD_MANAGER.into()),
            dry_run: false,
        };
        match api.replace_status(&name, &params, &body).await {
            Ok(_) => return Applied::Created,
            Err(kube::Error::Api(e)) if e.code == 409 => match api.get(&name).await {
                Ok(fresh) => current = fresh,
                Err(e) => return Applied::CreatedWithoutStatus(describe(&e)),
            },
            Err(kube::Error::Api(e)) if e.code == 403 => {
                return Applied::CreatedWithoutStatus(format!(
                    "{} ({}); restoring status needs update on the status subresource: add \
                     the resource to the chart's rbac.restore.status",
                    e.message, e.code
                ));
            }
            Err(e) => return Applied::CreatedWithoutStatus(describe(&e)),
        }
    }
    Applied::CreatedWithoutStatus("the object kept changing (three conflicts)".into())
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
    fn refusals_are_told_apart() {
        let cases = [
            (
                403,
                "configmaps is forbidden: User \"system:serviceaccount:velero:veloxide\" cannot create resource",
                Some(Refuser::Rbac),
            ),
            (
                422,
                "configmaps \"x\" is forbidden: ValidatingAdmissionPolicy 'no-bad' with binding 'b' denied request: bad",
                Some(Refuser::Admission),
            ),
            (
                400,
                "admission webhook \"w.example.com\" denied the request: no",
                Some(Refuser::Admission),
            ),
            (
                422,
                "ConfigMap \"x\" is invalid: metadata.name: Invalid value",
                Some(Refuser::Validation),
            ),
            (404, "namespaces \"gone\" not found", None),
            (500, "etcdserver: request timed out", None),
        ];
        for (code, message, want) in cases {
            assert_eq!(Refuser::of(code, message), want, "{message}");
        }
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
