//! Just enough of Kubernetes' protobuf encoding to read what typed clients send. Since 1.32,
//! kubectl's `create` subcommands and Helm's release storage write Secrets, ConfigMaps and
//! Namespaces as `application/vnd.kubernetes.protobuf`, and client-go does not fall back to JSON.
//! Other kinds in protobuf get 415. Responses are always JSON, which those clients accept.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// A protobuf field: number and value (varint or length-delimited bytes).
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Every field of one message, in order; `None` if it is not valid protobuf.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut pos = 0;
    let mut out = vec![];
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(buf, &mut pos)?),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let bytes = buf.get(pos..pos.checked_add(len)?)?;
                pos += len;
                Field::Bytes(bytes)
            }
            1 => {
                pos += 8;
                continue;
            }
            5 => {
                pos += 4;
                continue;
            }
            _ => return None,
        };
        out.push((key >> 3, field));
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A `map<string, string>` (or `map<string, bytes>` as base64, as JSON carries bytes) entry.
fn map_entry(b: &[u8], as_bytes: bool) -> Option<(String, Value)> {
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = String::from_utf8_lossy(x).into_owned(),
            (2, Field::Bytes(x)) if as_bytes => {
                v = json!(base64::engine::general_purpose::STANDARD.encode(x))
            }
            (2, Field::Bytes(x)) => v = text(x),
            _ => {}
        }
    }
    Some((k, v))
}

fn time(b: &[u8]) -> Option<Value> {
    let secs = fields(b)?.into_iter().find_map(|(n, f)| match (n, f) {
        (1, Field::Varint(s)) => Some(s as i64),
        _ => None,
    })?;
    Some(json!(
        jiff::Timestamp::from_second(secs)
            .ok()?
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    ))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let mut maps: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut finalizers = vec![];
    for (n, f) in fields(b)? {
        let name = match n {
            1 => "name",
            2 => "generateName",
            3 => "namespace",
            5 => "uid",
            6 => "resourceVersion",
            _ => "",
        };
        match (n, f) {
            // gogo-protobuf writes empty strings too; JSON clients would have left them out.
            (1..=6, Field::Bytes(x)) if !name.is_empty() && !x.is_empty() => {
                m.insert(name.into(), text(x));
            }
            (7, Field::Varint(g)) if g > 0 => {
                m.insert("generation".into(), json!(g));
            }
            (11 | 12, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                maps.entry(if n == 11 { "labels" } else { "annotations" })
                    .or_default()
                    .insert(k, v);
            }
            (14, Field::Bytes(x)) => finalizers.push(text(x)),
            // A zero creationTimestamp is an empty message; the server sets its own anyway.
            (8, Field::Bytes(x)) => {
                if let Some(t) = time(x).filter(|t| t != "1970-01-01T00:00:00Z") {
                    m.insert("creationTimestamp".into(), t);
                }
            }
            _ => {}
        }
    }
    for (k, v) in maps {
        m.insert(k.into(), Value::Object(v));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Some(Value::Object(m))
}

/// The JSON form of a protobuf-encoded object of the kinds listed above.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let bad = || "the protobuf body could not be decoded".to_string();
    let env = body
        .strip_prefix(MAGIC)
        .ok_or("missing the k8s protobuf magic prefix")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(env).ok_or_else(bad)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm).ok_or_else(bad)? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => {
                            api_version = String::from_utf8_lossy(x).into_owned()
                        }
                        (2, Field::Bytes(x)) => kind = String::from_utf8_lossy(x).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let mut maps: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for (n, f) in fields(raw).ok_or_else(bad)? {
        let Field::Bytes(x) = f else {
            if let ((5, "Secret") | (4, "ConfigMap"), Field::Varint(v)) = ((n, kind.as_str()), f) {
                obj["immutable"] = json!(v != 0);
            }
            continue;
        };
        match (kind.as_str(), n) {
            (_, 1) => obj["metadata"] = object_meta(x).ok_or_else(bad)?,
            ("Secret", 2) | ("ConfigMap", 3) => {
                let (k, v) = map_entry(x, true).ok_or_else(bad)?;
                maps.entry(if kind == "Secret" {
                    "data"
                } else {
                    "binaryData"
                })
                .or_default()
                .insert(k, v);
            }
            ("Secret", 4) | ("ConfigMap", 2) => {
                let (k, v) = map_entry(x, false).ok_or_else(bad)?;
                maps.entry(if kind == "Secret" {
                    "stringData"
                } else {
                    "data"
                })
                .or_default()
                .insert(k, v);
            }
            ("Secret", 3) if !x.is_empty() => obj["type"] = text(x),
            ("Namespace", 2) => {
                let fin: Vec<Value> = fields(x)
                    .ok_or_else(bad)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(s)) => Some(text(s)),
                        _ => None,
                    })
                    .collect();
                obj["spec"] = json!({"finalizers": fin});
            }
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "Secret" | "ConfigMap" | "Namespace") {
        return Err(format!(
            "the stand-in reads protobuf for Secret, ConfigMap and Namespace only, not {kind}"
        ));
    }
    for (k, v) in maps {
        obj[k] = Value::Object(v);
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [field(1, k.as_bytes()), field(2, v)].concat()
    }

    #[test]
    fn decodes_a_secret_as_helm_sends_it() {
        let meta = [
            field(1, b"sh.helm.release.v1.x.v1"),
            field(3, b"apps"),
            field(11, &entry("owner", b"helm")),
        ]
        .concat();
        let secret = [
            field(1, &meta),
            field(2, &entry("release", b"\x00\x01")),
            field(3, b"helm.sh/release.v1"),
        ]
        .concat();
        let tm = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &secret)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "sh.helm.release.v1.x.v1", "namespace": "apps", "labels": {"owner": "helm"}})
        );
        assert_eq!(v["data"]["release"], "AAE=");
        assert_eq!(v["type"], "helm.sh/release.v1");
        assert_eq!(v["kind"], "Secret");
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let tm = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        assert!(decode(&[MAGIC.to_vec(), field(1, &tm)].concat()).is_err());
        assert!(decode(b"{}").is_err());
    }
}
