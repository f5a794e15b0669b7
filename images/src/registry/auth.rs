//! Registry credentials: docker-style config files (`~/.docker/config.json`) and Kubernetes
//! `kubernetes.io/dockerconfigjson` secrets, both reduced to a `Keyring` looked up by registry host.
//! The bearer-token dance itself (WWW-Authenticate → token endpoint) is done by `oci-client`.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::{ImageError, Result};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
    /// A registry token used as-is (docker config's `registrytoken`).
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => write!(f, "Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer(_) => write!(f, "Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    pub(crate) fn to_oci(&self) -> RegistryAuth {
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
            Self::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// Credentials by registry host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    by_host: BTreeMap<String, Credentials>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

#[derive(Deserialize)]
struct Secret {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(rename = "stringData", default)]
    string_data: BTreeMap<String, String>,
}

const DOCKERCONFIGJSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
const DOCKERCONFIGJSON_KEY: &str = ".dockerconfigjson";

impl Keyring {
    /// Parses a docker config file (`{"auths": {"host": {"auth": base64("user:pass")}}}`).
    pub fn from_docker_config(bytes: &[u8]) -> Result<Self> {
        let config: DockerConfig =
            serde_json::from_slice(bytes).map_err(|e| ImageError::Credentials(format!("docker config: {e}")))?;
        let mut by_host = BTreeMap::new();
        for (key, entry) in config.auths {
            by_host.insert(normalize_host(&key), entry.into_credentials(&key)?);
        }
        Ok(Self { by_host })
    }

    /// Parses a `kubernetes.io/dockerconfigjson` Secret object (its JSON, as the API serves it).
    pub fn from_dockerconfigjson_secret(secret_json: &[u8]) -> Result<Self> {
        let secret: Secret =
            serde_json::from_slice(secret_json).map_err(|e| ImageError::Credentials(format!("secret: {e}")))?;
        if let Some(kind) = secret.kind.as_deref().filter(|k| *k != DOCKERCONFIGJSON_TYPE) {
            return Err(ImageError::Credentials(format!("secret type {kind:?} is not {DOCKERCONFIGJSON_TYPE}")));
        }
        if let Some(plain) = secret.string_data.get(DOCKERCONFIGJSON_KEY) {
            return Self::from_docker_config(plain.as_bytes());
        }
        let encoded = secret
            .data
            .get(DOCKERCONFIGJSON_KEY)
            .ok_or_else(|| ImageError::Credentials(format!("secret has no {DOCKERCONFIGJSON_KEY} key")))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| ImageError::Credentials(format!("{DOCKERCONFIGJSON_KEY}: {e}")))?;
        Self::from_docker_config(&decoded)
    }

    /// Adds (or replaces) the credentials of one host.
    pub fn insert(&mut self, host: &str, credentials: Credentials) {
        self.by_host.insert(normalize_host(host), credentials);
    }

    /// Adds every entry of `other`; entries already here win (Kubernetes: the first secret wins).
    pub fn merge(&mut self, other: Keyring) {
        for (host, creds) in other.by_host {
            self.by_host.entry(host).or_insert(creds);
        }
    }

    /// The credentials for `registry` (a host, optionally with port), anonymous when none.
    pub fn lookup(&self, registry: &str) -> Credentials {
        self.by_host.get(&normalize_host(registry)).cloned().unwrap_or(Credentials::Anonymous)
    }
}

impl AuthEntry {
    fn into_credentials(self, host: &str) -> Result<Credentials> {
        if let Some(token) = self.registrytoken.filter(|t| !t.is_empty()) {
            return Ok(Credentials::Bearer(token));
        }
        if let (Some(username), Some(password)) = (self.username.clone(), self.password.clone()) {
            return Ok(Credentials::Basic { username, password });
        }
        if let Some(auth) = self.auth.filter(|a| !a.is_empty()) {
            let bad = |why: String| ImageError::Credentials(format!("auths.{host}.auth: {why}"));
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|e| bad(e.to_string()))?;
            let text = String::from_utf8(decoded).map_err(|e| bad(e.to_string()))?;
            let (username, password) = text.split_once(':').ok_or_else(|| bad("not user:password".into()))?;
            return Ok(Credentials::Basic { username: username.into(), password: password.into() });
        }
        if let Some(token) = self.identitytoken.filter(|t| !t.is_empty()) {
            // An identity token is an OAuth refresh token; registries accept it as the password
            // of the `<token>` user in the token request.
            return Ok(Credentials::Basic { username: "<token>".into(), password: token });
        }
        Ok(Credentials::Anonymous)
    }
}

/// `https://index.docker.io/v1/` → `docker.io`, `http://127.0.0.1:5000` → `127.0.0.1:5000`.
fn normalize_host(key: &str) -> String {
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn docker_config_auth_field_is_user_colon_password() {
        let cfg = format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"127.0.0.1:5001":{{"username":"u","password":"p:x"}}}}}}"#, b64("alice:s3cret"));
        let keys = Keyring::from_docker_config(cfg.as_bytes()).unwrap();
        assert_eq!(keys.lookup("docker.io"), Credentials::Basic { username: "alice".into(), password: "s3cret".into() });
        assert_eq!(keys.lookup("127.0.0.1:5001"), Credentials::Basic { username: "u".into(), password: "p:x".into() });
        assert_eq!(keys.lookup("127.0.0.1:5000"), Credentials::Anonymous);
    }

    #[test]
    fn dockerconfigjson_secret_is_decoded() {
        let inner = format!(r#"{{"auths":{{"127.0.0.1:5001":{{"auth":"{}"}}}}}}"#, b64("bob:pw"));
        let secret = format!(
            r#"{{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/dockerconfigjson","data":{{".dockerconfigjson":"{}"}}}}"#,
            b64(&inner)
        );
        let keys = Keyring::from_dockerconfigjson_secret(secret.as_bytes()).unwrap();
        assert_eq!(keys.lookup("127.0.0.1:5001"), Credentials::Basic { username: "bob".into(), password: "pw".into() });
    }

    #[test]
    fn wrong_secret_type_and_bad_base64_are_errors() {
        let opaque = br#"{"type":"Opaque","data":{".dockerconfigjson":"e30="}}"#;
        assert!(matches!(Keyring::from_dockerconfigjson_secret(opaque), Err(ImageError::Credentials(_))));
        let bad = br#"{"type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"!!"}}"#;
        assert!(matches!(Keyring::from_dockerconfigjson_secret(bad), Err(ImageError::Credentials(_))));
        let no_colon = format!(r#"{{"auths":{{"h":{{"auth":"{}"}}}}}}"#, b64("nocolon"));
        assert!(Keyring::from_docker_config(no_colon.as_bytes()).is_err());
    }

    #[test]
    fn merge_keeps_the_first_entry() {
        let mut a = Keyring::default();
        a.insert("r", Credentials::Bearer("first".into()));
        let mut b = Keyring::default();
        b.insert("r", Credentials::Bearer("second".into()));
        b.insert("other", Credentials::Bearer("o".into()));
        a.merge(b);
        assert_eq!(a.lookup("r"), Credentials::Bearer("first".into()));
        assert_eq!(a.lookup("other"), Credentials::Bearer("o".into()));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Credentials::Basic { username: "u".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
