//! Image references as users write them (`busybox`, `127.0.0.1:5000/wasm/hello:1.0`,
//! `repo@sha256:...`), normalised the way Docker and Kubernetes do (`docker.io/library/busybox:latest`).

use std::fmt;
use std::str::FromStr;

use oci_client::Reference;

use crate::digest::Digest;
use crate::error::ImageError;

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    inner: Reference,
    /// Whether the user named a tag or digest; `busybox` alone means `:latest` (pull policy cares).
    explicit: bool,
}

impl ImageRef {
    /// The registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if the reference has one (`latest` when none was written and no digest given).
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The pinned digest, if the reference has a valid sha256 one.
    pub fn digest(&self) -> Option<Digest> {
        self.inner.digest().and_then(|d| d.parse().ok())
    }

    /// Kubernetes' rule: `:latest`, or no tag and no digest, defaults the pull policy to Always.
    pub fn is_latest(&self) -> bool {
        !self.explicit || (self.inner.digest().is_none() && self.inner.tag() == Some("latest"))
    }

    /// The same repository pinned to `digest` (used to fetch a platform manifest from an index).
    pub fn with_digest(&self, digest: &Digest) -> Self {
        Self { inner: self.inner.clone_with_digest(digest.to_string()), explicit: true }
    }

    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }
}

impl FromStr for ImageRef {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| ImageError::InvalidImageName { name: s.to_owned(), reason };
        if s.trim() != s {
            return Err(invalid("surrounding whitespace".into()));
        }
        let inner = Reference::try_from(s).map_err(|e| invalid(e.to_string()))?;
        if inner.repository().bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase".into()));
        }
        if let Some(d) = inner.digest() {
            d.parse::<Digest>().map_err(|e| invalid(e.to_string()))?;
        }
        let last_segment = s.rsplit('/').next().unwrap_or(s);
        let explicit = s.contains('@') || last_segment.contains(':');
        Ok(Self { inner, explicit })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_short_names_like_docker() {
        let r: ImageRef = "busybox".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert!(r.is_latest());
    }

    #[test]
    fn keeps_registry_port_and_tag() {
        let r: ImageRef = "127.0.0.1:5000/wasm/hello:1.0".parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "wasm/hello");
        assert_eq!(r.tag(), Some("1.0"));
        assert!(!r.is_latest());
    }

    #[test]
    fn a_port_is_not_a_tag() {
        let r: ImageRef = "127.0.0.1:5000/busybox".parse().unwrap();
        assert!(r.is_latest());
    }

    #[test]
    fn digest_pins_are_never_latest() {
        let d = Digest::of(b"x");
        let r: ImageRef = format!("127.0.0.1:5000/busybox@{d}").parse().unwrap();
        assert_eq!(r.digest(), Some(d));
        assert!(!r.is_latest());
    }

    #[test]
    fn refuses_bad_names() {
        for bad in ["", "UPPER/case", "a b", " busybox", "repo@sha256:short", "repo@md5:abcd"] {
            let err = bad.parse::<ImageRef>().unwrap_err();
            assert!(matches!(err, ImageError::InvalidImageName { .. }), "{bad}: {err}");
        }
    }
}
