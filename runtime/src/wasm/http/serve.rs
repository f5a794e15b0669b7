//! The server of a `wasi:http` component: HTTP/1.1 (hyper, keep-alive) on listeners in the pod's
//! namespace, one fresh instance per request. The container runs until stopped; a stop ends the
//! accepting, lets in-flight requests finish (each connection shuts down gracefully) and then
//! returns, so a stop within the grace period is a clean exit. A trap or error in one request
//! answers 500, is written to the container's log, and does not touch the others.

use std::convert::Infallible;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use super::{HttpPre, HttpWasi};
use crate::cri::{Limits, Mount};
use crate::logs::{LogStream, LogWriter};
use crate::wasm::cpu::Metered;
use crate::wasm::exit::describe;
use crate::wasm::guest::configure_wasi;
use crate::wasm::net::PodNet;
use crate::wasm::run::{metered_store, Meters};
use crate::wasm::stdio::LogOutput;

/// What every request's instance is made with.
pub struct Server {
    pub pre: HttpPre,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub mounts: Vec<Mount>,
    pub log: LogWriter,
    pub limits: Limits,
    pub meters: Arc<Meters>,
    /// Where outgoing requests leave from.
    pub pod: Arc<PodNet>,
    /// The instances at work, so that they end with the server (a guest may go on after its
    /// response head, streaming the body, or spin): dropped with the last `Arc` of the server.
    pub requests: Mutex<JoinSet<()>>,
}

impl Server {
    /// Serves on `listeners` until `stopping` turns true, then drains.
    pub async fn run(self: Arc<Self>, listeners: Vec<TcpListener>, mut stopping: watch::Receiver<bool>) -> wasmtime::Result<()> {
        if listeners.is_empty() {
            wasmtime::bail!("a wasi:http component is served on the pod's TCP containerPorts, and it declares none");
        }
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped(&mut stopping) => break,
                accepted = accept_any(&listeners) => match accepted {
                    Ok(stream) => {
                        connections.spawn(Arc::clone(&self).connection(stream, stopping.clone()));
                    }
                    // A transient failure (a client gone before accept, no fds for a moment).
                    Err(e) => {
                        tracing::debug!(error = %e, "wasi:http accept");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listeners);
        // Connections saw the stop too: each ends after its in-flight request.
        while connections.join_next().await.is_some() {}
        Ok(())
    }

    async fn connection(self: Arc<Self>, stream: TcpStream, mut stopping: watch::Receiver<bool>) {
        let _ = stream.set_nodelay(true);
        let server = self;
        let service = hyper::service::service_fn(move |req| {
            let server = Arc::clone(&server);
            async move { Ok::<_, Infallible>(server.handle(req).await) }
        });
        let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = stopped(&mut stopping) => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }

    /// One request, one instance.
    async fn handle(&self, req: hyper::Request<Incoming>) -> hyper::Response<HyperOutgoingBody> {
        let what = format!("{} {}", req.method(), req.uri().path());
        match self.instance(req).await {
            Ok(response) => response,
            Err(err) => {
                let line = format!("wasmkube: {what} failed: {}\n", describe(&err));
                let _ = self.log.write(LogStream::Stderr, line.as_bytes());
                plain(500, "internal server error\n")
            }
        }
    }

    async fn instance(&self, req: hyper::Request<Incoming>) -> wasmtime::Result<hyper::Response<HyperOutgoingBody>> {
        let mut builder = WasiCtxBuilder::new();
        let output = &self.meters.output_bytes;
        builder
            .stdout(LogOutput::new(self.log.clone(), LogStream::Stdout, output.clone()))
            .stderr(LogOutput::new(self.log.clone(), LogStream::Stderr, output.clone()));
        configure_wasi(&mut builder, &self.argv, &self.env, self.working_dir.as_deref(), &self.mounts)
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        let mut store = metered_store(self.pre.engine(), HttpWasi::new(builder.build(), Some(self.pod.clone())), self.limits, &self.meters)?;
        let (tx, rx) = oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let pre = self.pre.clone();
        let (done_tx, done_rx) = oneshot::channel();
        // On a task of its own: the instance keeps streaming the body after the response head
        // is sent, and a CPU-bound guest yields at every epoch tick like any other.
        let instance = Metered::new(
            async move {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            },
            None,
            self.meters.cpu_nanos.clone(),
        );
        {
            let mut requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            while requests.try_join_next().is_some() {}
            requests.spawn(async move {
                let _ = done_tx.send(instance.await);
            });
        }
        match rx.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(wasmtime::format_err!("the component answered with error {code:?}")),
            // The instance ended (or trapped) without setting a response.
            Err(_) => match done_rx.await {
                Ok(Ok(())) => Err(wasmtime::format_err!("the component never set a response")),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(wasmtime::format_err!("the request's instance was stopped")),
            },
        }
    }
}

/// Resolves once the container is stopping (or its state is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await.
    let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
}

/// The next connection on any of `listeners`.
async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<TcpStream> {
    poll_fn(|cx| {
        for listener in listeners {
            if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                return Poll::Ready(accepted.map(|(stream, _)| stream));
            }
        }
        Poll::Pending
    })
    .await
}

fn plain(status: u16, body: &'static str) -> hyper::Response<HyperOutgoingBody> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    response
}
