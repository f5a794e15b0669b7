//! The crate's one error type. Variants name the failure and carry the reference, digest or path
//! it concerns, so the node agent can map them to the reasons users know (see `policy`).

use std::path::PathBuf;

use crate::digest::Digest;

/// Everything that can go wrong while pulling, storing, unpacking or importing an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image reference does not parse (Kubernetes reason `InvalidImageName`).
    #[error("invalid image name {name:?}: {reason}")]
    InvalidImageName { name: String, reason: String },

    /// A digest is not `sha256:` followed by 64 lowercase hex characters.
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),

    /// Bytes did not hash to the digest that named them; nothing from them was kept.
    #[error("digest mismatch for {expected}: got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },

    /// The registry refused our credentials (or asked for some and we had none).
    #[error("unauthorized: registry {registry} refused access to {reference}")]
    Unauthorized { registry: String, reference: String },

    /// The registry has no such repository, tag or digest.
    #[error("image {reference} not found in the registry")]
    NotFound { reference: String },

    /// Any other registry or transport failure.
    #[error("pulling {reference}: {source}")]
    Registry {
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },

    /// An index lists no manifest for the node's platform.
    #[error("{reference}: no manifest for platform {platform} in the index")]
    NoMatchingPlatform { reference: String, platform: String },

    /// A manifest, index or config that does not follow the OCI / Docker schema.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },

    /// A layer or manifest of a media type we cannot use.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),

    /// A layer entry whose path (or link target) would land outside the snapshot.
    #[error("layer {layer}: refused entry {entry:?}: {reason}")]
    UnsafePath { layer: Digest, entry: String, reason: &'static str },

    /// A layer that is not a readable tar stream.
    #[error("layer {layer}: {source}")]
    Layer {
        layer: Digest,
        #[source]
        source: std::io::Error,
    },

    /// The image is not in the local store (Kubernetes reason `ErrImageNeverPull` under `Never`).
    #[error("image {0} is not present locally")]
    NotPresent(String),

    /// A docker config file or `kubernetes.io/dockerconfigjson` secret that does not parse.
    #[error("invalid registry credentials: {0}")]
    Credentials(String),

    /// A file given to `import` that is none of the accepted formats.
    #[error("cannot import {path:?}: {reason}")]
    Import { path: PathBuf, reason: String },

    /// Mounting (or unmounting) a container's root filesystem failed.
    #[error("root filesystem at {target:?}: {source}")]
    Mount {
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A filesystem operation on the data dir failed.
    #[error("{path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl ToString) -> Self {
        Self::Malformed { what, reason: reason.to_string() }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
