//! The service proxy, `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`, as far
//! as tests need it: GET only, forwarded to the Service's `clusterIP` and the port's numeric
//! `targetPort` (the stand-in has no pods or endpoints, so a test gives its Service
//! `clusterIP: 127.0.0.1` and the local port as `targetPort`). `https:` backends are not
//! verified, as the real API server does not verify them either. Bodies are buffered.

use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::App;
use super::server::Req;
use super::status::ApiError;

/// Where a service-proxy request goes: `http(s)://HOST:PORT`.
pub fn backend(service: &Value, spec: &str) -> Result<String, String> {
    let (scheme, rest) = match spec.split_once(':') {
        Some((s @ ("http" | "https"), rest)) => (s, rest),
        _ => ("http", spec),
    };
    let port_spec = rest.split_once(':').map(|(_, p)| p);
    let host = service
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .ok_or("the service has no clusterIP")?;
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| match port_spec {
            None | Some("") => true,
            Some(want) => {
                p.get("name").and_then(Value::as_str) == Some(want)
                    || p.get("port")
                        .and_then(Value::as_i64)
                        .map(|n| n.to_string())
                        .as_deref()
                        == Some(want)
            }
        })
        .ok_or("no such port on the service")?;
    let number = port
        .get("targetPort")
        .and_then(Value::as_i64)
        .or_else(|| port.get("port").and_then(Value::as_i64))
        .ok_or("the port has no number")?;
    Ok(format!("{scheme}://{host}:{number}"))
}

pub async fn forward(
    app: &App,
    req: &Req,
    namespace: &str,
    spec: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    if req.method != axum::http::Method::GET {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the stand-in's service proxy only forwards GET",
        ));
    }
    let name = spec
        .trim_start_matches("https:")
        .trim_start_matches("http:");
    let name = name.split(':').next().unwrap_or_default();
    let service = app
        .store()
        .get("/services", namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::new(404, "NotFound", format!("services \"{name}\" not found")))?;
    let base = backend(&service, spec).map_err(|e| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{name}\": {e}"),
        )
    })?;
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(req.query.iter())
        .finish();
    let url = format!(
        "{base}/{}{}",
        rest.join("/"),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    );
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    let reply = client.get(&url).send().await.map_err(|e| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("error trying to reach service: {e}"),
        )
    })?;
    let code = reply.status();
    let content_type = reply
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let body = reply
        .bytes()
        .await
        .map_err(|e| ApiError::new(503, "ServiceUnavailable", e.to_string()))?;
    Ok((code, [("content-type", content_type)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backends_by_port_name_or_number() {
        let svc = json!({"spec": {"clusterIP": "127.0.0.1", "ports": [
            {"name": "metrics", "port": 8085, "targetPort": 41000},
            {"name": "webhook", "port": 443, "targetPort": "webhook"}]}});
        assert_eq!(
            backend(&svc, "veloxide:metrics").unwrap(),
            "http://127.0.0.1:41000"
        );
        assert_eq!(
            backend(&svc, "http:veloxide:8085").unwrap(),
            "http://127.0.0.1:41000"
        );
        assert_eq!(
            backend(&svc, "https:veloxide:443").unwrap(),
            "https://127.0.0.1:443"
        );
        assert_eq!(backend(&svc, "veloxide").unwrap(), "http://127.0.0.1:41000");
        assert!(backend(&svc, "veloxide:nope").is_err());
        assert!(backend(&json!({"spec": {"clusterIP": "None"}}), "x").is_err());
    }
}
