//! Talking to OCI distribution registries through `oci-client`: fetch manifests (resolving
//! indexes to the node's platform) and stream blobs. Registry errors are turned into the crate's
//! typed ones here, once. Plain HTTP is used only for registries listed as insecure.

pub mod auth;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::manifest::{media, Descriptor, Document, Manifest, NodePlatform};
use crate::reference::ImageRef;
use auth::Credentials;

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Registries (`host:port`) spoken to over plain HTTP; every other one needs HTTPS.
    pub insecure: Vec<String>,
    /// The platform indexes are resolved to.
    pub platform: NodePlatform,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self { insecure: Vec::new(), platform: NodePlatform::host() }
    }
}

/// A manifest resolved for this node.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: Digest,
    /// Set when the reference named an index and `manifest` was chosen from it.
    pub index_digest: Option<Digest>,
}

/// One image reference's registry, with the credentials to use there.
pub(crate) struct Remote {
    client: Client,
    auth: RegistryAuth,
    reference: ImageRef,
}

impl Remote {
    pub fn connect(options: &RegistryOptions, reference: &ImageRef, credentials: &Credentials) -> Self {
        install_crypto_provider();
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(options.insecure.clone()),
            ..Default::default()
        };
        Self { client: Client::new(config), auth: credentials.to_oci(), reference: reference.clone() }
    }

    /// Fetches the manifest the reference names and, for an index, the entry for `platform`.
    pub async fn resolve(&self, platform: &NodePlatform) -> Result<Resolved> {
        let (bytes, digest) = self.fetch_manifest(&self.reference).await?;
        match Document::parse(&bytes, None)? {
            Document::Image(manifest) => {
                Ok(Resolved { manifest, manifest_bytes: bytes, manifest_digest: digest, index_digest: None })
            }
            Document::Index(index) => {
                let entry = platform.choose(&index).ok_or_else(|| ImageError::NoMatchingPlatform {
                    reference: self.reference.to_string(),
                    platform: platform.to_string(),
                })?;
                let pinned = self.reference.with_digest(&entry.digest);
                let (bytes, manifest_digest) = self.fetch_manifest(&pinned).await?;
                match Document::parse(&bytes, None)? {
                    Document::Image(manifest) => {
                        Ok(Resolved { manifest, manifest_bytes: bytes, manifest_digest, index_digest: Some(digest) })
                    }
                    Document::Index(_) => Err(ImageError::malformed("index", "an index entry points at another index")),
                }
            }
        }
    }

    /// Fetches a manifest and checks it against the digest the reference pins, if any.
    async fn fetch_manifest(&self, reference: &ImageRef) -> Result<(Vec<u8>, Digest)> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(reference.oci(), &self.auth, media::ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| self.map_err(e))?;
        let actual = Digest::of(&bytes);
        if let Some(expected) = reference.digest().filter(|d| *d != actual) {
            return Err(ImageError::DigestMismatch { expected, actual });
        }
        Ok((bytes.to_vec(), actual))
    }

    /// Opens a blob for streaming. The caller hashes it (see `BlobStore::write_stream`).
    pub async fn blob(&self, desc: &Descriptor) -> Result<impl Stream<Item = Result<Bytes>> + Unpin + use<>> {
        let oci_desc = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.to_string(),
            size: i64::try_from(desc.size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        self.client.store_auth_if_needed(self.reference.registry(), &self.auth).await;
        let sized = self.client.pull_blob_stream(self.reference.oci(), &oci_desc).await.map_err(|e| self.map_err(e))?;
        let reference = self.reference.to_string();
        Ok(sized.stream.map(move |chunk| {
            chunk.map_err(|source| ImageError::Registry { reference: reference.clone(), source: source.into() })
        }))
    }

    fn map_err(&self, error: OciDistributionError) -> ImageError {
        let reference = self.reference.to_string();
        let unauthorized = || ImageError::Unauthorized { registry: self.reference.registry().to_owned(), reference: reference.clone() };
        match &error {
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
            OciDistributionError::ImageManifestNotFoundError(_) => ImageError::NotFound { reference },
            OciDistributionError::ServerError { code: 404, .. } => ImageError::NotFound { reference },
            OciDistributionError::ServerError { code: 401 | 403, .. } => unauthorized(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                    unauthorized()
                } else if codes.iter().any(|c| {
                    matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::BlobUnknown | OciErrorCode::NotFound)
                }) {
                    ImageError::NotFound { reference }
                } else {
                    ImageError::Registry { reference, source: error }
                }
            }
            _ => ImageError::Registry { reference, source: error },
        }
    }
}

/// rustls needs one process-wide crypto provider; we build without aws-lc, so install ring's.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
