//! Watches: replay from a resourceVersion (410 Gone when the history no longer reaches back that
//! far), synthetic ADDED events for "any"/unset versions and for `sendInitialEvents` (closed by a
//! bookmark annotated `k8s.io/initial-events-end`), periodic bookmarks, and `timeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::App;
use super::crud::at_version;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Req, Target};
use super::status::ApiError;
use super::store::{Event, EventType};

const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Filter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, o: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n))
            && self.labels.matches(o)
            && self.fields.matches(o)
    }

    /// The event a watcher with this filter sees for a change, if any: an object entering the
    /// selection is ADDED to it, one leaving it is DELETED from it.
    fn view(&self, e: &Event) -> Option<(&'static str, Value)> {
        let now = self.matches(&e.object);
        let before = e.old.as_ref().is_some_and(|o| self.matches(o));
        match e.kind {
            EventType::Added if now => Some(("ADDED", e.object.clone())),
            EventType::Deleted if now => Some(("DELETED", e.object.clone())),
            EventType::Modified if now && before => Some(("MODIFIED", e.object.clone())),
            EventType::Modified if now => Some(("ADDED", e.object.clone())),
            EventType::Modified if before => Some(("DELETED", e.object.clone())),
            _ => None,
        }
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(t: &Target, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": t.info.kind, "apiVersion": t.info.api_version(&t.version), "metadata": meta})
}

pub fn serve(app: &Arc<App>, req: &Req, t: Target) -> Result<Response, ApiError> {
    let mut fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or_default())?;
    if let Some(name) = &t.name {
        fields = FieldSelector::parse(&format!("metadata.name={name}"))?;
    }
    let filter = Filter {
        namespace: t.namespace.clone(),
        labels: LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?,
        fields,
    };
    let bookmarks = req.flag("allowWatchBookmarks");
    let send_initial = req.flag("sendInitialEvents");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let rv_param = req.q("resourceVersion").filter(|s| !s.is_empty());

    let mut first: Vec<Bytes> = vec![];
    let (rx, mut last) = {
        let store = app.store();
        let rx = store.subscribe();
        let current = store.current_rv();
        let from = match rv_param {
            _ if send_initial => None,
            None | Some("0") => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
            ),
        };
        match from {
            None => {
                for o in store.all(&t.info.key()).filter(|o| filter.matches(o)) {
                    first.push(line("ADDED", &at_version(&t.info, &t.version, o)));
                }
                if send_initial {
                    first.push(line("BOOKMARK", &bookmark(&t, current, true)));
                }
            }
            Some(rv) if rv < store.compacted_rv() => {
                let status = ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    store.compacted_rv() + 1
                ));
                first.push(line("ERROR", &status.to_status()));
                let body = Body::from_stream(futures::stream::iter(
                    first.into_iter().map(Ok::<_, std::io::Error>),
                ));
                return Ok(streaming(body));
            }
            Some(rv) => {
                for e in store.since(&t.info.key(), rv) {
                    if let Some((kind, obj)) = filter.view(&e) {
                        first.push(line(kind, &at_version(&t.info, &t.version, &obj)));
                    }
                }
            }
        }
        (rx, current)
    };

    let key = t.info.key();
    let start = last;
    let mark = bookmark(&t, 0, false);
    let on_event = move |e: &Event| {
        if e.key != key || e.rv <= last {
            return None;
        }
        last = e.rv;
        filter
            .view(e)
            .map(|(kind, obj)| line(kind, &at_version(&t.info, &t.version, &obj)))
    };
    let on_bookmark = move |rv: u64| {
        let mut b = mark.clone();
        b["metadata"]["resourceVersion"] = json!(rv.to_string());
        line("BOOKMARK", &b)
    };
    let every = bookmarks.then_some(BOOKMARK_EVERY);
    Ok(streaming(Body::from_stream(event_stream(
        first,
        rx,
        start,
        on_event,
        every,
        timeout,
        on_bookmark,
    ))))
}

fn streaming(body: Body) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(body)
        .expect("valid response")
}

/// The event stream: the initial lines, then live events until the timeout; a broadcast lag ends
/// the watch (the client re-watches from its last resourceVersion, which the history covers).
fn event_stream(
    first: Vec<Bytes>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    start_rv: u64,
    mut on_event: impl FnMut(&Event) -> Option<Bytes> + Send + 'static,
    bookmark_every: Option<Duration>,
    timeout: Duration,
    mut on_bookmark: impl FnMut(u64) -> Bytes + Send + 'static,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, out) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(bookmark_every.unwrap_or(Duration::from_secs(3600)));
        tick.tick().await;
        let mut last_rv = start_rv;
        loop {
            let next = tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmark_every.is_some() => Some(on_bookmark(last_rv)),
                ev = rx.recv() => match ev {
                    Ok(e) => { last_rv = last_rv.max(e.rv); on_event(&e) }
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            };
            if let Some(b) = next
                && tx.send(b).await.is_err()
            {
                return;
            }
        }
    });
    futures::stream::unfold(out, |mut out| async move {
        out.recv().await.map(|b| (Ok(b), out))
    })
}
