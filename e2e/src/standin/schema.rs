//! CRD structural schemas: defaulting, pruning of unknown fields, and validation of types,
//! required fields, enums and simple bounds, as the real server applies them to custom resources.
//! Not done: CEL (`x-kubernetes-validations`), `pattern`, `format`, list-type uniqueness.

use serde_json::{Map, Value};

use super::status::{FieldError, FieldErrorKind, show};

/// What applying a schema to an object found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: Vec<FieldError>,
    /// Paths of fields the schema does not declare (already pruned from the object).
    pub unknown: Vec<String>,
}

/// Defaults, prunes and validates a whole custom resource against its version's schema.
pub fn apply(schema: &Value, object: &mut Value) -> Outcome {
    let mut out = Outcome::default();
    let Some(obj) = object.as_object_mut() else {
        out.errors
            .push(FieldError::invalid("", object, "must be an object"));
        return out;
    };
    // apiVersion, kind and metadata are the server's business, not the schema's.
    let mut rest: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut root = Value::Object(std::mem::take(&mut rest));
    let mut root_schema = schema.clone();
    if let Some(props) = root_schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    {
        for k in ["apiVersion", "kind", "metadata"] {
            props.remove(k);
        }
    }
    if let Some(req) = root_schema
        .get_mut("required")
        .and_then(Value::as_array_mut)
    {
        req.retain(|r| !matches!(r.as_str(), Some("apiVersion" | "kind" | "metadata")));
    }
    walk(&root_schema, &mut root, "", &mut out, true);
    obj.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata"));
    if let Value::Object(m) = root {
        obj.extend(m);
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_ok(ty: &str, v: &Value, int_or_string: bool) -> bool {
    if int_or_string {
        return v.is_string() || v.is_i64() || v.is_u64();
    }
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    }
}

/// Whether `v` satisfies `schema`, without changing it (for allOf/anyOf/oneOf/not).
fn satisfies(schema: &Value, v: &Value) -> bool {
    let mut copy = v.clone();
    let mut out = Outcome::default();
    walk(schema, &mut copy, "", &mut out, false);
    out.errors.is_empty()
}

fn walk(schema: &Value, v: &mut Value, path: &str, out: &mut Outcome, prune: bool) {
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    let shown = if path.is_empty() { "<root>" } else { path };
    if v.is_null() {
        if !flag("nullable") && schema.get("type").is_some() {
            out.errors.push(FieldError::invalid(
                path,
                v,
                format!(
                    "{shown} in body must be of type {}: \"null\"",
                    schema["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = flag("x-kubernetes-int-or-string");
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !type_ok(ty, v, int_or_string)
    {
        let got = type_name(v);
        out.errors.push(FieldError::invalid(
            path,
            &Value::String(got.into()),
            format!("{shown} in body must be of type {ty}: \"{got}\""),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        out.errors.push(FieldError {
            field: path.to_string(),
            kind: FieldErrorKind::NotSupported(show(v), allowed.iter().map(show).collect()),
        });
    }
    bounds(schema, v, path, out);
    for (key, want_all) in [("allOf", true), ("anyOf", false)] {
        if let Some(subs) = schema.get(key).and_then(Value::as_array) {
            let n = subs.iter().filter(|s| satisfies(s, v)).count();
            if (want_all && n != subs.len()) || (!want_all && n == 0) {
                out.errors.push(FieldError::invalid(
                    path,
                    v,
                    format!("{shown} in body must validate {key}"),
                ));
            }
        }
    }
    if let Some(subs) = schema.get("oneOf").and_then(Value::as_array)
        && subs.iter().filter(|s| satisfies(s, v)).count() != 1
    {
        out.errors.push(FieldError::invalid(
            path,
            v,
            format!("{shown} in body must validate one and only one schema (oneOf)"),
        ));
    }
    if let Some(not) = schema.get("not")
        && satisfies(not, v)
    {
        out.errors.push(FieldError::invalid(
            path,
            v,
            format!("{shown} in body should not validate the given schema"),
        ));
    }
    match v {
        Value::Object(map) => object(schema, map, path, out, prune),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), out, prune);
                }
            }
        }
        _ => {}
    }
}

fn object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    out: &mut Outcome,
    prune: bool,
) {
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let additional = schema.get("additionalProperties");
    if let Some(props) = props {
        for (k, s) in props {
            if let Some(d) = s.get("default")
                && !map.contains_key(k)
            {
                map.insert(k.clone(), d.clone());
            }
            // Nulls in non-nullable fields are dropped, as the real server prunes them.
            if map.get(k).is_some_and(Value::is_null)
                && !s.get("nullable").and_then(Value::as_bool).unwrap_or(false)
            {
                map.remove(k);
            }
        }
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let child = join(path, &k);
        let sub = props.and_then(|p| p.get(&k)).or(match additional {
            Some(Value::Object(_)) => additional,
            _ => None,
        });
        match sub {
            Some(s) => walk(s, map.get_mut(&k).expect("key listed"), &child, out, prune),
            None if preserve || matches!(additional, Some(Value::Bool(true))) => {}
            None if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
            None if props.is_none() && additional.is_none() && schema.get("type").is_none() => {}
            None if prune => {
                map.remove(&k);
                out.unknown.push(child);
            }
            None => {}
        }
    }
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str()
            && !map.contains_key(r)
        {
            out.errors.push(FieldError::required(join(path, r)));
        }
    }
}

fn bounds(schema: &Value, v: &Value, path: &str, out: &mut Outcome) {
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    let mut fail = |msg: String| {
        out.errors.push(FieldError::invalid(
            path,
            v,
            format!("{path} in body {msg}"),
        ))
    };
    if let Some(x) = v.as_f64() {
        if let Some(min) = num("minimum").filter(|m| x < *m) {
            fail(format!("should be greater than or equal to {min}"));
        }
        if let Some(max) = num("maximum").filter(|m| x > *m) {
            fail(format!("should be less than or equal to {max}"));
        }
    }
    let len = v
        .as_str()
        .map(|s| s.chars().count())
        .or_else(|| v.as_array().map(Vec::len));
    if let Some(len) = len {
        let (lo, hi) = if v.is_string() {
            ("minLength", "maxLength")
        } else {
            ("minItems", "maxItems")
        };
        if let Some(min) = num(lo).filter(|m| (len as f64) < *m) {
            fail(format!("should be at least {min} chars long"));
        }
        if let Some(max) = num(hi).filter(|m| (len as f64) > *m) {
            fail(format!("may not be longer than {max}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["provider"], "properties": {
                "provider": {"type": "string"},
                "accessMode": {"type": "string", "enum": ["ReadOnly", "ReadWrite"], "default": "ReadWrite"},
                "config": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "replicas": {"type": "integer", "minimum": 0},
            }},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        }})
    }

    #[test]
    fn defaults_prunes_and_keeps_preserved_fields() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "spec": {"provider": "aws", "bogus": 1, "config": {"a": "b"}, "free": {"any": {"thing": 1}}}, "extra": true});
        let out = apply(&schema(), &mut o);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(
            out.unknown,
            vec!["extra".to_string(), "spec.bogus".to_string()]
        );
        assert_eq!(o["spec"]["accessMode"], "ReadWrite");
        assert_eq!(o["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(o["metadata"]["name"], "a");
        assert!(o.get("extra").is_none());
    }

    #[test]
    fn reports_required_type_enum_and_bounds() {
        let mut o = json!({"spec": {"accessMode": "Foo", "replicas": "x", "config": {"a": 1}}});
        let errs: Vec<String> = apply(&schema(), &mut o)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errs.contains(&"spec.provider: Required value".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.accessMode: Unsupported value: \"Foo\"")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("spec.replicas in body must be of type integer")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("spec.config.a in body must be of type string")),
            "{errs:?}"
        );
        let mut o = json!({"spec": {"provider": "aws", "replicas": -1}});
        assert_eq!(apply(&schema(), &mut o).errors.len(), 1);
    }

    #[test]
    fn one_of_checks_alternatives() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}}});
        assert!(
            apply(&s, &mut json!({"spec": {"a": "x"}}))
                .errors
                .is_empty()
        );
        assert_eq!(
            apply(&s, &mut json!({"spec": {"a": "x", "b": "y"}}))
                .errors
                .len(),
            1
        );
    }
}
