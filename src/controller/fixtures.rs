//! A mocked API server for reconcile tests: each expected request is checked (method, path,
//! body) and answered, in order, with a timeout so a missing request fails fast.

use axum::http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::Value;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// What the test expects the reconcile to send, and what to answer.
pub struct Expect {
    pub method: &'static str,
    pub path: &'static str,
    /// Checked against the request body.
    pub body: fn(&Value),
    /// The answer; `None` echoes the request body (as a create or patch would).
    pub reply: Option<Value>,
}

/// A client whose requests go to the returned verifier.
pub fn mock_client() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "velero"), handle)
}

/// Serve `expected` in order, then fail if anything more arrives within a short while.
pub async fn serve(mut handle: Handle, expected: Vec<Expect>) {
    for expect in expected {
        let (request, send) =
            tokio::time::timeout(std::time::Duration::from_secs(1), handle.next_request())
                .await
                .unwrap_or_else(|_| panic!("no {} {} within 1s", expect.method, expect.path))
                .expect("the client is still there");
        assert_eq!(
            request.method().as_str(),
            expect.method,
            "{}",
            request.uri()
        );
        assert_eq!(request.uri().path(), expect.path);
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (expect.body)(&body);
        let reply = expect.reply.unwrap_or(body);
        // A `Status` reply carries its own HTTP code (a 409 Conflict, a 422 Invalid).
        let code = match reply.get("kind").and_then(Value::as_str) {
            Some("Status") => reply["code"].as_u64().unwrap_or(200) as u16,
            _ => 200,
        };
        send.send_response(
            Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap(),
        );
    }
    if let Ok(Some((request, _))) =
        tokio::time::timeout(std::time::Duration::from_millis(200), handle.next_request()).await
    {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}
