//! A store that stops sending (or receiving) in the middle of a transfer ends the transfer
//! instead of holding it forever. The SDK's read timeout covers only the wait for response
//! headers (smithy's hyper-0.14 adapter); once a body streams, nothing bounds a pause. Every
//! body read goes through [`IdleTimed`], every part upload through [`bounded`].

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a transfer may go without a byte before it is abandoned (`--store-stall-timeout`).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The message of a stall, for status and logs.
pub fn stall_message(what: &str, limit: Duration) -> String {
    format!(
        "{what}: the object store stalled (no data for {}s); the transfer was abandoned",
        limit.as_secs_f64()
    )
}

/// A body reader failing with `TimedOut` when `limit` passes without a byte.
pub struct IdleTimed<R> {
    inner: R,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    what: String,
}

impl<R> IdleTimed<R> {
    pub fn new(inner: R, limit: Duration, what: impl Into<String>) -> Self {
        IdleTimed {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            what: what.into(),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for IdleTimed<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let next = Instant::now() + this.limit;
                this.deadline.as_mut().reset(next);
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    stall_message(&this.what, this.limit),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// The time a part upload of `bytes` may take: `limit` plus the time to send it at 64 KiB/s
/// (a store slower than that is as good as stalled).
pub fn part_deadline(limit: Duration, bytes: usize) -> Duration {
    limit + Duration::from_secs((bytes / (64 * 1024)) as u64)
}

/// Run `send` (one request with a body) within `deadline`, or fail naming the stall.
pub async fn bounded<T, E>(
    deadline: Duration,
    what: &str,
    limit: Duration,
    send: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, String> {
    tokio::time::timeout(deadline, send)
        .await
        .map_err(|_| stall_message(what, limit))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_pauses_longer_than_the_limit_fails_naming_the_stall() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut reader = IdleTimed::new(rx, Duration::from_secs(5), "GetObject b.tar.gz");
        tx.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        reader.read_exact(&mut buf).await.unwrap();
        // A pause shorter than the limit is fine.
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            tx.write_all(b"d").await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(tx);
        });
        let mut one = [0u8; 1];
        reader.read_exact(&mut one).await.unwrap();
        let err = reader.read(&mut one).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            err.to_string().contains("stalled (no data for 5s)"),
            "{err}"
        );
        assert!(err.to_string().contains("GetObject b.tar.gz"), "{err}");
        writer.abort();
    }
}
