//! Velero's hook types: `spec.hooks` of a Backup (pre/post exec hooks) and of a Restore
//! (init-container and exec hooks), and the `hookStatus` both report. Shapes and names follow
//! Velero v1.18 (`pkg/apis/velero/v1/backup_types.go`, `restore_types.go`) so manifests apply
//! unchanged; what veloxide does with them is in `crate::hooks` and `docs/hooks.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// A Backup's hooks.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupHooks {
    /// Hooks run on the pods of the backup that each entry's filters select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub resources: Option<Vec<BackupResourceHookSpec>>,
}

/// One named set of backup hooks and the pods it applies to.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupResourceHookSpec {
    /// The hook's name, in the log, the results and `backup describe --details`.
    pub name: String,
    /// Namespaces the hooks apply in (empty: all; `*` wildcards allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_namespaces: Option<Vec<String>>,
    /// Resources the hooks apply to (empty: all); exec hooks only ever run on pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub label_selector: Option<LabelSelector>,
    /// Run before the pod (and its volumes) is backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<Vec<BackupResourceHook>>,
    /// Run after the pod (and its volumes) is backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<Vec<BackupResourceHook>>,
}

/// One backup hook.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupResourceHook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecHook>,
}

/// A command run in a container of the pod through the API server's `pods/exec`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecHook {
    /// The container (default: the pod's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The command and its arguments; not run in a shell.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// `Fail` (the default) or `Continue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<HookErrorMode>,
    /// How long the command may run (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
}

/// What a failed hook does to the backup or restore.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HookErrorMode {
    /// The failure is a warning; the run goes on.
    Continue,
    /// The failure is an error (the run ends PartiallyFailed); for a pre hook, the pod is not
    /// backed up.
    Fail,
}

impl HookErrorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HookErrorMode::Continue => "Continue",
            HookErrorMode::Fail => "Fail",
        }
    }
}

/// A Restore's hooks.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreHooks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub resources: Option<Vec<RestoreResourceHookSpec>>,
}

/// One named set of restore hooks and the restored pods it applies to.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResourceHookSpec {
    pub name: String,
    /// Namespaces (as restored, after `namespaceMapping`) the hooks apply in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub included_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub excluded_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub label_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_hooks: Option<Vec<RestoreResourceHook>>,
}

/// One restore hook: an exec once the pod runs, or init containers added to it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResourceHook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecRestoreHook>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitRestoreHook>,
}

/// A command run in a restored pod's container once it runs (or is ready, when asked).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecRestoreHook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<HookErrorMode>,
    /// How long the command may run (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_timeout: Option<GoDuration>,
    /// How long to wait for the container to run (or be ready); unset or 0: as long as the
    /// restore's item operation timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_timeout: Option<GoDuration>,
    /// Wait for the container to be Ready rather than Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub wait_for_ready: Option<bool>,
}

/// Init containers put in front of a restored pod's own.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitRestoreHook {
    /// Containers as in a pod spec (each needs a name, an image and a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "object", "x-kubernetes-preserve-unknown-fields": true}))]
    pub init_containers: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
}

/// How many hooks ran and how many failed (Velero's `status.hookStatus`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks_attempted: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks_failed: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_backup_hooks_round_trip() {
        let hooks = serde_json::json!({"resources": [{
            "name": "freeze", "includedNamespaces": ["db"], "excludedResources": ["secrets"],
            "labelSelector": {"matchLabels": {"app": "pg"}},
            "pre": [{"exec": {"container": "pg", "command": ["/bin/sync"], "onError": "Fail", "timeout": "1m"}}],
            "post": [{"exec": {"command": ["/bin/true"]}}],
        }]});
        let typed: BackupHooks = serde_json::from_value(hooks.clone()).unwrap();
        let r = &typed.resources.as_ref().unwrap()[0];
        let pre = r.pre.as_ref().unwrap()[0].exec.as_ref().unwrap();
        assert_eq!(pre.on_error, Some(HookErrorMode::Fail));
        assert_eq!(serde_json::to_value(&typed).unwrap(), hooks);
    }

    #[test]
    fn velero_restore_hooks_round_trip() {
        let hooks = serde_json::json!({"resources": [{
            "name": "migrate", "includedNamespaces": ["db"],
            "postHooks": [
                {"init": {"initContainers": [{"name": "prep", "image": "busybox", "command": ["true"],
                                              "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                          "timeout": "2m"}},
                {"exec": {"container": "pg", "command": ["/bin/sh", "-c", "echo hi"], "onError": "Continue",
                          "execTimeout": "30s", "waitTimeout": "5m", "waitForReady": true}},
            ],
        }]});
        let typed: RestoreHooks = serde_json::from_value(hooks.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), hooks);
    }

    #[test]
    fn an_unknown_on_error_is_refused() {
        let bad = serde_json::json!({"command": ["x"], "onError": "Ignore"});
        assert!(serde_json::from_value::<ExecHook>(bad).is_err());
    }
}
