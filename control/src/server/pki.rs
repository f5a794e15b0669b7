//! The cluster's own certificate authority and the API server's serving
//! certificate, generated on first start and kept in `DATA/pki/` (mode 0600).

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, #[source] source: std::io::Error },
}

/// PEM material the server needs.
pub struct Pki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";

/// Load the PKI from `dir`, creating whatever is missing. The serving
/// certificate covers localhost, 127.0.0.1, ::1 and `extra_ips`.
pub fn load_or_create(dir: &Path, extra_ips: &[IpAddr]) -> Result<Pki, PkiError> {
    fs::create_dir_all(dir).map_err(|source| PkiError::Io { path: dir.to_owned(), source })?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let read = |name: &str| fs::read_to_string(dir.join(name)).ok();

    let (ca_cert_pem, ca_key_pem) = match (read(CA_CERT), read(CA_KEY)) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let (c, k) = generate_ca()?;
            write_secret(&dir.join(CA_KEY), &k)?;
            write_secret(&dir.join(CA_CERT), &c)?;
            // A new CA invalidates any serving certificate signed by an old one.
            let _ = fs::remove_file(dir.join(SERVER_CERT));
            (c, k)
        }
    };
    let (server_cert_pem, server_key_pem) = match (read(SERVER_CERT), read(SERVER_KEY)) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let (c, k) = generate_serving(&ca_cert_pem, &ca_key_pem, extra_ips)?;
            write_secret(&dir.join(SERVER_KEY), &k)?;
            write_secret(&dir.join(SERVER_CERT), &c)?;
            (c, k)
        }
    };
    Ok(Pki { ca_cert_pem, server_cert_pem, server_key_pem })
}

fn generate_ca() -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "wasmkube-ca");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn generate_serving(ca_cert_pem: &str, ca_key_pem: &str, extra_ips: &[IpAddr]) -> Result<(String, String), PkiError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "kubernetes".to_string(),
        "kubernetes.default".to_string(), "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "wasmkube-apiserver");
    params.distinguished_name = dn;
    let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse().expect("literal"), "::1".parse().expect("literal")];
    ips.extend(extra_ips.iter().copied());
    ips.dedup();
    params.subject_alt_names.extend(ips.into_iter().map(SanType::IpAddress));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Write a file readable by its owner only.
pub fn write_secret(path: &Path, contents: &str) -> Result<(), PkiError> {
    let io = |source| PkiError::Io { path: path.to_owned(), source };
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), &[]).unwrap();
        let b = load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(a.ca_cert_pem, b.ca_cert_pem);
        assert_eq!(a.server_cert_pem, b.server_cert_pem);
        let mode = fs::metadata(dir.path().join(CA_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
