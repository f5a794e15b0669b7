//! Connections from the API server to a node agent, for the requests it
//! proxies (`pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`).
//!
//! The agent serves HTTPS with a self-signed certificate whose SHA-256 it
//! publishes on its Node (`wasmkube.io/agent-cert-sha256`); the API server
//! pins exactly that certificate, and presents the node token as a bearer
//! token, so neither side trusts an address alone.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Node annotation carrying the hex SHA-256 of the agent's serving certificate.
pub const CERT_ANNOTATION: &str = "wasmkube.io/agent-cert-sha256";

#[derive(Debug, thiserror::Error)]
pub enum NodeClientError {
    #[error("node {node} has no reachable agent address or certificate yet")]
    NoEndpoint { node: String },
    #[error("connecting to the agent of node {node} at {addr}: {source}")]
    Connect { node: String, addr: String, #[source] source: std::io::Error },
    #[error("talking to the agent of node {node}: {detail}")]
    Protocol { node: String, detail: String },
}

/// Where a node's agent listens and which certificate it must present.
#[derive(Clone, Debug)]
pub struct AgentEndpoint {
    pub node: String,
    pub host: String,
    pub port: u16,
    pub cert_sha256: String,
}

impl AgentEndpoint {
    /// Read the endpoint from a Node object.
    pub fn from_node(node: &serde_json::Value) -> Result<AgentEndpoint, NodeClientError> {
        let name = node.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
        let missing = || NodeClientError::NoEndpoint { node: name.clone() };
        let port = node
            .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
            .and_then(|p| p.as_u64())
            .filter(|p| *p > 0 && *p <= u16::MAX as u64)
            .ok_or_else(missing)? as u16;
        let addresses = node.pointer("/status/addresses").and_then(|a| a.as_array()).cloned().unwrap_or_default();
        let host = addresses
            .iter()
            .find(|a| a.get("type").and_then(|t| t.as_str()) == Some("InternalIP"))
            .and_then(|a| a.get("address").and_then(|x| x.as_str()))
            .ok_or_else(missing)?
            .to_string();
        let cert_sha256 = node
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(CERT_ANNOTATION))
            .and_then(|c| c.as_str())
            .ok_or_else(missing)?
            .to_ascii_lowercase();
        Ok(AgentEndpoint { node: name, host, port, cert_sha256 })
    }
}

/// Accepts exactly one certificate, by its SHA-256.
#[derive(Debug)]
struct PinnedCert {
    sha256: String,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest: String = Sha256::digest(end_entity.as_ref()).iter().map(|b| format!("{b:02x}")).collect();
        if digest == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the agent presented a certificate other than the one its Node publishes".into()))
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Send one HTTP/1.1 request to the agent and return its response; the
/// response can be upgraded (`hyper::upgrade::on`) when the agent answers 101.
pub async fn send(endpoint: &AgentEndpoint, token: &str, mut req: Request<Body>) -> Result<Response<Incoming>, NodeClientError> {
    let node = endpoint.node.clone();
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let verifier = PinnedCert {
        sha256: endpoint.cert_sha256.clone(),
        schemes: rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| NodeClientError::Protocol { node: node.clone(), detail: e.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|source| NodeClientError::Connect { node: node.clone(), addr: addr.clone(), source })?;
    let _ = tcp.set_nodelay(true);
    let server_name = ServerName::try_from("wasmkube-agent").expect("static name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|source| NodeClientError::Connect { node: node.clone(), addr: addr.clone(), source })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| NodeClientError::Protocol { node: node.clone(), detail: e.to_string() })?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let headers = req.headers_mut();
    headers.insert(http::header::HOST, addr.parse().map_err(|_| NodeClientError::NoEndpoint { node: node.clone() })?);
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().map_err(|_| NodeClientError::Protocol { node: node.clone(), detail: "bad token".into() })?,
    );
    sender.send_request(req).await.map_err(|e| NodeClientError::Protocol { node, detail: e.to_string() })
}
