//! The API server process: TLS with the cluster's own CA, bearer-token auth,
//! the kubeconfig, the store, and the HTTP routes in front of the API handlers.

pub mod auth;
mod bootstrap;
pub mod kubeconfig;
pub mod pki;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::api::handlers::{self, ApiState};
use crate::api::{openapi, response};
use crate::error::ApiError;
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::Store;
use auth::{Authenticator, User};

/// Kubernetes version the server reports. kubectl dispatchers pick their
/// client by its minor version.
pub const KUBE_VERSION: &str = "v1.32.0";

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `sqlite://PATH` or None for `DATA/state.db`.
    pub datastore: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error("opening the datastore {path}: {source}")]
    Store { path: String, #[source] source: crate::store::StoreError },
    #[error("unsupported --datastore {0:?}: use sqlite://PATH (etcd arrives later)")]
    Datastore(String),
    #[error("bootstrapping the cluster: {0}")]
    Bootstrap(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("serving on {addr}: {source}")]
    Serve { addr: SocketAddr, #[source] source: std::io::Error },
}

/// Everything a running server shares with its request handlers.
#[derive(Clone)]
struct AppState {
    api: Arc<ApiState>,
    auth: Authenticator,
}

/// What `start` hands back: where the server listens and how to reach it.
pub struct Running {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    pub admin_token: String,
    /// The token node agents join with (`DATA/node.token`).
    pub node_token: String,
    /// The cluster CA, for clients that verify the server (agents).
    pub ca_pem: String,
    pub store: Arc<dyn Store>,
}

async fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, ServerError> {
    let path = match config.datastore.as_deref() {
        None | Some("") => config.data_dir.join("state.db"),
        Some(url) => match url.strip_prefix("sqlite://") {
            Some(p) => PathBuf::from(p),
            None => return Err(ServerError::Datastore(url.to_string())),
        },
    };
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .map_err(|source| ServerError::Store { path: path.display().to_string(), source })?;
    Ok(Arc::new(store))
}

/// Serve until `shutdown` resolves. `on_ready` is called once the listener is bound.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Running) + Send,
) -> Result<(), ServerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir).map_err(|source| pki::PkiError::Io { path: config.data_dir.clone(), source })?;
    let pki = pki::load_or_create(&config.data_dir.join("pki"), &[config.listen.ip()])?;
    let admin_token = auth::load_or_create_token(&config.data_dir.join("admin.token"))?;
    let auth = Authenticator::default();
    auth.add(admin_token.clone(), User { name: "admin".into(), groups: vec!["system:masters".into()] });
    // Agents join with the node token; the API server presents the same token
    // to agents when it proxies logs and exec to them.
    let node_token = auth::load_or_create_token(&config.data_dir.join("node.token"))?;
    auth.add(node_token.clone(), User { name: "system:node".into(), groups: vec!["system:nodes".into()] });

    let store = open_store(&config).await?;
    bootstrap::ensure_system_objects(store.as_ref()).await.map_err(ServerError::Bootstrap)?;
    let api = ApiState::new(store.clone(), Some(node_token.clone()));
    let app = router(AppState { api, auth });

    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(pki.server_cert_pem.into_bytes(), pki.server_key_pem.into_bytes())
        .await
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|source| ServerError::Serve { addr: config.listen, source })?;
    listener.set_nonblocking(true).map_err(|source| ServerError::Serve { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Serve { addr: config.listen, source })?;
    bootstrap::ensure_api_service(store.as_ref(), addr).await.map_err(ServerError::Bootstrap)?;
    let kubeconfig = config.data_dir.join("kubeconfig.yaml");
    kubeconfig::write(&kubeconfig, &format!("https://{addr}"), &pki.ca_cert_pem, &admin_token)?;

    let handle = axum_server::Handle::new();
    let shutdown_handle = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Open watches never end by themselves; give requests a moment, then close.
        shutdown_handle.graceful_shutdown(Some(Duration::from_secs(2)));
    });
    on_ready(&Running { addr, kubeconfig, admin_token, node_token, ca_pem: pki.ca_cert_pem.clone(), store });
    // Without TCP_NODELAY a response written in two TLS records waits for the
    // client's delayed ACK: ~40 ms on every small request and watch event.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(axum_server::accept::NoDelayAcceptor::new());
    axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .map_err(|source| ServerError::Serve { addr, source })
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/version", get(version))
        .fallback(authenticated)
        .with_state(state)
}

async fn ok() -> &'static str {
    "ok"
}

async fn version() -> Response {
    response::json(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": "32", "gitVersion": KUBE_VERSION, "gitCommit": "wasmkube",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "n/a (Rust)", "compiler": "rustc", "platform": "linux/amd64",
        }),
    )
}

async fn authenticated(State(state): State<AppState>, req: Request<Body>) -> Response {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if state.auth.authenticate(authorization).is_none() {
        return ApiError::Unauthorized.into_response();
    }
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/openapi/v3") {
        return openapi_response(rest.trim_start_matches('/'));
    }
    handlers::handle(state.api, req).await
}

fn openapi_response(gv: &str) -> Response {
    if gv.is_empty() {
        return response::json(StatusCode::OK, &openapi::root());
    }
    match openapi::group_version_doc(gv) {
        Some(doc) => {
            let etag = format!("\"{}\"", openapi::hash_of(&doc));
            let mut r = response::json(StatusCode::OK, &doc);
            let h = r.headers_mut();
            h.insert(header::CACHE_CONTROL, "public, immutable".parse().expect("static header"));
            if let Ok(v) = etag.parse() {
                h.insert(header::ETAG, v);
            }
            r
        }
        None => ApiError::NoSuchPath(format!("no OpenAPI document for {gv}")).into_response(),
    }
}
