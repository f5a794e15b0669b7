//! The API client the control loops (scheduler, controllers) use: kube-rs,
//! configured from the kubeconfig the server writes, so an in-process loop
//! and one running against a remote server take the same path.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading the kubeconfig {path}: {source}")]
    Kubeconfig { path: String, #[source] source: kube::config::KubeconfigError },
    #[error("building the API client: {0}")]
    Build(#[from] kube::Error),
}

/// A client for the cluster the kubeconfig at `path` points at (its current context).
pub async fn from_kubeconfig(path: &Path) -> Result<Client, ClientError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig_error = |source| ClientError::Kubeconfig { path: path.display().to_string(), source };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.map_err(kubeconfig_error)?;
    Ok(Client::try_from(config)?)
}
