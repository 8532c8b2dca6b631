//! Reads (get, list with selectors and paging), dispatch of every resource request, and the
//! response helpers writes share.

use std::sync::Arc;

use axum::http::{HeaderValue, Method};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::resources::ResourceInfo;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Req, Target, json_response};
use super::status::ApiError;
use super::store::ident;
use super::{App, table, watch, write};

pub async fn dispatch(app: &Arc<App>, req: &Req, t: Target) -> Result<Response, ApiError> {
    let has_name = t.name.is_some();
    match req.method {
        Method::GET if req.flag("watch") => watch::serve(app, req, t),
        Method::GET if has_name => get(app, req, &t),
        Method::GET => list(app, req, &t),
        Method::POST if !has_name => write::create(app, req, &t).await,
        Method::PUT if has_name => write::update(app, req, &t).await,
        Method::PATCH if has_name => write::patch(app, req, &t).await,
        Method::DELETE if has_name => write::delete(app, req, &t).await,
        Method::DELETE => write::delete_collection(app, req, &t).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The object as served at `version` (versions share storage; only apiVersion differs).
pub fn at_version(info: &ResourceInfo, version: &str, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(info.api_version(version));
    o
}

/// A JSON response with `Warning: 299 - "..."` headers, which kubectl prints as `Warning: ...`.
pub fn respond(code: u16, body: &Value, warnings: &[String]) -> Response {
    let mut resp = json_response(code, body);
    for w in warnings {
        let text: String = w
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect::<String>()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

fn wants_table(req: &Req) -> bool {
    req.header("accept").contains("as=Table")
}

fn get(app: &Arc<App>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let name = t.name.as_deref().unwrap_or_default();
    let obj = {
        let store = app.store();
        store
            .get(
                &t.info.key(),
                t.namespace.as_deref().unwrap_or_default(),
                name,
            )
            .cloned()
    }
    .ok_or_else(|| ApiError::not_found(&t.info, name))?;
    let obj = at_version(&t.info, &t.version, &obj);
    if wants_table(req) {
        let rv = obj["metadata"]["resourceVersion"].clone();
        return Ok(json_response(
            200,
            &table::table(
                &t.info,
                &t.version,
                &[obj],
                json!({"resourceVersion": rv}),
                req.q("includeObject"),
            ),
        ));
    }
    Ok(json_response(200, &obj))
}

/// Objects of a type matching a request's namespace and selectors, in (namespace, name) order.
pub fn matching(app: &App, req: &Req, t: &Target) -> Result<(u64, Vec<Value>), ApiError> {
    let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or_default())?;
    let store = app.store();
    let items = store
        .all(&t.info.key())
        .filter(|o| {
            t.namespace.is_none() || o["metadata"]["namespace"].as_str() == t.namespace.as_deref()
        })
        .filter(|o| labels.matches(o) && fields.matches(o))
        .cloned()
        .collect();
    Ok((store.current_rv(), items))
}

fn list(app: &Arc<App>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or_default())?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let store = app.store();
    if let Some(fault) = list_fault(&store, &t.info) {
        return Err(fault);
    }
    let mut rv = store.current_rv();
    let mut after = None;
    if let Some(token) = req.q("continue").filter(|c| !c.is_empty()) {
        let bad = || ApiError::bad_request("continue key is not valid");
        let raw: Value =
            serde_json::from_slice(&b64.decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
        after = Some((
            raw["ns"].as_str().unwrap_or_default().to_string(),
            raw["name"].as_str().unwrap_or_default().to_string(),
        ));
        rv = raw["rv"].as_u64().ok_or_else(bad)?;
    }
    let limit = req
        .q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    // Resume after the continue key and clone only the page; the rest is only counted.
    let mut matches = store
        .after(&t.info.key(), after)
        .filter(|o| {
            t.namespace.is_none() || o["metadata"]["namespace"].as_str() == t.namespace.as_deref()
        })
        .filter(|o| labels.matches(o) && fields.matches(o));
    let items: Vec<Value> = matches.by_ref().take(limit).cloned().collect();
    let remaining = matches.count();
    drop(store);
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if remaining > 0 {
        let (ns, name) = ident(items.last().expect("a full page before the remainder"));
        meta["continue"] = json!(b64.encode(json!({"ns": ns, "name": name, "rv": rv}).to_string()));
        meta["remainingItemCount"] = json!(remaining);
    }
    let items: Vec<Value> = items
        .iter()
        .map(|o| at_version(&t.info, &t.version, o))
        .collect();
    if wants_table(req) {
        return Ok(json_response(
            200,
            &table::table(&t.info, &t.version, &items, meta, req.q("includeObject")),
        ));
    }
    Ok(json_response(
        200,
        &json!({"apiVersion": t.info.api_version(&t.version), "kind": format!("{}List", t.info.kind),
                "metadata": meta, "items": items}),
    ))
}

/// The annotation on a CustomResourceDefinition that makes every list of its resource fail
/// with 503, as lists of an aggregated API whose backing server is down fail on a real
/// cluster (`metrics.k8s.io` is the usual one). A test hook: it lets e2e tests see how the
/// operator handles a resource it discovered but cannot read.
pub const LIST_FAULT_ANNOTATION: &str = "standin.e2e.veloxide.dev/list-unavailable";

fn list_fault(store: &super::store::Store, info: &ResourceInfo) -> Option<ApiError> {
    if info.builtin {
        return None;
    }
    let crd = store.get(
        "apiextensions.k8s.io/customresourcedefinitions",
        "",
        &info.qualified_plural(),
    )?;
    crd["metadata"]["annotations"][LIST_FAULT_ANNOTATION]
        .as_str()
        .filter(|v| *v == "true")?;
    Some(ApiError::new(
        503,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_become_quoted_headers() {
        let r = respond(
            200,
            &json!({}),
            &["use \"caCertRef\"; caCert is deprecated".to_string()],
        );
        let w: Vec<_> = r
            .headers()
            .get_all("warning")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            w,
            vec![r#"299 - "use \"caCertRef\"; caCert is deprecated""#.to_string()]
        );
    }
}
