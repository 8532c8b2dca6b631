//! The patches a rule carries: RFC 6902 JSON patches (the `json-patch` crate) with Velero's
//! string values, and RFC 7386 merge patches (`json_patch::merge`).

use json_patch::{PatchErrorKind, PatchOperation};
use serde::Deserialize;
use serde_json::{Value, json};

/// Velero's `JSONPatch`: every field a string, `value` included.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJsonPatch {
    #[serde(default)]
    operation: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    value: String,
}

/// Velero's `JSONMergePatch` and `StrategicMergePatch`: a YAML or JSON document.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawPatchData {
    #[serde(default)]
    patch_data: String,
}

/// One checked JSON patch operation.
#[derive(Clone, Debug)]
pub(super) struct JsonPatch(PatchOperation);

/// One checked merge patch document.
#[derive(Clone, Debug)]
pub(super) struct MergePatch(pub Value);

/// One checked strategic merge patch document.
#[derive(Clone, Debug)]
pub(super) struct StrategicPatch(pub Value);

const OPERATIONS: [&str; 6] = ["add", "remove", "replace", "test", "move", "copy"];

/// Velero's reading of a patch's string `value` (`addQuotes`): `null`, `true`/`false` (any
/// case), numbers, and text starting with `{` or `[` are JSON; a value in double quotes is the
/// string inside them (how a rule sets the string "true" or "3"); anything else is a string.
pub(super) fn velero_value(text: &str) -> Value {
    if text.is_empty() {
        return Value::String(String::new());
    }
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        return Value::String(text[1..text.len() - 1].to_owned());
    }
    let lower = text.to_ascii_lowercase();
    if text == "null"
        || lower == "true"
        || lower == "false"
        || text.starts_with(['{', '['])
        || text.parse::<f64>().is_ok()
    {
        // Velero pastes the text into the patch as JSON; text that is not valid JSON fails
        // there, so the rule's check reports it (see `check_json`).
        return match lower.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => serde_json::from_str(text).unwrap_or(Value::Null),
        };
    }
    Value::String(text.to_owned())
}

/// Check a rule's JSON patches.
pub(super) fn check_json(raw: Vec<RawJsonPatch>, at: &str) -> Result<Vec<JsonPatch>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        let at = format!("{at}.patches[{i}]");
        let op = p.operation.to_ascii_lowercase();
        if p.operation.is_empty() {
            errors.push(format!(
                "{at}.operation: cannot be empty; use one of {OPERATIONS:?}"
            ));
            continue;
        }
        if !OPERATIONS.contains(&op.as_str()) {
            errors.push(format!(
                "{at}.operation: unsupported operation {:?}; use one of {OPERATIONS:?}",
                p.operation
            ));
            continue;
        }
        if p.path.is_empty() {
            errors.push(format!(
                "{at}.path: cannot be empty; give a JSON pointer such as /spec/replicas"
            ));
            continue;
        }
        let starts_as_json = p.value.starts_with(['{', '['])
            && !(p.value.starts_with('"') && p.value.ends_with('"'));
        if starts_as_json && serde_json::from_str::<Value>(&p.value).is_err() {
            errors.push(format!(
                "{at}.value: {:?} starts like JSON but does not parse as JSON; fix it, or put \
                 it in double quotes to mean the string",
                p.value
            ));
            continue;
        }
        let mut operation = json!({"op": op, "path": p.path});
        if matches!(op.as_str(), "add" | "replace" | "test") {
            operation["value"] = velero_value(&p.value);
        }
        if matches!(op.as_str(), "move" | "copy") {
            operation["from"] = Value::String(p.from.clone());
        }
        match serde_json::from_value::<PatchOperation>(operation) {
            Ok(o) => out.push(JsonPatch(o)),
            Err(e) => errors.push(format!("{at}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parse each `patchData` (YAML or JSON) into a JSON object.
pub(super) fn check_data(raw: Vec<RawPatchData>, at: &str) -> Result<Vec<Value>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        match serde_norway::from_str::<Value>(&p.patch_data) {
            Ok(v) if v.is_object() => out.push(v),
            Ok(_) => errors.push(format!(
                "{at}[{i}].patchData: must be a YAML or JSON object (the fields to set)"
            )),
            Err(e) => errors.push(format!("{at}[{i}].patchData: not YAML or JSON: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Apply a rule's JSON patches, all or nothing. A failed `test` leaves the object as it was
/// and is no error (Velero: the rule simply does not apply).
pub(super) fn apply_json(object: &mut Value, patches: &[JsonPatch]) -> Result<(), String> {
    let operations: Vec<PatchOperation> = patches.iter().map(|p| p.0.clone()).collect();
    match json_patch::patch(object, &operations) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.kind, PatchErrorKind::TestFailed) => Ok(()),
        Err(e) => Err(format!("JSON patch: {e}")),
    }
}

/// Apply a rule's merge patches in order.
pub(super) fn apply_merge(object: &mut Value, patches: &[MergePatch]) -> Result<(), String> {
    for p in patches {
        json_patch::merge(object, &p.0);
    }
    Ok(())
}
