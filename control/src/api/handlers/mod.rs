//! The generic REST handlers: one request in, one Kubernetes response out.
//! Everything kind-specific is looked up in the sibling modules (validation,
//! defaults, tables, patch strategies, admission).

mod admission;
mod body;
mod delete;
mod duplicates;
mod finalize;
mod node_proxy;
mod quota;
mod read;
mod scale;
mod watch;
mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::discovery;
use super::options::Query;
use super::path::{self, ApiPath, ResourceRef};
use super::resources::Sub;
use super::response;
use crate::error::ApiError;
use crate::store::Store;

pub use admission::ServiceAllocator;

/// Largest request body accepted (Kubernetes' own limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Shared state of the API handlers.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub services: ServiceAllocator,
    /// Serialises ResourceQuota admission (see the quota module).
    pub quota: quota::QuotaGate,
    /// The token node agents accept from the API server (for proxied
    /// logs / exec / port-forward); None when no agent may join.
    pub agent_token: Option<String>,
}

impl ApiState {
    pub fn new(store: Arc<dyn Store>, agent_token: Option<String>) -> Arc<Self> {
        Arc::new(ApiState { store, services: ServiceAllocator::default(), quota: quota::QuotaGate::default(), agent_token })
    }
}

/// Per-request facts the handlers need besides the path.
pub struct Ctx {
    pub query: Query,
    pub headers: HeaderMap,
}

impl Ctx {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Whether the client asked for a `meta.k8s.io` Table.
    pub fn wants_table(&self) -> bool {
        self.header(header::ACCEPT).split(',').any(|part| part.contains("as=Table"))
    }

    pub fn content_type(&self) -> &str {
        self.header(header::CONTENT_TYPE)
    }

    /// The field manager of a write: the query parameter, or the client's
    /// program name from its User-Agent as Kubernetes does.
    pub fn field_manager(&self) -> String {
        if let Some(m) = &self.query.field_manager {
            return m.clone();
        }
        let ua = self.header(header::USER_AGENT);
        let prog = ua.split('/').next().unwrap_or("").trim();
        if prog.is_empty() { "unknown".to_string() } else { prog.chars().take(128).collect() }
    }
}

/// Serve one API request (the path is already authenticated).
pub async fn handle(state: Arc<ApiState>, req: Request<Body>) -> Response {
    match route(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(state: Arc<ApiState>, req: Request<Body>) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let query = Query::parse(parts.uri.query())?;
    let ctx = Ctx { query, headers: parts.headers };
    let accept = ctx.header(header::ACCEPT).to_string();
    match path::parse(parts.uri.path())? {
        ApiPath::CoreVersions => Ok(discovery_response(&accept, true)),
        ApiPath::Groups => Ok(discovery_response(&accept, false)),
        ApiPath::ResourceList { group, version } => {
            Ok(response::json(StatusCode::OK, &discovery::resource_list(&group, &version)))
        }
        ApiPath::Resource(r) => resource(state, parts.method, r, ctx, body, upgrade).await,
    }
}

fn discovery_response(accept: &str, core: bool) -> Response {
    if discovery::wants_aggregated(accept) {
        let r = response::json(StatusCode::OK, &discovery::aggregated(core));
        return response::with_content_type(r, discovery::AGGREGATED_CONTENT_TYPE);
    }
    let doc = if core { discovery::core_versions() } else { discovery::groups() };
    response::json(StatusCode::OK, &doc)
}

async fn resource(
    state: Arc<ApiState>,
    method: Method,
    r: ResourceRef,
    ctx: Ctx,
    body: Body,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    if r.rt.namespaced && r.name.is_some() && r.namespace.is_none() {
        return Err(ApiError::NoSuchPath("namespaced objects are addressed under /namespaces/{namespace}/".into()));
    }
    let not_allowed = || ApiError::MethodNotAllowed(format!("the server does not allow this method on the requested resource ({method} {})", r.rt.qualified()));
    match (r.name.is_some(), r.sub) {
        (false, None) => match method {
            Method::GET if ctx.query.watch => watch::watch(&state, &r, &ctx).await,
            Method::GET => read::list(&state, &r, &ctx).await,
            Method::POST => write::create(&state, &r, &ctx, body::read(body).await?).await,
            Method::DELETE => delete::delete_collection(&state, &r, &ctx, body::read(body).await?).await,
            _ => Err(not_allowed()),
        },
        (true, None | Some(Sub::Status)) => match method {
            Method::GET if ctx.query.watch => watch::watch(&state, &r, &ctx).await,
            Method::GET => read::get(&state, &r, &ctx).await,
            Method::PUT => write::update(&state, &r, &ctx, body::read(body).await?).await,
            Method::PATCH => write::patch(&state, &r, &ctx, body::read(body).await?).await,
            Method::DELETE if r.sub.is_none() => delete::delete(&state, &r, &ctx, body::read(body).await?).await,
            _ => Err(not_allowed()),
        },
        (true, Some(Sub::Scale)) => match method {
            Method::GET => scale::get(&state, &r).await,
            Method::PUT => scale::update(&state, &r, &ctx, body::read(body).await?).await,
            Method::PATCH => scale::patch(&state, &r, &ctx, body::read(body).await?).await,
            _ => Err(not_allowed()),
        },
        (true, Some(Sub::Binding)) if method == Method::POST => {
            admission::bind(&state, &r, &ctx, body::read(body).await?).await
        }
        (true, Some(Sub::Finalize)) if method == Method::PUT => write::update(&state, &r, &ctx, body::read(body).await?).await,
        (true, Some(Sub::Eviction)) if method == Method::POST => {
            delete::delete(&state, &ResourceRef { sub: None, ..r.clone() }, &ctx, bytes::Bytes::new()).await
        }
        (true, Some(Sub::Log)) if method == Method::GET => node_proxy::proxy(&state, &r, &ctx, method, upgrade, body).await,
        (true, Some(Sub::Exec | Sub::Attach | Sub::PortForward)) if method == Method::GET || method == Method::POST => {
            node_proxy::proxy(&state, &r, &ctx, method, upgrade, body).await
        }
        _ => Err(not_allowed()),
    }
}
