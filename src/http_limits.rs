//! What a client may cost the servers every replica runs (the admission webhook, `/metrics`,
//! `/healthz`, `/readyz`, the download endpoint): a bounded time to send its headers, a bounded
//! time for the whole request, and a cap on open connections per listener. Without them a
//! few hundred connections that send half a request line, or a body trickled a byte a second,
//! hold sockets and tasks for as long as the client likes.
//!
//! The numbers are in docs/security.md.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A client must send its request line and headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A request (headers, body, and the handler's answer up to the response headers) must be done
/// within this. kube-apiserver waits at most 30 s for a webhook (10 s by default), so a longer
/// wait would serve nobody.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections per listener, TLS handshakes included; one more is closed at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Apply the header-read timeout and the first-request bound to an axum-server `server`.
pub fn configure<A, Acc>(mut server: axum_server::Server<A, Acc>) -> axum_server::Server<A, Acc>
where
    A: axum_server::Address,
{
    // axum-server installs a timer but turns hyper's header timeout off.
    server
        .http_builder()
        .http1()
        .header_read_timeout(Some(HEADER_READ_TIMEOUT));
    // Before the first request is dispatched, HTTP/2 and protocol detection have no timer.
    server.first_request_timeout(HEADER_READ_TIMEOUT)
}

/// `router` with every request bounded by [`REQUEST_TIMEOUT`]: a request still unanswered then
/// (most often a body that has not arrived) gets 408 and its connection is closed.
pub fn bounded(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(request_deadline))
}

async fn request_deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request was not complete within {}s\n",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
            .into_response(),
    }
}

/// An acceptor that admits at most `max` connections at once (counted from TCP accept, so a
/// stalled TLS handshake counts), closing any beyond, and then hands over to `inner`.
#[derive(Clone)]
pub struct Limited<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> Limited<A> {
    pub fn new(inner: A, max: usize) -> Self {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<I, S, A> Accept<I, S> for Limited<A>
where
    A: Accept<I, S> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Permitted<A::Stream>;
    type Service = A::Service;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let Ok(permit) = permit else {
                // Dropping `stream` closes the connection.
                return Err(io::Error::other("connection limit reached"));
            };
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((
                Permitted {
                    stream,
                    _permit: permit,
                },
                service,
            ))
        })
    }
}

/// A stream holding its connection's permit until it is dropped.
pub struct Permitted<T> {
    stream: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Permitted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Permitted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use axum_server::accept::DefaultAcceptor;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    #[tokio::test]
    async fn a_connection_beyond_the_cap_is_closed_and_a_freed_slot_is_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limited = Limited::new(DefaultAcceptor, 2);
        let mut held = Vec::new();
        let accept_one = async || {
            let _client = TcpStream::connect(addr).await.unwrap();
            let (server_side, _) = listener.accept().await.unwrap();
            limited.accept(server_side, ()).await.map(|(s, _)| s)
        };
        held.push(accept_one().await.expect("first admitted"));
        held.push(accept_one().await.expect("second admitted"));
        let third = accept_one().await;
        assert!(
            third
                .as_ref()
                .is_err_and(|e| e.to_string().contains("limit")),
            "the third connection must be refused"
        );
        held.pop();
        assert!(accept_one().await.is_ok(), "a freed slot admits again");
    }
}
