//! A TCP proxy in front of moto that a test can slow down, pause, stop and start again on the
//! same port: the store becoming slow, unresponsive or unreachable, and coming back. TLS goes
//! through untouched (moto's certificate names 127.0.0.1, which is where the proxy listens).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub struct Proxy {
    pub port: u16,
    target: u16,
    /// Client-to-store bytes per second; 0 means unlimited.
    rate: u64,
    paused: watch::Sender<bool>,
    /// When set: each connection forwards this many more bytes each way, then goes silent
    /// (a store that stalls mid-transfer, connection still open).
    stall: watch::Sender<Option<u64>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a free port (or `port`) and forward to `127.0.0.1:target`.
    pub async fn start(target: u16, port: Option<u16>, rate: u64) -> Proxy {
        let (paused, _) = watch::channel(false);
        let (stall, _) = watch::channel(None);
        let mut proxy = Proxy {
            port: port.unwrap_or(0),
            target,
            rate,
            paused,
            stall,
            task: None,
        };
        proxy.listen().await;
        proxy
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.port = listener.local_addr().unwrap().port();
        let (target, rate, paused) = (self.target, self.rate, self.paused.subscribe());
        let stall = self.stall.subscribe();
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every open connection is cut when the proxy stops.
            let mut connections = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mut paused = paused.clone();
                let stall = stall.clone();
                connections.spawn(async move {
                    // Accepted but silent while paused: the store hangs.
                    let _ = paused.wait_for(|p| !*p).await;
                    if let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)).await {
                        forward(client, upstream, rate, stall).await;
                    }
                });
            }
        }));
    }

    /// Stop listening and cut every connection: the store is unreachable.
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listen again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.listen().await;
    }

    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// From now on every connection, open or new, forwards `bytes` more each way and then
    /// stops forwarding while staying open: a transfer stalls in the middle.
    pub fn stall_after(&self, bytes: u64) {
        self.stall.send_replace(Some(bytes));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn forward(
    client: TcpStream,
    upstream: TcpStream,
    rate: u64,
    stall: watch::Receiver<Option<u64>>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let up_stall = Stall::new(stall.clone());
    let up = async move {
        let mut stall = up_stall;
        let mut buf = vec![0u8; 16 * 1024];
        let started = Instant::now();
        let mut sent = 0u64;
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            stall.account(n).await;
            if up_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            sent += n as u64;
            if rate > 0 {
                let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let _ = up_write.shutdown().await;
    };
    let down = async move {
        let mut stall = Stall::new(stall);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match up_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            stall.account(n).await;
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// One direction's budget once the proxy is told to stall.
struct Stall {
    armed: watch::Receiver<Option<u64>>,
    since_armed: u64,
}

impl Stall {
    fn new(armed: watch::Receiver<Option<u64>>) -> Stall {
        Stall {
            armed,
            since_armed: 0,
        }
    }

    /// Count `n` bytes about to be forwarded; never returns once the budget is spent.
    async fn account(&mut self, n: usize) {
        let limit = *self.armed.borrow();
        if let Some(limit) = limit {
            if self.since_armed >= limit {
                std::future::pending::<()>().await;
            }
            self.since_armed += n as u64;
        }
    }
}
