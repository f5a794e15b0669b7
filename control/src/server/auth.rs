//! Bearer-token authentication. The admin token is generated on first start and
//! kept in `DATA/admin.token` (mode 0600); kubectl sends it over TLS only.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rand::RngCore;

use super::pki::{write_secret, PkiError};

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// The set of accepted bearer tokens.
#[derive(Clone, Default)]
pub struct Authenticator {
    tokens: Arc<RwLock<HashMap<String, User>>>,
}

impl Authenticator {
    pub fn add(&self, token: String, user: User) {
        self.tokens.write().unwrap_or_else(|p| p.into_inner()).insert(token, user);
    }

    /// The user a `Authorization` header value authenticates, if any.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<User> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
        // Compare every candidate in constant time so timing reveals nothing about
        // how much of a guessed token was right.
        tokens.iter().find(|(t, _)| constant_time_eq(t.as_bytes(), token.as_bytes())).map(|(_, u)| u.clone())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read the token stored at `path`, or create one.
pub fn load_or_create_token(path: &Path) -> Result<String, PkiError> {
    if let Ok(t) = std::fs::read_to_string(path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let t = new_token();
    write_secret(path, &format!("{t}\n"))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_bearer_tokens_authenticate() {
        let a = Authenticator::default();
        let admin = User { name: "admin".into(), groups: vec!["system:masters".into()] };
        a.add("s3cret".into(), admin.clone());
        assert_eq!(a.authenticate(Some("Bearer s3cret")), Some(admin));
        assert_eq!(a.authenticate(Some("Bearer s3cre")), None);
        assert_eq!(a.authenticate(Some("Basic s3cret")), None);
        assert_eq!(a.authenticate(None), None);
    }
}
