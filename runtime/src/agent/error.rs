//! The agent's error type: what can stop `run` itself. Failures inside one
//! pod never surface here; they become that pod's status and Events.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid API server URL {url:?}: {reason}")]
    ServerUrl { url: String, reason: String },
    #[error("cluster CA certificate: {0}")]
    ClusterCa(String),
    #[error("building the API client: {0}")]
    Client(#[source] kube::Error),
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the image store: {0}")]
    Images(#[source] images::ImageError),
    #[error("no container runtime given: the agent needs at least one handler")]
    NoRuntime,
    #[error("the agent's serving certificate: {0}")]
    Certificate(String),
    #[error("the agent's HTTPS server: {0}")]
    Serve(#[source] std::io::Error),
}

impl AgentError {
    pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> AgentError {
        let action = action.into();
        move |source| AgentError::Api { action, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AgentError {
        let path = path.into();
        move |source| AgentError::Io { path, source }
    }
}
