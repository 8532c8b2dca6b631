//! A TLS-terminating proxy that records every request's headers on their way to moto, so
//! tests can assert what went over the wire. moto does not implement SSE-C (it stores
//! plaintext and confirms nothing), so the proxy can also stand in for a store's SSE-C
//! behaviour: enforce and confirm customer keys like S3 does, or refuse them outright. And it
//! injects faults a real store has on a bad day ([`Fault`]): an error status for chosen
//! requests, or requests held until several arrive together (writers racing at one instant).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum_server::tls_openssl::{OpenSSLAcceptor, OpenSSLConfig};

use super::{Issued, Moto};

const ALG: &str = "x-amz-server-side-encryption-customer-algorithm";
const KEY: &str = "x-amz-server-side-encryption-customer-key";
const MD5: &str = "x-amz-server-side-encryption-customer-key-md5";

/// What the proxy does about SSE-C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SseCMode {
    /// Forward as is (moto ignores the headers).
    PassThrough,
    /// Act like S3: remember the key MD5 an object was written with, refuse reads without the
    /// same key, and confirm the algorithm and MD5 in responses.
    Emulate,
    /// Act like a store without SSE-C: answer 501 NotImplemented to any request carrying it.
    Reject,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/bucket/key?uploadId=...&partNumber=1`.
    pub target: String,
    pub headers: HashMap<String, String>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What the recorder does to requests matching a rule, instead of forwarding them as they come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this HTTP status with an S3 error body (`503`: SlowDown, anything else:
    /// InternalError), without forwarding.
    Status(u16),
    /// Hold each matching request until this many have arrived (or 10 s passed), then forward
    /// them all at once.
    Together(usize),
    /// Answer nothing for this many seconds (the connection stays open, as a store that
    /// accepted a request and hangs), then 503: the client's own timeout should end it first.
    Hang(u64),
}

struct Rule {
    method: String,
    /// Each matched against the path and the decoded query (`prefix=backups/b/` for a listing).
    contains: Vec<String>,
    fault: Fault,
    barrier: Arc<tokio::sync::Barrier>,
}

struct Inner {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    client: reqwest::Client,
    mode: SseCMode,
    log: Mutex<Vec<Recorded>>,
    /// Object path → the key MD5 it was written with (Emulate mode).
    keys: Mutex<HashMap<String, String>>,
}

/// A running recorder, serving until dropped.
pub struct Recorder {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    handle: axum_server::Handle<SocketAddr>,
}

impl Recorder {
    /// In front of `moto`, with a server certificate for localhost from moto's CA.
    pub async fn in_front_of(moto: &Moto, mode: SseCMode) -> Recorder {
        let cert = moto.pki.server(&["localhost"], &["127.0.0.1"]);
        Recorder::start(&moto.url(), &moto.pki.ca, &cert, mode).await
    }

    /// Serve on a free loopback port with `cert`, forwarding to `upstream` (trusting `ca`).
    /// Must be called inside a tokio runtime.
    pub async fn start(upstream: &str, ca: &Issued, cert: &Issued, mode: SseCMode) -> Recorder {
        let root = reqwest::Certificate::from_pem(&ca.cert_pem()).expect("CA PEM");
        let client = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .expect("reqwest client");
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rules: Mutex::new(Vec::new()),
            client,
            mode,
            log: Mutex::new(Vec::new()),
            keys: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(inner.clone());
        let tls = OpenSSLConfig::from_pem(&cert.cert_pem(), &cert.key_pem()).expect("TLS config");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp(listener)
            .expect("listener")
            .acceptor(OpenSSLAcceptor::new(tls))
            .handle(handle.clone());
        tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        Recorder {
            addr,
            inner,
            handle,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.log.lock().expect("log lock").clone()
    }

    pub fn clear(&self) {
        self.inner.log.lock().expect("log lock").clear();
    }

    /// From now on, requests with `method` whose path and decoded query (`/bucket/key?k=v&...`)
    /// contain every one of `contains` get `fault`.
    pub fn inject(&self, method: &str, contains: &[&str], fault: Fault) {
        let parties = match fault {
            Fault::Together(n) => n.max(1),
            Fault::Status(_) | Fault::Hang(_) => 1,
        };
        self.inner.rules.lock().expect("rules lock").push(Rule {
            method: method.to_owned(),
            contains: contains.iter().map(|c| (*c).to_owned()).collect(),
            fault,
            barrier: Arc::new(tokio::sync::Barrier::new(parties)),
        });
    }

    /// Forward everything as it comes again.
    pub fn clear_faults(&self) {
        self.inner.rules.lock().expect("rules lock").clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .expect("response")
}

async fn forward(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let path = parts.uri.path().to_owned();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    inner.log.lock().expect("log lock").push(Recorded {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: headers.clone(),
    });
    let method = parts.method.as_str();
    let decoded = format!(
        "{path}?{}",
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let fault = inner
        .rules
        .lock()
        .expect("rules lock")
        .iter()
        .find(|r| r.method == method && r.contains.iter().all(|c| decoded.contains(c.as_str())))
        .map(|r| (r.fault, r.barrier.clone()));
    match fault {
        Some((Fault::Status(code), _)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let name = if code == 503 {
                "SlowDown"
            } else {
                "InternalError"
            };
            return error(status, name, "injected by the test's recorder");
        }
        Some((Fault::Hang(seconds), _)) => {
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "injected by the test's recorder after a hang",
            );
        }
        Some((Fault::Together(_), barrier)) => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), barrier.wait()).await;
        }
        None => {}
    }
    let md5 = headers.get(MD5).cloned();
    // An object read has no query, or only the `x-id=GetObject` the AWS SDKs add; anything
    // else (`?uploads`, `?list-type=2`, ...) is not a read of one object.
    let query = parts.uri.query().unwrap_or("");
    let object_read = (method == "GET" || method == "HEAD")
        && query
            .split('&')
            .all(|p| p.is_empty() || p.starts_with("x-id="));
    match inner.mode {
        SseCMode::Reject if headers.contains_key(ALG) || headers.contains_key(KEY) => {
            return error(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "Server side encryption with customer provided keys is not supported by this store",
            );
        }
        SseCMode::Emulate if object_read => {
            let stored = inner.keys.lock().expect("keys lock").get(&path).cloned();
            if let Some(stored) = stored {
                match &md5 {
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "InvalidRequest",
                            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                        );
                    }
                    Some(m) if *m != stored => {
                        return error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
                    }
                    Some(_) => {}
                }
            }
        }
        _ => {}
    }
    let body = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "body read failed",
            );
        }
    };
    let mut out = inner
        .client
        .request(parts.method.clone(), format!("{}{target}", inner.upstream));
    for (k, v) in parts.headers.iter() {
        if !matches!(
            k.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            out = out.header(k, v);
        }
    }
    let reply = match out.body(body).send().await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string()),
    };
    let status = reply.status();
    let mut response_headers = HeaderMap::new();
    for (k, v) in reply.headers() {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            response_headers.append(k.clone(), v.clone());
        }
    }
    if inner.mode == SseCMode::Emulate && status.is_success() {
        let writes_object = method == "PUT" && !target.contains("partNumber")
            || method == "POST" && target.contains("uploads");
        if writes_object {
            let mut keys = inner.keys.lock().expect("keys lock");
            match &md5 {
                Some(m) => keys.insert(path.clone(), m.clone()),
                None => keys.remove(&path),
            };
        }
        if method == "DELETE" && !target.contains('?') {
            inner.keys.lock().expect("keys lock").remove(&path);
        }
        let stored = inner.keys.lock().expect("keys lock").get(&path).cloned();
        if let (Some(m), true) = (stored, md5.is_some()) {
            response_headers.insert(
                HeaderName::from_static(ALG),
                HeaderValue::from_static("AES256"),
            );
            if let Ok(v) = HeaderValue::from_str(&m) {
                response_headers.insert(HeaderName::from_static(MD5), v);
            }
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    let mut response = Response::builder().status(status.as_u16());
    if let Some(h) = response.headers_mut() {
        *h = response_headers;
    }
    response.body(Body::from(bytes)).expect("response")
}
