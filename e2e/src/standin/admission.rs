//! Validating admission webhooks, called as the real server calls them: for each matching webhook
//! of each ValidatingWebhookConfiguration, an AdmissionReview v1 POSTed to `clientConfig.url` or to
//! the service (mapped to a local address by `--webhook-endpoint`), with TLS verified against
//! `clientConfig.caBundle` and the service's DNS name. Mutating webhooks are stored, not called.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::App;
use super::selectors::LabelSelector;
use super::server::{Req, Target};
use super::status::ApiError;

/// One operation to review.
pub struct Review<'a> {
    op: &'static str,
    t: &'a Target,
    name: String,
    object: Option<Value>,
    old: Option<Value>,
    user: String,
    dry_run: bool,
}

impl<'a> Review<'a> {
    pub fn new(
        op: &'static str,
        t: &'a Target,
        name: &str,
        object: Option<&Value>,
        old: Option<&Value>,
        req: &Req,
    ) -> Self {
        Review {
            op,
            t,
            name: name.to_string(),
            object: object.cloned(),
            old: old.cloned(),
            user: req.user.clone(),
            dry_run: req.dry_run(),
        }
    }
}

fn listed(list: &Value, want: &str) -> bool {
    list.as_array()
        .into_iter()
        .flatten()
        .any(|x| x == "*" || x == want)
}

/// Whether a webhook's `rules` cover this operation.
fn rules_match(wh: &Value, r: &Review) -> bool {
    let info = &r.t.info;
    let res = match &r.t.sub {
        Some(s) => format!("{}/{s}", info.plural),
        None => info.plural.clone(),
    };
    wh["rules"].as_array().into_iter().flatten().any(|rule| {
        let scope_ok = match rule["scope"].as_str().unwrap_or("*") {
            "Namespaced" => info.namespaced,
            "Cluster" => !info.namespaced,
            _ => true,
        };
        let res_ok = rule["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|p| {
                p == res
                    || p == "*/*"
                    || (p == "*" && r.t.sub.is_none())
                    || p.strip_suffix("/*") == Some(info.plural.as_str())
                    || (p.strip_prefix("*/").is_some()
                        && p.strip_prefix("*/") == r.t.sub.as_deref())
            });
        scope_ok
            && res_ok
            && listed(&rule["operations"], r.op)
            && listed(&rule["apiGroups"], &info.group)
            && listed(&rule["apiVersions"], &r.t.version)
    })
}

fn selectors_match(wh: &Value, r: &Review, ns_labels: Option<&Value>) -> bool {
    let obj_ok = wh.get("objectSelector").is_none_or(|sel| {
        let s = LabelSelector::from_object(sel);
        [&r.object, &r.old]
            .into_iter()
            .flatten()
            .any(|o| s.matches(o))
    });
    let ns_ok = match (wh.get("namespaceSelector"), ns_labels) {
        (Some(sel), Some(ns)) => LabelSelector::from_object(sel).matches(ns),
        _ => true,
    };
    obj_ok && ns_ok
}

fn review_body(r: &Review, uid: &str) -> Value {
    let info = &r.t.info;
    let kind = json!({"group": info.group, "version": r.t.version, "kind": info.kind});
    let resource = json!({"group": info.group, "version": r.t.version, "resource": info.plural});
    let options = match r.op {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    let mut req = json!({
        "uid": uid, "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
        "name": r.name, "operation": r.op,
        "userInfo": {"username": r.user, "groups": ["system:masters", "system:authenticated"]},
        "object": r.object, "oldObject": r.old, "dryRun": r.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options},
    });
    if let Some(ns) = &r.t.namespace {
        req["namespace"] = json!(ns);
    }
    if let Some(s) = &r.t.sub {
        req["subResource"] = json!(s);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
}

/// Runs every matching validating webhook; returns their warnings, or the first denial.
pub async fn validate(app: &Arc<App>, r: Review<'_>) -> Result<Vec<String>, ApiError> {
    if r.t.info.group == "admissionregistration.k8s.io" {
        return Ok(vec![]);
    }
    let (configs, ns_labels) = {
        let store = app.store();
        let configs: Vec<Value> = store
            .all("admissionregistration.k8s.io/validatingwebhookconfigurations")
            .cloned()
            .collect();
        let ns = match (&r.t.namespace, r.t.info.plural.as_str()) {
            (Some(ns), _) => store.get("/namespaces", "", ns).cloned(),
            (None, "namespaces") => r.object.clone().or(r.old.clone()),
            _ => None,
        };
        (configs, ns.map(|n| n["metadata"]["labels"].clone()))
    };
    let mut warnings = vec![];
    for wh in configs
        .iter()
        .flat_map(|c| c["webhooks"].as_array().cloned().unwrap_or_default())
    {
        if !rules_match(&wh, &r) || !selectors_match(&wh, &r, ns_labels.as_ref()) {
            continue;
        }
        let name = wh["name"].as_str().unwrap_or_default().to_string();
        match call(app, &wh, &r).await {
            Ok(resp) => {
                warnings.extend(
                    resp["warnings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| w.as_str().map(String::from)),
                );
                if resp["allowed"] != true {
                    return Err(denial(&name, &resp["status"]));
                }
            }
            Err(e) if wh["failurePolicy"] == "Ignore" => {
                eprintln!("kube-standin: webhook {name:?} failed, ignored by failurePolicy: {e}");
            }
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "failed calling webhook \"{name}\": {e}"
                )));
            }
        }
    }
    Ok(warnings)
}

/// The error the real server returns for a denial (`webhookerrors.ToStatusErr`).
fn denial(name: &str, status: &Value) -> ApiError {
    let code = status["code"].as_u64().filter(|c| *c >= 400).unwrap_or(400) as u16;
    let reason = match status["reason"].as_str().unwrap_or_default() {
        "Forbidden" => "Forbidden",
        "Invalid" => "Invalid",
        "Conflict" => "Conflict",
        "NotFound" => "NotFound",
        "" => "",
        _ => "BadRequest",
    };
    let by = format!("admission webhook \"{name}\" denied the request");
    let message = match (status["message"].as_str(), status["reason"].as_str()) {
        (Some(m), _) if !m.is_empty() => format!("{by}: {m}"),
        (_, Some(r)) if !r.is_empty() => format!("{by}: {r}"),
        _ => format!("{by} without explanation"),
    };
    ApiError::new(code, reason, message)
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("failed to call webhook: {0}")]
    Http(#[from] reqwest::Error),
    #[error("failed to call webhook: {0}")]
    Config(String),
    #[error("received invalid webhook response: {0}")]
    Response(String),
}

async fn call(app: &App, wh: &Value, r: &Review<'_>) -> Result<Value, CallError> {
    let cc = &wh["clientConfig"];
    let timeout = Duration::from_secs(wh["timeoutSeconds"].as_u64().unwrap_or(10));
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(b64) = cc["caBundle"].as_str().filter(|s| !s.is_empty()) {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| CallError::Config(format!("caBundle: {e}")))?;
        builder = builder.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem)?);
    }
    let url = if let Some(u) = cc["url"].as_str() {
        u.to_string()
    } else {
        let svc = &cc["service"];
        let (ns, name) = (
            svc["namespace"].as_str().unwrap_or_default(),
            svc["name"].as_str().unwrap_or_default(),
        );
        let key = format!("{ns}/{name}");
        let target = app.webhook_endpoints.get(&key).ok_or_else(|| {
            CallError::Config(format!(
                "service \"{key}\" has no endpoint: pass --webhook-endpoint {key}=HOST:PORT"
            ))
        })?;
        let addr = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| CallError::Config(format!("{target}: {e}")))?
            .next()
            .ok_or_else(|| CallError::Config(format!("{target}: no address")))?;
        let host = format!("{name}.{ns}.svc");
        builder = builder.resolve(&host, addr);
        format!(
            "https://{host}:{}{}",
            addr.port(),
            svc["path"].as_str().unwrap_or("/")
        )
    };
    let uid = super::tls::uuid();
    let resp = builder
        .build()?
        .post(&url)
        .json(&review_body(r, &uid))
        .send()
        .await?;
    let code = resp.status();
    if !code.is_success() {
        return Err(CallError::Response(format!(
            "expected 200 from {url}, got {code}"
        )));
    }
    let body: Value = resp.json().await?;
    let out = body["response"].clone();
    if out["uid"] != uid.as_str() {
        return Err(CallError::Response(format!(
            "expected response.uid={uid:?}, got {:?}",
            out["uid"]
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_read_like_the_real_server() {
        let e = denial(
            "vbsl.velero.io",
            &json!({"message": "use caCertRef", "code": 403, "reason": "Forbidden"}),
        );
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert_eq!(
            e.message,
            "admission webhook \"vbsl.velero.io\" denied the request: use caCertRef"
        );
        let e = denial("w", &json!({}));
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "admission webhook \"w\" denied the request without explanation"
        );
    }
}
