//! The load generator: `concurrency` workers, each sending one request after
//! another for a warm-up and then a fixed measured window, with sockets made
//! in the target's network namespace (the node's, for pod and ClusterIP
//! addresses, which the host cannot route to) or the bench's own. A request's
//! latency runs from just before its connect (fresh-connection mode) or its
//! write (keep-alive) to the last byte of its response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::net::netns::NetNs;
use tokio::net::TcpStream;

use super::histogram::Histogram;
use super::http::{exchange, finish, get_request};

/// How each request reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new connection per request (`Connection: close`), as the servers that close
    /// after every response require; the connect is part of the latency.
    FreshConnection,
    /// Connections kept open across requests (reopened if the server closes one).
    KeepAlive,
}

impl Mode {
    pub fn describe(self) -> &'static str {
        match self {
            Mode::FreshConnection => "a new connection per request",
            Mode::KeepAlive => "keep-alive connections",
        }
    }
}

/// Where the load goes.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The namespace to make the sockets in; `None` for the bench's own.
    pub netns: Option<Arc<NetNs>>,
    pub mode: Mode,
}

impl Target {
    async fn connect(&self) -> std::io::Result<TcpStream> {
        match &self.netns {
            Some(ns) => ns.tcp_connect(self.addr).await,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                Ok(stream)
            }
        }
    }

    /// One request on a fresh connection, for readiness checks: Ok when it answers 2xx.
    pub async fn probe(&self) -> Result<(), String> {
        let mut stream = self.connect().await.map_err(|e| format!("connect {}: {e}", self.addr))?;
        let mut buf = Vec::new();
        let request = get_request(&self.addr.to_string(), "/", true);
        exchange(&mut stream, &mut buf, &request).await.map_err(|e| format!("GET http://{}/: {e}", self.addr))?;
        finish(stream).await;
        Ok(())
    }
}

/// How hard and how long to load a target.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// A request slower than this counts as an error.
    pub timeout: Duration,
}

/// What one run measured (the warm-up excluded).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub latency: Histogram,
    pub errors: u64,
    /// Connections opened during the measured window.
    pub connections: u64,
    pub first_error: Option<String>,
    pub window: Duration,
}

impl Outcome {
    /// Successful requests per second over the measured window.
    pub fn requests_per_sec(&self) -> f64 {
        if self.window.is_zero() {
            return 0.0;
        }
        self.latency.count() as f64 / self.window.as_secs_f64()
    }

    /// Adds another measured window of the same target (a later round).
    pub fn add_round(&mut self, other: Outcome) {
        self.window += other.window;
        self.merge(other);
    }

    fn merge(&mut self, other: Outcome) {
        self.latency.merge(&other.latency);
        self.errors += other.errors;
        self.connections += other.connections;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Loads `target` with `settings.concurrency` workers and merges what they measured.
/// Every run opens its own connections.
pub async fn run(target: &Target, settings: Settings) -> Outcome {
    let started = Instant::now();
    let measure_from = started + settings.warmup;
    let end = measure_from + settings.duration;
    let workers: Vec<_> = (0..settings.concurrency.max(1))
        .map(|_| tokio::spawn(worker(target.clone(), settings.timeout, measure_from, end)))
        .collect();
    let mut total = Outcome { window: settings.duration, ..Outcome::default() };
    for worker in workers {
        match worker.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert_with(|| format!("a load worker failed: {e}"));
            }
        }
    }
    total
}

/// Requests that start in `[measure_from, end)` are measured; none start after `end`.
async fn worker(target: Target, timeout: Duration, measure_from: Instant, end: Instant) -> Outcome {
    let request = get_request(&target.addr.to_string(), "/", target.mode == Mode::FreshConnection);
    let mut outcome = Outcome::default();
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let measured = sent >= measure_from;
        let result = tokio::time::timeout(timeout, async {
            let mut stream = match conn.take() {
                Some(stream) => stream,
                None => {
                    if measured {
                        outcome.connections += 1;
                    }
                    target.connect().await.map_err(|e| format!("connect {}: {e}", target.addr))?
                }
            };
            let reusable = exchange(&mut stream, &mut buf, &request).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((stream, reusable))
        })
        .await
        .unwrap_or_else(|_| Err(format!("no complete response within {timeout:?}")));
        match result {
            Ok((stream, reusable)) => {
                if measured {
                    outcome.latency.record(sent.elapsed());
                }
                if reusable && target.mode == Mode::KeepAlive {
                    conn = Some(stream);
                } else {
                    finish(stream).await;
                }
            }
            Err(e) => {
                if measured {
                    outcome.errors += 1;
                    outcome.first_error.get_or_insert(e);
                }
                // A refused or reset connection fails at once: do not spin on it.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    if let Some(stream) = conn {
        drop(stream);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A keep-alive server on 127.0.0.1 that answers every request with `ok`; closes after
    /// each response when `close_each` is set.
    async fn server(close_each: bool) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.is_err() || close_each {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn settings() -> Settings {
        Settings { concurrency: 4, warmup: Duration::from_millis(50), duration: Duration::from_millis(300), timeout: Duration::from_secs(2) }
    }

    #[tokio::test]
    async fn keep_alive_reuses_connections() {
        let target = Target { addr: server(false).await, netns: None, mode: Mode::KeepAlive };
        let out = run(&target, settings()).await;
        assert_eq!(out.errors, 0, "{:?}", out.first_error);
        assert!(out.latency.count() > 100, "{} requests", out.latency.count());
        // Each worker's connection was opened during the warm-up.
        assert_eq!(out.connections, 0);
        assert!(out.requests_per_sec() > 0.0);
    }

    #[test]
    fn rounds_add_their_windows() {
        let round = |n: u64| {
            let mut o = Outcome { window: Duration::from_secs(2), connections: n, ..Outcome::default() };
            for _ in 0..n {
                o.latency.record(Duration::from_millis(1));
            }
            o
        };
        let mut total = round(100);
        total.add_round(round(300));
        assert_eq!(total.window, Duration::from_secs(4));
        assert_eq!(total.latency.count(), 400);
        assert_eq!(total.connections, 400);
        assert_eq!(total.requests_per_sec(), 100.0);
    }

    #[tokio::test]
    async fn fresh_connections_count_one_per_request() {
        let target = Target { addr: server(true).await, netns: None, mode: Mode::FreshConnection };
        let out = run(&target, settings()).await;
        assert_eq!(out.errors, 0, "{:?}", out.first_error);
        assert!(out.latency.count() > 10);
        assert_eq!(out.connections, out.latency.count());
    }

    #[tokio::test]
    async fn a_closed_port_gives_errors_not_samples() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let target = Target { addr, netns: None, mode: Mode::FreshConnection };
        let out = run(&target, settings()).await;
        assert_eq!(out.latency.count(), 0);
        assert!(out.errors > 0);
        assert!(out.first_error.unwrap().contains("connect"));
        assert!(target.probe().await.is_err());
    }
}
