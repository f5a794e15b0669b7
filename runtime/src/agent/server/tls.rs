//! The agent's self-signed serving certificate. The API server does not
//! trust it by chain but by its SHA-256, published on the Node.

use sha2::{Digest, Sha256};

use crate::agent::AgentError;

/// A certificate and key in PEM, and the certificate's fingerprint.
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub sha256: String,
}

/// A fresh self-signed certificate for `node_name` (and the name the API server dials).
pub fn self_signed(node_name: &str) -> Result<ServingCert, AgentError> {
    let names = vec!["wasmkube-agent".to_string(), node_name.to_string(), "localhost".to_string(), "127.0.0.1".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| AgentError::Certificate(e.to_string()))?;
    let sha256 = Sha256::digest(generated.cert.der().as_ref()).iter().map(|b| format!("{b:02x}")).collect();
    Ok(ServingCert { cert_pem: generated.cert.pem(), key_pem: generated.signing_key.serialize_pem(), sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_hex_sha256() {
        let cert = self_signed("n1").expect("generates");
        assert_eq!(cert.sha256.len(), 64);
        assert!(cert.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(cert.cert_pem.contains("BEGIN CERTIFICATE"));
    }
}
