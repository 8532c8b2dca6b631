//! HTTP routing: authentication, request logging, and dispatch to discovery, OpenAPI and the
//! resource handlers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::ResourceInfo;
use super::status::ApiError;
use super::{App, KUBE_VERSION, crud, discovery, openapi};

/// One API request, decoded.
pub struct Req {
    pub method: Method,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub user: String,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1"))
    }
    pub fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
    pub fn dry_run(&self) -> bool {
        self.q("dryRun") == Some("All")
    }
}

/// The resource a request addresses.
pub struct Target {
    pub info: ResourceInfo,
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

pub fn json_response(code: u16, v: &Value) -> Response {
    let code = axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK);
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = match bearer {
        Some(t) if t == app.token => "admin",
        _ => "system:anonymous",
    };
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let req = Req {
        method: method.clone(),
        query,
        headers,
        body,
        user: user.into(),
    };
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let public = matches!(
        segs.as_slice(),
        ["version"] | ["healthz"] | ["livez"] | ["readyz"]
    );
    let resp = if user == "system:anonymous" && !public {
        ApiError::new(401, "Unauthorized", "Unauthorized").into_response()
    } else {
        route(&app, &req, &segs)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    };
    let code = resp.status().as_u16();
    let q = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    eprintln!("kube-standin: {method} {path}{q} user={user} agent={agent:?} -> {code}");
    if !path.starts_with("/debug/") {
        let rec = json!({"method": method.as_str(), "path": path, "query": uri.query().unwrap_or_default(),
                         "user": user, "userAgent": agent, "code": code});
        app.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec);
    }
    resp
}

async fn route(app: &Arc<App>, req: &Req, segs: &[&str]) -> Result<Response, ApiError> {
    let get = req.method == Method::GET;
    match segs {
        ["version"] => Ok(json_response(200, &version())),
        ["healthz" | "livez" | "readyz"] => Ok("ok".into_response()),
        ["debug", "requests"] if get => {
            let log = app
                .requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            Ok(json_response(200, &Value::Array(log)))
        }
        ["debug", "requests"] if req.method == Method::DELETE => {
            app.requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            Ok(json_response(200, &json!({})))
        }
        ["debug", "compact"] if req.method == Method::POST => {
            app.store().compact();
            Ok(json_response(200, &json!({})))
        }
        ["api"] if get => Ok(json_response(200, &discovery::api_versions())),
        ["apis"] if get => Ok(json_response(
            200,
            &discovery::group_list(&app.store().registry),
        )),
        ["api", "v1"] if get => discovery::resource_list(&app.store().registry, "", "v1")
            .map(|v| json_response(200, &v)),
        ["apis", g] if get => {
            discovery::group(&app.store().registry, g).map(|v| json_response(200, &v))
        }
        ["apis", g, v] if get => {
            discovery::resource_list(&app.store().registry, g, v).map(|v| json_response(200, &v))
        }
        ["openapi", "v3"] if get => Ok(json_response(200, &openapi::root(&app.store().registry))),
        ["openapi", "v3", rest @ ..] if get => {
            openapi::group_version(&app.store().registry, &rest.join("/"))
                .map(|v| json_response(200, &v))
        }
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "services",
            svc,
            "proxy",
            rest @ ..,
        ] => super::proxy::forward(app, req, ns, svc, rest).await,
        ["api", "v1", rest @ ..] => resource(app, req, "", "v1", rest).await,
        ["apis", g, v, rest @ ..] => resource(app, req, g, v, rest).await,
        _ => Err(ApiError::page_not_found()),
    }
}

fn version() -> Value {
    json!({"major": KUBE_VERSION.0, "minor": KUBE_VERSION.1, "gitVersion": KUBE_VERSION.2,
           "gitCommit": "kube-standin", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
           "goVersion": "n/a", "compiler": "rustc", "platform": "linux/amd64"})
}

async fn resource(
    app: &Arc<App>,
    req: &Req,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let target = {
        let store = app.store();
        parse_target(&store.registry, group, version, rest)?
    };
    crud::dispatch(app, req, target).await
}

/// Resolves `[namespaces/NS/]PLURAL[/NAME[/SUB]]` under a group version.
pub fn parse_target(
    reg: &super::resources::Registry,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !(group.is_empty() && matches!(*plural, "status" | "finalize")) =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return Err(ApiError::page_not_found()),
    };
    let info = reg
        .find(group, version, plural)
        .ok_or_else(ApiError::page_not_found)?
        .clone();
    if namespace.is_some() && !info.namespaced {
        return Err(ApiError::page_not_found());
    }
    if info.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::page_not_found());
    }
    match sub.as_deref() {
        None => {}
        Some("status") if info.has_status(version) => {}
        Some("finalize") if info.plural == "namespaces" => {}
        Some(_) => return Err(ApiError::page_not_found()),
    }
    Ok(Target {
        info,
        version: version.into(),
        namespace,
        name,
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::super::resources::Registry;
    use super::*;

    #[test]
    fn parses_resource_paths() {
        let reg = Registry::with_builtins();
        let t = parse_target(&reg, "", "v1", &["namespaces", "velero", "secrets", "s"]).unwrap();
        assert_eq!(
            (t.namespace.as_deref(), t.name.as_deref()),
            (Some("velero"), Some("s"))
        );
        let t = parse_target(&reg, "", "v1", &["namespaces", "velero", "status"]).unwrap();
        assert_eq!(
            (t.info.plural.as_str(), t.sub.as_deref()),
            ("namespaces", Some("status"))
        );
        let t = parse_target(&reg, "", "v1", &["secrets"]).unwrap();
        assert!(t.namespace.is_none() && t.name.is_none());
        assert!(parse_target(&reg, "", "v1", &["secrets", "x"]).is_err());
        assert!(parse_target(&reg, "", "v1", &["namespaces", "x", "namespaces"]).is_err());
        assert!(parse_target(&reg, "", "v1", &["configmaps"]).is_ok());
        assert!(
            parse_target(
                &reg,
                "apps",
                "v1",
                &["namespaces", "d", "deployments", "x", "status"]
            )
            .is_ok()
        );
        assert!(
            parse_target(
                &reg,
                "",
                "v1",
                &["namespaces", "d", "secrets", "x", "status"]
            )
            .is_err()
        );
    }
}
