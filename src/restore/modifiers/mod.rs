//! Velero's resource modifiers (`internal/resourcemodifiers/`): rules in a ConfigMap that a
//! Restore names in `spec.resourceModifier`, each a set of conditions (namespaces, a
//! groupResource glob, a name regex, a label selector, `matches` on JSON pointers) and one
//! kind of patch (RFC 6902 JSON patches, RFC 7386 merge patches, or strategic merge patches),
//! applied to every item after the restore actions and before it is created.
//!
//! Parsed once, when the restore is validated: a ConfigMap that does not parse or breaks a rule
//! fails the restore's validation with the rule and the field named. Applying is a pure
//! function of the item ([`Modifiers::apply`]).

mod conditions;
mod patch;
mod strategic;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

pub use conditions::Conditions;
use patch::{JsonPatch, MergePatch, StrategicPatch};

/// The only version Velero 1.18 accepts (`ResourceModifierSupportedVersionV1`).
const VERSION: &str = "v1";

/// A ConfigMap's rules, checked.
#[derive(Clone, Debug)]
pub struct Modifiers {
    rules: Vec<Rule>,
}

/// Velero's `ResourceModifiers`, as the ConfigMap's one data value holds it (YAML or JSON,
/// unknown fields refused as Velero's `yaml.UnmarshalStrict` refuses them).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    version: String,
    #[serde(default)]
    resource_modifier_rules: Vec<RawRule>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    conditions: conditions::RawConditions,
    #[serde(default)]
    patches: Vec<patch::RawJsonPatch>,
    #[serde(default)]
    merge_patches: Vec<patch::RawPatchData>,
    #[serde(default)]
    strategic_patches: Vec<patch::RawPatchData>,
}

/// One rule: when it matches, what it does.
#[derive(Clone, Debug)]
struct Rule {
    conditions: Conditions,
    patch: Patches,
}

#[derive(Clone, Debug)]
enum Patches {
    Json(Vec<JsonPatch>),
    Merge(Vec<MergePatch>),
    Strategic(Vec<StrategicPatch>),
}

impl Modifiers {
    /// Parse and check the ConfigMap `name`'s data (Velero: exactly one key). Every problem
    /// is returned, each naming the rule and the field.
    pub fn from_config_map(
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<Modifiers, Vec<String>> {
        let at = format!("spec.resourceModifier: ConfigMap {name}");
        let mut values = data.values();
        let (Some(text), None) = (values.next(), values.next()) else {
            return Err(vec![format!(
                "{at}: holds {} data keys; it must hold exactly one, whose value is the rules \
                 (version and resourceModifierRules)",
                data.len()
            )]);
        };
        Modifiers::parse(text)
            .map_err(|errors| errors.into_iter().map(|e| format!("{at}: {e}")).collect())
    }

    /// Parse the rules' text (YAML or JSON).
    pub fn parse(text: &str) -> Result<Modifiers, Vec<String>> {
        // serde_norway's errors name the path (`resourceModifierRules[0].patches[1].value`).
        let document: Document = serde_norway::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        if !document.version.eq_ignore_ascii_case(VERSION) {
            errors.push(format!(
                "version: unsupported resource modifier version {:?}; use \"v1\"",
                document.version
            ));
        }
        if document.resource_modifier_rules.is_empty() {
            errors.push("resourceModifierRules: cannot be empty; give at least one rule".into());
        }
        let mut rules = Vec::new();
        for (i, raw) in document.resource_modifier_rules.into_iter().enumerate() {
            let at = format!("resourceModifierRules[{i}]");
            match Rule::check(raw, &at) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(Modifiers { rules })
        } else {
            Err(errors)
        }
    }

    /// Apply every rule whose conditions `object` (as backed up: `namespace` is the backup's)
    /// meets, in order; conditions are judged on the object as it was before any rule changed
    /// it, as Velero judges them. Returns the errors (an item error each, as in Velero).
    pub fn apply(
        &self,
        object: &mut Value,
        group_resource: &str,
        namespace: Option<&str>,
    ) -> Vec<String> {
        let origin = object.clone();
        let mut errors = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            match rule.conditions.matches(&origin, group_resource, namespace) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    errors.push(format!("resource modifier rule {i}: {e}"));
                    continue;
                }
            }
            let applied = match &rule.patch {
                Patches::Json(p) => patch::apply_json(object, p),
                Patches::Merge(p) => patch::apply_merge(object, p),
                Patches::Strategic(p) => strategic::apply(object, p),
            };
            if let Err(e) = applied {
                errors.push(format!(
                    "resource modifier rule {i}: error in applying patch {e}"
                ));
            }
        }
        errors
    }
}

impl Rule {
    fn check(raw: RawRule, at: &str) -> Result<Rule, Vec<String>> {
        let mut errors = Vec::new();
        let conditions = Conditions::check(raw.conditions, &format!("{at}.conditions"))
            .map_err(|e| errors.extend(e))
            .ok();
        let kinds = [
            !raw.patches.is_empty(),
            !raw.merge_patches.is_empty(),
            !raw.strategic_patches.is_empty(),
        ];
        let patch = match kinds.iter().filter(|k| **k).count() {
            0 => {
                errors.push(format!(
                    "{at}: no patch data found; give patches, mergePatches or strategicPatches"
                ));
                None
            }
            1 if kinds[0] => patch::check_json(raw.patches, at)
                .map(Patches::Json)
                .map_err(|e| errors.extend(e))
                .ok(),
            1 if kinds[1] => patch::check_data(raw.merge_patches, &format!("{at}.mergePatches"))
                .map(|p| Patches::Merge(p.into_iter().map(MergePatch).collect()))
                .map_err(|e| errors.extend(e))
                .ok(),
            1 => patch::check_data(raw.strategic_patches, &format!("{at}.strategicPatches"))
                .map(|p| Patches::Strategic(p.into_iter().map(StrategicPatch).collect()))
                .map_err(|e| errors.extend(e))
                .ok(),
            _ => {
                errors.push(format!(
                    "{at}: only one of patches, mergePatches, strategicPatches can be specified"
                ));
                None
            }
        };
        match (conditions, patch) {
            (Some(conditions), Some(patch)) if errors.is_empty() => Ok(Rule { conditions, patch }),
            _ => Err(errors),
        }
    }
}
