//! Components that export `wasi:http/incoming-handler` (the `wasi:http/proxy` world) run as
//! servers, SpinKube-style: the node serves HTTP/1.1 on each of the pod's TCP containerPorts,
//! on listeners in the pod's namespace, and answers every request with a fresh instance made
//! from one pre-instantiated [`ProxyPre`] ([`serve`]). Each request's Store has the container's
//! memory limit, fuel budget and epoch deadline, and writes stdout/stderr into its log.
//!
//! Outgoing requests (`wasi:http/outgoing-handler`) are refused with `HTTP-request-denied`:
//! wasmtime-wasi-http would open their connections on a background task in the agent's own
//! namespace, past the pod network and its egress policy.

pub mod serve;

use wasmtime::component::{Component, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::guest::Guest;

/// The Store state of one request's instance.
pub type HttpGuest = Guest<HttpWasi>;

/// A linked proxy component.
pub type HttpPre = ProxyPre<HttpGuest>;

/// The WASI and `wasi:http` state of one request.
pub struct HttpWasi {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: NoOutgoing,
}

impl HttpWasi {
    pub fn new(ctx: WasiCtx) -> Self {
        HttpWasi { ctx, http: WasiHttpCtx::new(), table: ResourceTable::new(), hooks: NoOutgoing }
    }
}

impl WasiView for HttpGuest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi.ctx, table: &mut self.wasi.table }
    }
}

impl WasiHttpView for HttpGuest {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let wasi = &mut self.wasi;
        WasiHttpCtxView { ctx: &mut wasi.http, table: &mut wasi.table, hooks: &mut wasi.hooks }
    }
}

/// Refuses outgoing requests (see the module doc).
pub struct NoOutgoing;

type Sent = Box<
    dyn std::future::Future<Output = Result<(http::Response<WasiBody>, Box<dyn std::future::Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

impl WasiHttpHooks for NoOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        Box::new(std::future::ready(Err(Error::HttpRequestDenied)))
    }
}

/// Whether `component` exports `wasi:http/incoming-handler` (any 0.2 version).
pub fn is_proxy(engine: &Engine, component: &Component) -> bool {
    component.component_type().exports(engine).any(|(name, _)| name.starts_with("wasi:http/incoming-handler@0.2"))
}
