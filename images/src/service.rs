//! `ImageService`: the node's image store. Pulls images into the blob store (each blob fetched
//! once, even by concurrent pulls), records them, and hands out what a runtime needs: wasm
//! module bytes, or a snapshot root filesystem plus the image config.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::try_join_all;

use crate::blobs::BlobStore;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::manifest::{Compression, ConfigFile, Descriptor, Manifest};
use crate::policy::{PullDecision, PullPolicy};
use crate::progress::Progress;
use crate::records::{now, ImageKind, ImageRecord, Records};
use crate::reference::ImageRef;
use crate::registry::auth::Keyring;
use crate::registry::{Remote, RegistryOptions, Resolved};
use crate::unpack::{LayerSource, Snapshot, SnapshotBackend, SnapshotStore};
use crate::wasm;

/// What a runtime gets for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A wasm module: read it with [`ImageService::module_bytes`].
    Wasm { module: Digest },
    /// A root filesystem snapshot to put a container's writable layer on.
    Rootfs(Snapshot),
}

/// A present image, ready to run.
#[derive(Clone, Debug)]
pub struct LocalImage {
    pub record: ImageRecord,
    pub content: Content,
}

/// What a pull did: how many blobs it downloaded and how many it found already stored.
#[derive(Clone, Debug)]
pub struct PullOutcome {
    pub record: ImageRecord,
    pub downloaded: usize,
    pub reused: usize,
}

/// The image store of one node, under `<data dir>/images/`.
pub struct ImageService {
    root: PathBuf,
    pub(crate) blobs: BlobStore,
    pub(crate) snapshots: SnapshotStore,
    pub(crate) records: Records,
    options: RegistryOptions,
    /// Pulls and imports hold it shared; GC holds it exclusively, so it never sweeps a blob that a
    /// pull has stored but not yet recorded.
    pub(crate) gc_lock: tokio::sync::RwLock<()>,
}

impl ImageService {
    /// Opens (creating) the store under `data_dir/images`, with overlay snapshots if a probe
    /// mount works there and full copies otherwise.
    pub fn open(data_dir: &Path, options: RegistryOptions) -> Result<Self> {
        Self::open_inner(data_dir, options, None)
    }

    /// Opens (creating) the store under `data_dir/images` with the given snapshot backend.
    pub fn open_with_backend(data_dir: &Path, options: RegistryOptions, backend: SnapshotBackend) -> Result<Self> {
        Self::open_inner(data_dir, options, Some(backend))
    }

    fn open_inner(data_dir: &Path, options: RegistryOptions, backend: Option<SnapshotBackend>) -> Result<Self> {
        let root = data_dir.join("images");
        std::fs::create_dir_all(&root).map_err(ImageError::io(&root))?;
        let snapshots = root.join("snapshots");
        Ok(Self {
            blobs: BlobStore::open(root.join("blobs"))?,
            snapshots: match backend {
                Some(backend) => SnapshotStore::open_with(snapshots, backend)?,
                None => SnapshotStore::open(snapshots)?,
            },
            records: Records::open(root.join("records.json"))?,
            root,
            options,
            gc_lock: tokio::sync::RwLock::new(()),
        })
    }

    /// The store's directory (`<data dir>/images`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How this store keeps root filesystem snapshots.
    pub fn snapshot_backend(&self) -> SnapshotBackend {
        self.snapshots.backend()
    }

    /// The blob store (read access for tools and tests).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Every image on the node.
    pub fn list(&self) -> Vec<ImageRecord> {
        self.records.all()
    }

    /// The record of `image`, if present.
    pub fn get(&self, image: &ImageRef) -> Option<ImageRecord> {
        self.records.get(&image.to_string())
    }

    /// Forgets an image. Its blobs and snapshots go at the next GC if no other image uses them.
    pub fn remove(&self, image: &ImageRef) -> Result<Option<ImageRecord>> {
        self.records.remove(&image.to_string())
    }

    /// The verified bytes of a wasm module.
    pub fn module_bytes(&self, module: &Digest) -> Result<Vec<u8>> {
        self.blobs.read(module)
    }

    /// Applies the pull policy, pulls if needed, and prepares the image for a container.
    pub async fn ensure(&self, image: &ImageRef, policy: PullPolicy, keys: &Keyring, progress: &dyn Progress) -> Result<LocalImage> {
        let record = match policy.decide(self.get(image).is_some()) {
            PullDecision::Pull => self.pull(image, keys, progress).await?.record,
            PullDecision::UseLocal => self.get(image).ok_or_else(|| ImageError::NotPresent(image.to_string()))?,
            PullDecision::FailNeverPull => return Err(ImageError::NotPresent(image.to_string())),
        };
        self.records.touch(&record.name, now())?;
        self.prepare(&record).await
    }

    /// Unpacks (or reuses) what the image needs to run.
    pub async fn prepare(&self, record: &ImageRecord) -> Result<LocalImage> {
        let _shared = self.gc_lock.read().await;
        let content = match &record.kind {
            ImageKind::Wasm { module } => Content::Wasm { module: module.clone() },
            ImageKind::Rootfs { diff_ids } => {
                let layers = layer_sources(&record.layers, diff_ids)?;
                Content::Rootfs(self.snapshots.prepare(&self.blobs, &layers).await?)
            }
        };
        Ok(LocalImage { record: record.clone(), content })
    }

    /// Pulls `image` from its registry with credentials from `keys`.
    pub async fn pull(&self, image: &ImageRef, keys: &Keyring, progress: &dyn Progress) -> Result<PullOutcome> {
        let _shared = self.gc_lock.read().await;
        let remote = Remote::connect(&self.options, image, &keys.lookup(image.registry()));
        let resolved = remote.resolve(&self.options.platform).await?;
        let counts = Counts::default();
        let config_desc = &resolved.manifest.config;
        let blobs: Vec<&Descriptor> = std::iter::once(config_desc).chain(&resolved.manifest.layers).collect();
        try_join_all(blobs.iter().map(|d| self.fetch_blob(&remote, d, &counts, progress))).await?;
        self.blobs.write_bytes(Some(&resolved.manifest_digest), &resolved.manifest_bytes)?;
        let record = self.record(image.to_string(), &resolved).await?;
        self.records.put(record.clone())?;
        Ok(PullOutcome { record, downloaded: counts.downloaded.into_inner(), reused: counts.reused.into_inner() })
    }

    async fn fetch_blob(&self, remote: &Remote, desc: &Descriptor, counts: &Counts, progress: &dyn Progress) -> Result<()> {
        let _one_fetch = self.blobs.lock(&desc.digest).await;
        if self.blobs.contains(&desc.digest) {
            counts.reused.fetch_add(1, Ordering::Relaxed);
            progress.started(&desc.digest, desc.size, true);
            progress.finished(&desc.digest);
            return Ok(());
        }
        progress.started(&desc.digest, desc.size, false);
        let stream = remote.blob(desc).await?;
        self.blobs.write_stream(&desc.digest, Some(desc.size), stream, |n| progress.advanced(&desc.digest, n)).await?;
        counts.downloaded.fetch_add(1, Ordering::Relaxed);
        progress.finished(&desc.digest);
        Ok(())
    }

    /// Builds the record of an image whose blobs are all stored: reads its config and decides
    /// whether it is a wasm module or a root filesystem.
    pub(crate) async fn record(&self, name: String, resolved: &Resolved) -> Result<ImageRecord> {
        let manifest = &resolved.manifest;
        let config = ConfigFile::parse(&self.blobs.read(&manifest.config.digest)?)?;
        let run = config.config.clone().unwrap_or_default();
        let kind = self.classify(manifest, &config).await?;
        let now = now();
        Ok(ImageRecord {
            name,
            manifest_digest: resolved.manifest_digest.clone(),
            index_digest: resolved.index_digest.clone(),
            config_digest: manifest.config.digest.clone(),
            layers: manifest.layers.clone(),
            kind,
            run,
            pulled_at: now,
            last_used: now,
        })
    }

    async fn classify(&self, manifest: &Manifest, config: &ConfigFile) -> Result<ImageKind> {
        if let Some(module) = wasm::artifact_module(manifest) {
            return Ok(ImageKind::Wasm { module: module.clone() });
        }
        let diff_ids = config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
        let layers = layer_sources(&manifest.layers, &diff_ids)?;
        let run = config.config.clone().unwrap_or_default();
        if let ([only], Some(entry)) = (layers.as_slice(), wasm::wasm_entrypoint(&run)) {
            let path = self.blobs.path(&only.blob);
            let (compression, entry) = (only.compression, entry.to_owned());
            let found = tokio::task::spawn_blocking(move || {
                let file = std::fs::File::open(&path)?;
                wasm::single_module_in_layer(std::io::BufReader::new(file), compression, &entry)
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| ImageError::Layer { layer: only.blob.clone(), source })?;
            if let Some(bytes) = found {
                return Ok(ImageKind::Wasm { module: self.blobs.write_bytes(None, &bytes)? });
            }
        }
        Ok(ImageKind::Rootfs { diff_ids })
    }
}

#[derive(Default)]
struct Counts {
    downloaded: AtomicUsize,
    reused: AtomicUsize,
}

/// Pairs each layer with its diff id; the config must list exactly one per layer.
fn layer_sources(layers: &[Descriptor], diff_ids: &[Digest]) -> Result<Vec<LayerSource>> {
    if layers.len() != diff_ids.len() {
        return Err(ImageError::malformed(
            "image config",
            format!("{} layers but {} diff ids", layers.len(), diff_ids.len()),
        ));
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| {
            let compression = Compression::of_layer(&layer.media_type)
                .ok_or_else(|| ImageError::UnsupportedMediaType(layer.media_type.clone()))?;
            Ok(LayerSource { blob: layer.digest.clone(), compression, diff_id: diff_id.clone() })
        })
        .collect()
}
