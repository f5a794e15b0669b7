//! Offline import: an OCI image layout directory, a tar of one (`skopeo copy ... oci-archive:`),
//! a docker-archive tar (`docker save`), or a bare `.wasm` module given a name. Every blob is
//! verified against its digest while it is copied into the store.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::manifest::{media, Descriptor, Document, Index, Manifest};
use crate::records::ImageRecord;
use crate::reference::ImageRef;
use crate::registry::Resolved;
use crate::service::ImageService;
use crate::unpack::entry_components;

/// The annotation skopeo/umoci put on layout index entries.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl ImageService {
    /// Imports `path` (layout dir, tar, or `.wasm` with `name`) and returns the images recorded.
    pub async fn import(&self, path: &Path, name: Option<&ImageRef>) -> Result<Vec<ImageRecord>> {
        let _shared = self.gc_lock.read().await;
        let bad = |reason: &str| ImageError::Import { path: path.to_owned(), reason: reason.to_owned() };
        if path.is_dir() {
            return self.import_layout(path, name).await;
        }
        let mut magic = [0u8; 4];
        let mut file = std::fs::File::open(path).map_err(ImageError::io(path))?;
        let n = file.read(&mut magic).map_err(ImageError::io(path))?;
        if n == 4 && &magic == b"\0asm" {
            let name = name.ok_or_else(|| bad("a bare .wasm module needs --tag NAME"))?;
            return Ok(vec![self.import_wasm(path, name).await?]);
        }
        let unpacked = TempDir::new(self.root().join(format!("import-{}", std::process::id())))?;
        let file = std::fs::File::open(path).map_err(ImageError::io(path))?;
        tar::Archive::new(std::io::BufReader::new(file))
            .unpack(&unpacked.0)
            .map_err(|e| bad(&format!("not a tar archive: {e}")))?;
        if unpacked.0.join("oci-layout").is_file() {
            self.import_layout(&unpacked.0, name).await
        } else if unpacked.0.join("manifest.json").is_file() {
            self.import_docker_archive(&unpacked.0, name).await
        } else {
            Err(bad("neither an OCI layout (oci-layout) nor a docker archive (manifest.json)"))
        }
    }

    /// Imports every file and directory in `dir` (the node's air-gap `images/import/` folder).
    /// Failures are returned per entry so one bad file does not stop the others.
    pub async fn import_dir(&self, dir: &Path) -> Vec<(PathBuf, Result<Vec<ImageRecord>>)> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            let result = self.import(&path, None).await;
            out.push((path, result));
        }
        out
    }

    async fn import_layout(&self, dir: &Path, name: Option<&ImageRef>) -> Result<Vec<ImageRecord>> {
        let bad = |reason: String| ImageError::Import { path: dir.to_owned(), reason };
        let index_path = dir.join("index.json");
        let bytes = std::fs::read(&index_path).map_err(ImageError::io(&index_path))?;
        let Document::Index(index) = Document::parse(&bytes, Some(media::OCI_INDEX))? else {
            return Err(bad("index.json is not an index".into()));
        };
        let entries: Vec<&Descriptor> = match name {
            // With an explicit name, import the one image for this platform.
            Some(_) => vec![self.resolve_layout_entry(dir, &index)?],
            None => index.manifests.iter().collect(),
        };
        let mut out = Vec::new();
        for entry in entries {
            let record_name = match name {
                Some(n) => n.to_string(),
                None => layout_ref_name(entry).ok_or_else(|| bad("entry has no full image name annotation: pass --tag".into()))?,
            };
            let blob = |d: &Digest| dir.join("blobs/sha256").join(d.hex());
            self.blobs.write_file(&entry.digest, &blob(&entry.digest))?;
            let manifest_bytes = self.blobs.read(&entry.digest)?;
            let manifest = match Document::parse(&manifest_bytes, Some(&entry.media_type))? {
                Document::Image(m) => m,
                Document::Index(_) => return Err(bad("nested index: import it with --tag".into())),
            };
            for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
                self.blobs.write_file(&d.digest, &blob(&d.digest))?;
            }
            out.push(self.record_import(record_name, manifest, manifest_bytes).await?);
        }
        Ok(out)
    }

    /// The index entry for this node: a plain manifest, or one resolved through a nested index.
    fn resolve_layout_entry<'a>(&self, dir: &Path, index: &'a Index) -> Result<&'a Descriptor> {
        let bad = |reason: &str| ImageError::Import { path: dir.to_owned(), reason: reason.to_owned() };
        match index.manifests.as_slice() {
            [only] => Ok(only),
            _ => crate::manifest::NodePlatform::host().choose(index).ok_or_else(|| bad("no entry for this platform")),
        }
    }

    async fn import_docker_archive(&self, dir: &Path, name: Option<&ImageRef>) -> Result<Vec<ImageRecord>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let bad = |reason: String| ImageError::Import { path: dir.to_owned(), reason };
        let list_path = dir.join("manifest.json");
        let list: Vec<Entry> = serde_json::from_slice(&std::fs::read(&list_path).map_err(ImageError::io(&list_path))?)
            .map_err(|e| bad(format!("manifest.json: {e}")))?;
        let inside = |rel: &str| -> Result<PathBuf> {
            let parts = entry_components(Path::new(rel)).map_err(|why| bad(format!("{rel}: {why}")))?;
            let mut p = dir.to_path_buf();
            p.extend(parts);
            Ok(p)
        };
        let mut out = Vec::new();
        for entry in list {
            let record_name = match (name, entry.repo_tags.as_ref().and_then(|t| t.first())) {
                (Some(n), _) => n.to_string(),
                (None, Some(tag)) => tag.parse::<ImageRef>()?.to_string(),
                (None, None) => return Err(bad("image has no RepoTags: pass --tag".into())),
            };
            let config = self.store_file(&inside(&entry.config)?, "application/vnd.docker.container.image.v1+json")?;
            let layers = entry
                .layers
                .iter()
                .map(|l| self.store_file(&inside(l)?, media::OCI_LAYER_TAR))
                .collect::<Result<Vec<_>>>()?;
            let manifest = Manifest { schema_version: 2, media_type: Some(media::OCI_MANIFEST.into()), config, layers };
            let bytes = serde_json::to_vec(&manifest).map_err(|e| bad(e.to_string()))?;
            out.push(self.record_import(record_name, manifest, bytes).await?);
        }
        Ok(out)
    }

    async fn import_wasm(&self, path: &Path, name: &ImageRef) -> Result<ImageRecord> {
        let bytes = std::fs::read(path).map_err(ImageError::io(path))?;
        let layer = self.store_bytes(&bytes, media::WASM_LAYER)?;
        let config = crate::wasm::artifact_config(&bytes, &layer.digest).to_string();
        let config_digest = self.blobs.write_bytes(None, config.as_bytes())?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: media::WASM_CONFIG.into(),
                digest: config_digest,
                size: config.len() as u64,
                platform: None,
                annotations: None,
            },
            layers: vec![layer],
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| ImageError::malformed("manifest", e))?;
        self.record_import(name.to_string(), manifest, manifest_bytes).await
    }

    /// Stores a file as a blob (hashing it) and describes it.
    fn store_file(&self, path: &Path, media_type: &str) -> Result<Descriptor> {
        let bytes = std::fs::read(path).map_err(ImageError::io(path))?;
        self.store_bytes(&bytes, media_type)
    }

    /// Stores `bytes` as a blob and describes it.
    fn store_bytes(&self, bytes: &[u8], media_type: &str) -> Result<Descriptor> {
        let digest = self.blobs.write_bytes(None, bytes)?;
        Ok(Descriptor { media_type: media_type.into(), digest, size: bytes.len() as u64, platform: None, annotations: None })
    }

    async fn record_import(&self, name: String, manifest: Manifest, manifest_bytes: Vec<u8>) -> Result<ImageRecord> {
        let manifest_digest = self.blobs.write_bytes(None, &manifest_bytes)?;
        let resolved = Resolved { manifest, manifest_bytes, manifest_digest, index_digest: None };
        let record = self.record(name, &resolved).await?;
        self.records.put(record.clone())?;
        Ok(record)
    }
}

/// A layout entry's name if it is a full reference (`registry/repo:tag`), not just a tag.
fn layout_ref_name(entry: &Descriptor) -> Option<String> {
    let name = entry.annotations.as_ref()?.get(REF_NAME)?;
    if !name.contains('/') {
        return None;
    }
    name.parse::<ImageRef>().ok().map(|r| r.to_string())
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(path: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(ImageError::io(&path))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
