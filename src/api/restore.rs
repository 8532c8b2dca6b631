//! `Restore`: a request to bring a backup's resources back into the cluster, and what came of it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;
use super::hooks::{HookStatus, RestoreHooks};
use super::uploader::UploaderConfigForRestore;

/// Which backup to restore, what to take from it, and where to put it.
///
/// Fields veloxide does not act on (volumes, resource modifiers) are kept so Velero
/// manifests apply unchanged; `docs/restores.md` says which are honoured.
#[allow(clippy::duplicated_attributes)] // separate printcolumn(...) groups, see api::backup
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "Restore",
    doc = "A restore of a backup's resources into the cluster, read through the backup's location with its trust and encryption.",
    namespaced,
    status = "RestoreStatus",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "The restore's phase"
    ),
    printcolumn(
        name = "Backup",
        type_ = "string",
        json_path = ".spec.backupName",
        description = "The backup restored from"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// The backup to restore from.
    #[serde(default)]
    pub backup_name: String,
    /// Velero's "latest successful backup of this schedule"; used when `backupName` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_name: Option<String>,
    /// Namespaces (of the backup) to restore; `*` or empty means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_namespaces: Option<Vec<String>>,
    /// Resources to restore, as `configmaps`, `deployments.apps` or a kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_resources: Option<Vec<String>>,
    /// Whether cluster-scoped resources are restored: unset means only when every namespace is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub include_cluster_resources: Option<bool>,
    /// Backup namespace → namespace to restore into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_mapping: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub label_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub or_label_selectors: Option<Vec<LabelSelector>>,
    /// What to do with objects that already exist: `none` (leave them, warn when they differ)
    /// or `update` (make them match the backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub existing_resource_policy: Option<String>,
    /// Accepted for compatibility; veloxide restores resources, not volume data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub restore_p_vs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub preserve_node_ports: Option<bool>,
    /// Velero's `restoreStatus`: the resources whose `.status` is restored too, through the
    /// status subresource, after the object is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub restore_status: Option<RestoreStatusSpec>,
    /// Velero's restore hooks: init containers and exec hooks on restored pods (`docs/hooks.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<RestoreHooks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_operation_timeout: Option<GoDuration>,
    /// Velero's `resourceModifier`: a ConfigMap (kind `configmap`) in the restore's namespace
    /// holding resource modifier rules, applied to every item before it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub resource_modifier: Option<TypedLocalObjectReference>,
    /// How the file-system uploader writes pod volume files (veloxide carries it to each
    /// PodVolumeRestore but does not apply it: a restore setting it says so in a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub uploader_config: Option<UploaderConfigForRestore>,
    /// Velero's restore resource filter policies (a ConfigMap). Not applied by veloxide yet: a
    /// restore naming one fails validation rather than restoring what the policy leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub resource_policy: Option<k8s_openapi::api::core::v1::TypedLocalObjectReference>,
    /// veloxide extension (not in Velero's API): list per object what the restore would do
    /// (create, update, skip as existing, refused by RBAC or admission) with server-side
    /// dry-run requests, changing nothing in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub dry_run: Option<bool>,
}

/// Velero's `RestoreStatusSpec`: which resources get their `.status` restored.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatusSpec {
    /// Resources whose status is restored; `*` means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_resources: Option<Vec<String>>,
    /// Resources whose status is not restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_resources: Option<Vec<String>>,
}

/// Kubernetes' `TypedLocalObjectReference`, as Velero's `resourceModifier` uses it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypedLocalObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub api_group: Option<String>,
    pub kind: String,
    pub name: String,
}

/// Velero's restore phases.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RestorePhase {
    New,
    FailedValidation,
    InProgress,
    WaitingForPluginOperations,
    WaitingForPluginOperationsPartiallyFailed,
    Finalizing,
    FinalizingPartiallyFailed,
    Completed,
    PartiallyFailed,
    Failed,
}

impl RestorePhase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RestorePhase::FailedValidation
                | RestorePhase::Completed
                | RestorePhase::PartiallyFailed
                | RestorePhase::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RestorePhase::New => "New",
            RestorePhase::FailedValidation => "FailedValidation",
            RestorePhase::InProgress => "InProgress",
            RestorePhase::WaitingForPluginOperations => "WaitingForPluginOperations",
            RestorePhase::WaitingForPluginOperationsPartiallyFailed => {
                "WaitingForPluginOperationsPartiallyFailed"
            }
            RestorePhase::Finalizing => "Finalizing",
            RestorePhase::FinalizingPartiallyFailed => "FinalizingPartiallyFailed",
            RestorePhase::Completed => "Completed",
            RestorePhase::PartiallyFailed => "PartiallyFailed",
            RestorePhase::Failed => "Failed",
        }
    }
}

/// How far the restore has got.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_items: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_restored: Option<i64>,
}

/// What happened to the restore.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RestorePhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_errors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub start_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub completion_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub progress: Option<RestoreProgress>,
    /// How many hooks ran and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub hook_status: Option<HookStatus>,
    /// Velero's asynchronous restore item action operations (veloxide runs none and does not
    /// write these; a restore Velero wrote keeps them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_item_operations_attempted: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_item_operations_completed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_item_operations_failed: Option<i64>,
    /// veloxide extension: standard conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl Restore {
    /// The phase, `New` when none was written yet.
    pub fn phase(&self) -> RestorePhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(RestorePhase::New)
    }

    /// Velero's `schedule` metric label for restores: `spec.scheduleName`, or "".
    pub fn schedule(&self) -> &str {
        self.spec.schedule_name.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_manifests_round_trip() {
        let manifest = serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": "r1", "namespace": "velero"},
            "spec": {
                "backupName": "nightly", "includedNamespaces": ["app"],
                "namespaceMapping": {"app": "app-copy"}, "existingResourcePolicy": "update",
                "restorePVs": false, "labelSelector": {"matchLabels": {"tier": "web"}},
                "itemOperationTimeout": "4h0m0s",
            },
            "status": {"phase": "PartiallyFailed", "errors": 1, "warnings": 2,
                       "progress": {"totalItems": 10, "itemsRestored": 9}},
        });
        let restore: Restore = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(restore.phase(), RestorePhase::PartiallyFailed);
        assert_eq!(restore.spec.restore_p_vs, Some(false));
        assert_eq!(serde_json::to_value(&restore).unwrap(), manifest);
    }
}
