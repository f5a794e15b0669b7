//! The JSON documents of an image: manifests, indexes (Docker manifest lists too) and the image
//! config, reduced to the fields this crate uses. Docker schema2 and OCI share these shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// Media types we read. Docker schema2 types are accepted alongside OCI ones.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Every manifest type we accept, to send as `Accept` (registry 2.8 needs all four).
    pub const ACCEPTED_MANIFESTS: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_NONDIST_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
    pub const WASM_LAYER: &str = "application/wasm";
    pub const WASM_CONTENT_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
}

/// How a layer blob is compressed, from its media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    /// The compression of a tar layer of `media_type`, or `None` for a type that is not a tar layer.
    pub fn of_layer(media_type: &str) -> Option<Self> {
        match media_type {
            media::OCI_LAYER_TAR => Some(Self::None),
            media::OCI_LAYER_GZIP
            | media::OCI_LAYER_NONDIST_GZIP
            | media::DOCKER_LAYER_GZIP
            | media::DOCKER_FOREIGN_GZIP => Some(Self::Gzip),
            _ => None,
        }
    }
}

/// A pointer to a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The platform an index entry is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An image index or Docker manifest list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A manifest document: either a single image or an index of them.
#[derive(Clone, Debug)]
pub enum Document {
    Image(Manifest),
    Index(Index),
}

impl Document {
    /// Parses a manifest or index, using `media_type` (the Content-Type) when given and the
    /// document's own `mediaType` / shape otherwise (OCI layouts often omit both).
    pub fn parse(bytes: &[u8], media_type: Option<&str>) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ImageError::malformed("manifest", e))?;
        let declared = media_type
            .filter(|m| !m.is_empty())
            .or_else(|| value.get("mediaType").and_then(|m| m.as_str()))
            .map(str::to_owned);
        let is_index = match declared.as_deref() {
            Some(media::OCI_INDEX | media::DOCKER_LIST) => true,
            Some(media::OCI_MANIFEST | media::DOCKER_MANIFEST) => false,
            Some(other) if value.get("manifests").is_none() && value.get("config").is_none() => {
                return Err(ImageError::UnsupportedMediaType(other.to_owned()))
            }
            _ => value.get("manifests").is_some(),
        };
        if is_index {
            serde_json::from_value(value).map(Self::Index).map_err(|e| ImageError::malformed("index", e))
        } else {
            serde_json::from_value(value).map(Self::Image).map_err(|e| ImageError::malformed("manifest", e))
        }
    }
}

/// The node platform an index is resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlatform {
    pub os: String,
    pub architecture: String,
}

impl NodePlatform {
    /// linux/amd64 on x86_64 hosts, linux/arm64 on aarch64, and so on.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Self { os: "linux".into(), architecture: architecture.into() }
    }

    /// Picks the index entry to use: this platform's image if listed, else a wasm module
    /// (`wasi*/wasm`), which runs on any node. Entries without a platform are ignored when others
    /// have one, and used when none does.
    pub fn choose<'a>(&self, index: &'a Index) -> Option<&'a Descriptor> {
        let is = |d: &&Descriptor, pred: &dyn Fn(&Platform) -> bool| d.platform.as_ref().is_some_and(pred);
        index
            .manifests
            .iter()
            .find(|d| is(d, &|p| p.os == self.os && p.architecture == self.architecture))
            .or_else(|| index.manifests.iter().find(|d| is(d, &|p| p.architecture == "wasm" || p.os.starts_with("wasi"))))
            .or_else(|| match index.manifests.iter().all(|d| d.platform.is_none()) {
                true => index.manifests.first(),
                false => None,
            })
    }
}

impl std::fmt::Display for NodePlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// The image config blob (`application/vnd.oci.image.config.v1+json`) or a wasm config.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

/// The `rootfs` section: diff ids (digests of the uncompressed layers), bottom first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// How to run the image: the fields a container runtime needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

impl RunConfig {
    /// The argv the image runs by default: Entrypoint followed by Cmd.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(self.cmd.iter()).flatten().cloned().collect()
    }

    /// Exposed ports as `8080/tcp` keys.
    pub fn ports(&self) -> Vec<String> {
        self.exposed_ports.iter().flat_map(|m| m.keys().cloned()).collect()
    }
}

impl ConfigFile {
    /// Parses a config blob. A wasm artifact's config (`{}` or the wasm config schema) parses
    /// to a config with no run settings.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| ImageError::malformed("image config", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: Option<(&str, &str)>) -> Descriptor {
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: Digest::of(format!("{os:?}").as_bytes()),
            size: 1,
            platform: os.map(|(o, a)| Platform { os: o.into(), architecture: a.into(), variant: None }),
            annotations: None,
        }
    }

    fn index(entries: Vec<Descriptor>) -> Index {
        Index { schema_version: 2, media_type: Some(media::OCI_INDEX.into()), manifests: entries }
    }

    #[test]
    fn index_resolves_to_the_node_platform() {
        let amd = desc(Some(("linux", "amd64")));
        let idx = index(vec![desc(Some(("linux", "arm64"))), amd.clone()]);
        let node = NodePlatform { os: "linux".into(), architecture: "amd64".into() };
        assert_eq!(node.choose(&idx), Some(&amd));
    }

    #[test]
    fn wasm_entries_run_anywhere_but_foreign_platforms_do_not() {
        let node = NodePlatform { os: "linux".into(), architecture: "amd64".into() };
        let wasm = desc(Some(("wasip1", "wasm")));
        assert_eq!(node.choose(&index(vec![desc(Some(("linux", "arm64"))), wasm.clone()])), Some(&wasm));
        assert_eq!(node.choose(&index(vec![desc(Some(("linux", "arm64")))])), None);
    }

    #[test]
    fn documents_are_told_apart_by_media_type_or_shape() {
        let d = Digest::of(b"c");
        let m = format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{d}","size":1}},"layers":[]}}"#);
        assert!(matches!(Document::parse(m.as_bytes(), None).unwrap(), Document::Image(_)));
        let i = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(Document::parse(i.as_bytes(), None).unwrap(), Document::Index(_)));
        assert!(Document::parse(b"{}", Some("application/vnd.docker.distribution.manifest.v1+prettyjws")).is_err());
    }

    #[test]
    fn run_config_reads_docker_field_names() {
        let cfg = ConfigFile::parse(
            br#"{"os":"linux","config":{"Entrypoint":["/bin/serve"],"Cmd":["8080"],"Env":["PORT=8080"],
                "WorkingDir":"/www","User":"1000","ExposedPorts":{"8080/tcp":{}}},
                "rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let run = cfg.config.unwrap();
        assert_eq!(run.argv(), ["/bin/serve", "8080"]);
        assert_eq!(run.ports(), ["8080/tcp"]);
        assert_eq!(run.working_dir.as_deref(), Some("/www"));
        assert_eq!(run.user.as_deref(), Some("1000"));
    }
}
