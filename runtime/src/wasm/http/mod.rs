//! Components that export `wasi:http/incoming-handler` (the `wasi:http/proxy` world) run as
//! servers, SpinKube-style: the node serves HTTP/1.1 on each of the pod's TCP containerPorts,
//! on listeners in the pod's namespace, and answers every request with a fresh instance made
//! from one pre-instantiated [`ProxyPre`] ([`serve`]). Each request's Store has the container's
//! memory limit, fuel budget and epoch deadline, and writes stdout/stderr into its log.
//!
//! Outgoing requests (`wasi:http/outgoing-handler`) leave from the pod ([`outgoing`]): pod DNS,
//! the egress policy, a connection made in the pod's namespace. wasmtime-wasi-http's default
//! would connect from the agent's own namespace, past the pod network and its policy.

pub mod outgoing;
pub mod serve;

use std::sync::Arc;

use wasmtime::component::{Component, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::guest::Guest;
use super::net::PodNet;

/// The Store state of one request's instance.
pub type HttpGuest = Guest<HttpWasi>;

/// A linked proxy component.
pub type HttpPre = ProxyPre<HttpGuest>;

/// The WASI and `wasi:http` state of one request.
pub struct HttpWasi {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: FromPod,
}

impl HttpWasi {
    /// `pod`: where outgoing requests leave from; `None` refuses them.
    pub fn new(ctx: WasiCtx, pod: Option<Arc<PodNet>>) -> Self {
        HttpWasi { ctx, http: WasiHttpCtx::new(), table: ResourceTable::new(), hooks: FromPod { pod } }
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

/// Sends outgoing requests from the pod (see the module doc).
pub struct FromPod {
    pod: Option<Arc<PodNet>>,
}

impl WasiHttpHooks for FromPod {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn std::future::Future<Output = Result<outgoing::Sent, Error>> + Send> {
        match self.pod.clone() {
            Some(pod) => Box::new(outgoing::send_from_pod(pod, request, options)),
            None => Box::new(std::future::ready(Err(Error::HttpRequestDenied))),
        }
    }
}

/// Whether `component` exports `wasi:http/incoming-handler` (any 0.2 version).
pub fn is_proxy(engine: &Engine, component: &Component) -> bool {
    component.component_type().exports(engine).any(|(name, _)| name.starts_with("wasi:http/incoming-handler@0.2"))
}
