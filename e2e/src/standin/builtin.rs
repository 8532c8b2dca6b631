//! Built-in kinds: decoding through k8s-openapi's typed structs catches wrong types as the real
//! server's decoder does, and comparing the typed round trip with the input finds unknown fields
//! for strict field validation. Per-kind server behaviour (Secret `stringData`, Namespace phase)
//! lives here too.

use base64::Engine;
use k8s_openapi::api;
use serde_json::{Map, Value};

type Decoded = Result<Value, serde_json::Error>;

fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Decoded {
    let t: T = serde_json::from_value(v.clone())?;
    serde_json::to_value(t)
}

/// Decodes and re-encodes a built-in object; `None` when the kind has no typed check.
fn round_trip(group: &str, kind: &str, v: &Value) -> Option<Decoded> {
    use api::{
        admissionregistration::v1 as adm, apps::v1 as apps, coordination::v1 as coord,
        core::v1 as core,
    };
    use api::{events::v1 as events, policy::v1 as policy, rbac::v1 as rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    Some(match (group, kind) {
        ("", "Namespace") => typed::<core::Namespace>(v),
        ("", "Secret") => typed::<core::Secret>(v),
        ("", "ConfigMap") => typed::<core::ConfigMap>(v),
        ("", "ServiceAccount") => typed::<core::ServiceAccount>(v),
        ("", "Service") => typed::<core::Service>(v),
        ("", "Event") => typed::<core::Event>(v),
        ("", "Pod") => typed::<core::Pod>(v),
        ("", "PersistentVolumeClaim") => typed::<core::PersistentVolumeClaim>(v),
        ("apps", "Deployment") => typed::<apps::Deployment>(v),
        ("apps", "DaemonSet") => typed::<apps::DaemonSet>(v),
        ("events.k8s.io", "Event") => typed::<events::Event>(v),
        ("rbac.authorization.k8s.io", "Role") => typed::<rbac::Role>(v),
        ("rbac.authorization.k8s.io", "RoleBinding") => typed::<rbac::RoleBinding>(v),
        ("rbac.authorization.k8s.io", "ClusterRole") => typed::<rbac::ClusterRole>(v),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => typed::<rbac::ClusterRoleBinding>(v),
        ("coordination.k8s.io", "Lease") => typed::<coord::Lease>(v),
        ("policy", "PodDisruptionBudget") => typed::<policy::PodDisruptionBudget>(v),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            typed::<adm::ValidatingWebhookConfiguration>(v)
        }
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            typed::<adm::MutatingWebhookConfiguration>(v)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            typed::<ext::CustomResourceDefinition>(v)
        }
        _ => return None,
    })
}

/// Checks a built-in object. `Err` is the decoder's message; `Ok` has the object as the typed
/// round trip left it (unknown fields dropped, as the real server's decoder drops them) and the
/// unknown fields' paths.
pub fn check(group: &str, kind: &str, v: &Value) -> Result<(Option<Value>, Vec<String>), String> {
    match round_trip(group, kind, v) {
        None => Ok((None, vec![])),
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(back)) => {
            let mut unknown = vec![];
            diff(v, &back, "", &mut unknown);
            Ok((Some(back), unknown))
        }
    }
}

fn diff(input: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (input, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    // A typed field set to its empty value can be dropped by the round trip.
                    None if !is_empty(v) => out.push(child),
                    None => {}
                    Some(bv) => diff(v, bv, &child, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// What the real server does to some kinds on every write.
pub fn normalize(group: &str, kind: &str, v: &mut Value) {
    match (group, kind) {
        ("", "Secret") => {
            // stringData is write-only: merged into data, base64-encoded.
            if let Some(Value::Object(sd)) = v.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                let data = v
                    .as_object_mut()
                    .expect("object")
                    .entry("data")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !data.is_object() {
                    *data = Value::Object(Map::new());
                }
                for (k, s) in sd {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(s.as_str().unwrap_or_default());
                    data[k.as_str()] = Value::String(enc);
                }
            }
            if v.get("type").is_none() {
                v["type"] = Value::String("Opaque".into());
            }
        }
        ("", "Namespace") => {
            if v["status"]["phase"].is_null() {
                v["status"] = serde_json::json!({"phase": "Active"});
            }
            if v["spec"]["finalizers"].is_null() {
                v["spec"] = serde_json::json!({"finalizers": ["kubernetes"]});
            }
        }
        ("", "Service") if v["spec"]["type"].is_null() => {
            v["spec"]["type"] = Value::String("ClusterIP".into());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_check_finds_unknown_fields_and_bad_types() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "bogus": 1},
                       "data": {"a": "YQ=="}, "extra": {"x": 1}, "immutable": null});
        let (back, mut unknown) = check("", "Secret", &s).unwrap();
        assert!(back.unwrap().get("extra").is_none());
        unknown.sort();
        assert_eq!(
            unknown,
            vec!["extra".to_string(), "metadata.bogus".to_string()]
        );
        let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}});
        assert!(check("", "ConfigMap", &bad).is_err());
    }

    #[test]
    fn string_data_is_folded_into_data() {
        let mut s = json!({"kind": "Secret", "stringData": {"k": "hello"}});
        normalize("", "Secret", &mut s);
        assert_eq!(
            s,
            json!({"kind": "Secret", "type": "Opaque", "data": {"k": "aGVsbG8="}})
        );
    }
}
