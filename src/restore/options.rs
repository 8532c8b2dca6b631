//! What a Restore asks for beyond its filters and existing-resource policy, read once when it
//! is validated: Velero's `restoreStatus`, `resourceModifier` and plugin ConfigMaps, the
//! server's restore priorities, and veloxide's dry run.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::modifiers::Modifiers;
use super::priorities::Priorities;
use crate::backup::Plan;

/// Velero's label on the ConfigMaps that configure its built-in plugins
/// (`velero.io/plugin-config`, with `<plugin name>: RestoreItemAction`).
pub const PLUGIN_CONFIG_LABEL: &str = "velero.io/plugin-config";
/// The change-storage-class plugin's name (its ConfigMap maps old class → new class).
pub const CHANGE_STORAGE_CLASS: &str = "velero.io/change-storage-class";
/// The change-image-name plugin's name (its ConfigMap's values are `old,new` rewrites).
pub const CHANGE_IMAGE_NAME: &str = "velero.io/change-image-name";
/// A per-object override of `restoreStatus` (`"true"` or `"false"`), Velero's annotation.
pub const RESTORE_STATUS_ANNOTATION: &str = "velero.io/restore-status";

/// The label selector Velero finds a plugin's ConfigMap by.
pub fn plugin_selector(plugin: &str) -> String {
    format!("{PLUGIN_CONFIG_LABEL},{plugin}=RestoreItemAction")
}

/// What a restore does besides choosing and creating items.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `spec.resourceModifier`'s rules.
    pub modifiers: Option<Modifiers>,
    /// `spec.restoreStatus` as a filter over resources (`None`: no status is restored).
    pub status: Option<Plan>,
    /// The change-storage-class and change-image-name ConfigMaps.
    pub plugins: PluginConfig,
    /// `--restore-resource-priorities`.
    pub priorities: Priorities,
    /// `spec.dryRun`: server-side dry-run requests only.
    pub dry_run: bool,
}

/// Velero's built-in plugin configuration, found by label in the server's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginConfig {
    /// Old storage class → new one.
    pub storage_classes: BTreeMap<String, String>,
    /// The new classes above that do not exist in the cluster: an item mapped to one fails,
    /// as in Velero (which checks each when it is used).
    pub missing_classes: BTreeSet<String>,
    /// The change-image-name ConfigMap's data: each value `old,new`, tried in key order.
    pub images: BTreeMap<String, String>,
    /// Why the change-storage-class configuration cannot be used: its items fail.
    pub storage_class_error: Option<String>,
    /// Why the change-image-name configuration cannot be used: its items fail.
    pub image_error: Option<String>,
}

/// Whether an item's status is restored: the spec's choice for its resource, unless the
/// object's [`RESTORE_STATUS_ANNOTATION`] says `true` or `false` (Velero's
/// `determineRestoreStatus`; another value is ignored).
pub fn restores_status(by_spec: bool, object: &Value) -> bool {
    let annotation = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RESTORE_STATUS_ANNOTATION))
        .and_then(Value::as_str)
        .map(|v| v.trim().to_ascii_lowercase());
    match annotation.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => by_spec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_annotation_overrides_the_spec() {
        let with = |v: &str| json!({"metadata": {"annotations": {RESTORE_STATUS_ANNOTATION: v}}});
        let cases = [
            (false, json!({"metadata": {}}), false),
            (true, json!({"metadata": {}}), true),
            (false, with("true"), true),
            (true, with(" False "), false),
            (true, with("maybe"), true),
            (false, with("maybe"), false),
        ];
        for (spec, object, want) in cases {
            assert_eq!(restores_status(spec, &object), want, "{spec} {object}");
        }
    }
}
