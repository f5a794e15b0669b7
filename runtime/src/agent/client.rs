//! The agent's API client: kube-rs over HTTPS, trusting only the cluster CA
//! and presenting the node's bearer token. The agent talks to the cluster
//! through nothing else.

use kube::config::{AuthInfo, Config};
use kube::Client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::AgentError;

/// A client for `server_url`, verified against `ca_pem`, authenticated by `token`.
pub fn build_client(server_url: &str, ca_pem: &str, token: &str) -> Result<Client, AgentError> {
    // The process may already have chosen a provider; either way ring is available.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = server_url
        .parse::<http::Uri>()
        .map_err(|e| AgentError::ServerUrl { url: server_url.to_string(), reason: e.to_string() })?;
    let roots = ca_roots(ca_pem)?;
    let mut config = Config::new(url);
    config.root_cert = Some(roots);
    config.auth_info = AuthInfo { token: Some(token.to_string().into()), ..Default::default() };
    Client::try_from(config).map_err(AgentError::Client)
}

/// The DER certificates of a PEM bundle; at least one is required.
fn ca_roots(ca_pem: &str) -> Result<Vec<Vec<u8>>, AgentError> {
    let roots = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .map(|cert| cert.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AgentError::ClusterCa(e.to_string()))?;
    if roots.is_empty() {
        return Err(AgentError::ClusterCa("no PEM certificate found".into()));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_bundle_without_certificates() {
        assert!(matches!(ca_roots("not a pem"), Err(AgentError::ClusterCa(_))));
        assert!(matches!(build_client("https://127.0.0.1:1", "", "t"), Err(AgentError::ClusterCa(_))));
    }

    #[test]
    fn reads_a_generated_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).expect("generates");
        let roots = ca_roots(&cert.cert.pem()).expect("parses");
        assert_eq!(roots, vec![cert.cert.der().to_vec()]);
    }
}
