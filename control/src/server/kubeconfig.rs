//! The kubeconfig the server writes for its admin: `DATA/kubeconfig.yaml`.

use std::path::Path;

use base64::Engine;
use serde_json::json;

use super::pki::{write_secret, PkiError};

/// Write a kubeconfig pointing at `server_url`, trusting `ca_pem`, with `token`.
pub fn write(path: &Path, server_url: &str, ca_pem: &str, token: &str) -> Result<(), PkiError> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "wasmkube", "cluster": {"server": server_url, "certificate-authority-data": ca}}],
        "users": [{"name": "wasmkube-admin", "user": {"token": token}}],
        "contexts": [{"name": "wasmkube", "context": {"cluster": "wasmkube", "user": "wasmkube-admin", "namespace": "default"}}],
        "current-context": "wasmkube",
        "preferences": {},
    });
    let yaml = serde_norway::to_string(&doc).map_err(|e| PkiError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    write_secret(path, &yaml)
}
