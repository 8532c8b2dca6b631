//! What the server does to every object on a write: checks its kind, namespace, name and content,
//! and keeps the metadata it owns (uid, creationTimestamp, generation, deletion fields).

use serde_json::{Value, json};

use super::resources::ResourceInfo;
use super::status::{ApiError, FieldError};
use super::{builtin, schema};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

/// The current time as the API writes timestamps.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Checks and normalizes an object sent for `info` at `version`; returns warnings for the client.
/// `name` is the name in the URL (updates); `generated` allows `generateName` (creates).
pub fn shape(
    info: &ResourceInfo,
    version: &str,
    ns: Option<&str>,
    name: Option<&str>,
    obj: &mut Value,
    fv: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request was not a JSON object",
        ));
    };
    let want_av = info.api_version(version);
    match map.get("apiVersion").and_then(Value::as_str) {
        None => {
            map.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None => {
            map.insert("kind".into(), json!(info.kind));
        }
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
        _ => {}
    }
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    if info.namespaced {
        let want = ns.unwrap_or_default();
        match meta["namespace"].as_str() {
            None | Some("") => meta["namespace"] = json!(want),
            Some(n) if n != want => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {}
        }
    } else if let Some(m) = meta.as_object_mut() {
        m.remove("namespace");
    }
    // As the real server does, an object without a name (e.g. a server-side apply body that
    // leaves it out) takes the name from the URL.
    if let Some(url_name) = name
        && meta["name"].as_str().unwrap_or_default().is_empty()
        && let Some(m) = meta.as_object_mut()
    {
        m.insert("name".into(), json!(url_name));
    }
    if let Some(url_name) = name
        && meta["name"].as_str() != Some(url_name)
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({url_name})",
            meta["name"].as_str().unwrap_or_default()
        )));
    }
    let shown = meta["name"].as_str().unwrap_or_default().to_string();
    if let Some(n) = meta["name"].as_str()
        && !valid_name(n)
    {
        let e = FieldError::invalid(
            "metadata.name",
            &json!(n),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        );
        return Err(ApiError::invalid(info, n, &[e]));
    }
    if !info.builtin
        && let Err(e) = serde_json::from_value::<
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        >(meta.clone())
    {
        return Err(decode_error(info, version, &e.to_string()));
    }

    let unknown = if info.builtin {
        let (back, unknown) = builtin::check(&info.group, &info.kind, obj)
            .map_err(|e| decode_error(info, version, &e))?;
        if let Some(back) = back {
            *obj = back;
        }
        builtin::normalize(&info.group, &info.kind, obj);
        unknown
    } else if let Some(s) = info.version(version).and_then(|v| v.schema.as_ref()) {
        let out = schema::apply(s, obj);
        if !out.errors.is_empty() {
            return Err(ApiError::invalid(info, &shown, &out.errors));
        }
        out.unknown
    } else {
        vec![]
    };
    match fv {
        FieldValidation::Strict if !unknown.is_empty() => {
            let list: Vec<String> = unknown
                .iter()
                .map(|u| format!("unknown field \"{u}\""))
                .collect();
            Err(decode_error(
                info,
                version,
                &format!("strict decoding error: {}", list.join(", ")),
            ))
        }
        FieldValidation::Warn => Ok(unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect()),
        _ => Ok(vec![]),
    }
}

fn decode_error(info: &ResourceInfo, version: &str, e: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{} in version \"{version}\" cannot be handled as a {}: {e}",
        info.kind, info.kind
    ))
}

/// Fills the metadata of a new object.
pub fn stamp_create(info: &ResourceInfo, version: &str, obj: &mut Value, now: &str) {
    let meta = obj["metadata"].as_object_mut().expect("shaped");
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(k);
    }
    meta.insert("uid".into(), json!(super::tls::uuid()));
    meta.insert("creationTimestamp".into(), json!(now));
    if info.has_generation {
        meta.insert("generation".into(), json!(1));
    }
    if info.has_status(version) && !info.builtin {
        obj.as_object_mut().expect("object").remove("status");
    }
}

/// Everything but metadata (and status, when status is a subresource): what bumps generation.
fn spec_view(info: &ResourceInfo, version: &str, v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        if info.has_status(version) {
            m.remove("status");
        }
    }
    c
}

/// Keeps what a client may not change on update. `status_write` is a write to `/status`.
pub fn carry_over(
    info: &ResourceInfo,
    version: &str,
    old: &Value,
    new: &mut Value,
    status_write: bool,
) {
    if status_write {
        // A write to /status changes status only.
        let status = new.get("status").cloned();
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                new.as_object_mut().expect("object").remove("status");
            }
        }
        return;
    }
    if info.has_status(version) {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().expect("object").remove("status");
            }
        }
    }
    let (om, nm) = (
        &old["metadata"],
        new["metadata"].as_object_mut().expect("shaped"),
    );
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match om.get(k) {
            Some(v) => nm.insert(k.into(), v.clone()),
            None => nm.remove(k),
        };
    }
    if info.has_generation && spec_view(info, version, old) != spec_view(info, version, new) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        new["metadata"]["generation"] = json!(g);
    }
}

/// True when an object being deleted has lost its last finalizer.
pub fn ready_to_go(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
        && obj["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::super::resources::Registry;
    use super::*;

    #[test]
    fn generation_bumps_on_spec_changes_only() {
        let reg = Registry::with_builtins();
        let info = reg.find("apps", "v1", "deployments").unwrap();
        let mut old = json!({"metadata": {"name": "d", "uid": "u", "generation": 3}, "spec": {"replicas": 1}, "status": {"a": 1}});
        let mut new = json!({"metadata": {"name": "d", "labels": {"x": "y"}}, "spec": {"replicas": 1}, "status": {"a": 2}});
        carry_over(info, "v1", &old, &mut new, false);
        assert_eq!(new["metadata"]["generation"], 3);
        assert_eq!(new["metadata"]["uid"], "u");
        assert_eq!(new["status"]["a"], 1);
        old = new.clone();
        new["spec"]["replicas"] = json!(2);
        carry_over(info, "v1", &old, &mut new, false);
        assert_eq!(new["metadata"]["generation"], 4);
    }

    #[test]
    fn shape_checks_names_and_namespaces() {
        let reg = Registry::with_builtins();
        let info = reg.find("", "v1", "configmaps").unwrap();
        let mut o = json!({"metadata": {"name": "Bad_Name"}});
        assert_eq!(
            shape(info, "v1", Some("d"), None, &mut o, FieldValidation::Strict)
                .unwrap_err()
                .code,
            422
        );
        let mut o = json!({"metadata": {"name": "c", "namespace": "other"}});
        assert_eq!(
            shape(info, "v1", Some("d"), None, &mut o, FieldValidation::Strict)
                .unwrap_err()
                .code,
            400
        );
        let mut o = json!({"metadata": {"name": "c"}, "data": {"a": "b"}, "junk": 1});
        let w = shape(info, "v1", Some("d"), None, &mut o, FieldValidation::Warn).unwrap();
        assert_eq!(w, vec!["unknown field \"junk\"".to_string()]);
        assert_eq!(o["metadata"]["namespace"], "d");
        assert!(o.get("junk").is_none());
    }
}
