//! The list of images on the node (`images/records.json`): name → manifest, config, layers, what
//! the image is (wasm module or rootfs) and when it was pulled and last used. Written atomically
//! (temp file + rename) so a crash never leaves a torn list.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::manifest::{Descriptor, RunConfig};

/// What an image holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ImageKind {
    /// A wasm module, stored as the blob `module`.
    Wasm { module: Digest },
    /// A Linux root filesystem made of the layers (diff ids bottom first).
    Rootfs { diff_ids: Vec<Digest> },
}

/// One image known to the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// The normalised reference it was pulled or imported as.
    pub name: String,
    pub manifest_digest: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    pub config_digest: Digest,
    pub layers: Vec<Descriptor>,
    pub kind: ImageKind,
    /// Entrypoint, cmd, env, working dir, user and exposed ports.
    pub run: RunConfig,
    /// Unix seconds.
    pub pulled_at: u64,
    pub last_used: u64,
}

impl ImageRecord {
    /// Every blob the image needs kept.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        let module = match &self.kind {
            ImageKind::Wasm { module } => Some(module),
            ImageKind::Rootfs { .. } => None,
        };
        [&self.manifest_digest, &self.config_digest].into_iter().chain(self.layers.iter().map(|l| &l.digest)).chain(module)
    }

    /// Compressed size of the layers, as registries report it.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// The persisted list.
pub struct Records {
    path: PathBuf,
    by_name: Mutex<BTreeMap<String, ImageRecord>>,
}

impl Records {
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let by_name = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ImageError::malformed("image records", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ImageError::io(&path)(e)),
        };
        Ok(Self { path, by_name: Mutex::new(by_name) })
    }

    pub fn get(&self, name: &str) -> Option<ImageRecord> {
        let mut map = self.lock();
        if let Some(r) = map.get(name) {
            return Some(r.clone());
        }
        // Another process (`wasmkube images import` beside a running node) may
        // have recorded it since this one loaded the file.
        let on_disk: BTreeMap<String, ImageRecord> =
            std::fs::read(&self.path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        for (k, v) in on_disk {
            map.entry(k).or_insert(v);
        }
        map.get(name).cloned()
    }

    pub fn all(&self) -> Vec<ImageRecord> {
        self.lock().values().cloned().collect()
    }

    pub fn put(&self, record: ImageRecord) -> Result<()> {
        let mut map = self.lock();
        map.insert(record.name.clone(), record);
        self.save(&map)
    }

    pub fn remove(&self, name: &str) -> Result<Option<ImageRecord>> {
        let mut map = self.lock();
        let removed = map.remove(name);
        self.save(&map)?;
        Ok(removed)
    }

    /// Marks an image used now (GC removes the least recently used first).
    pub fn touch(&self, name: &str, now: u64) -> Result<()> {
        let mut map = self.lock();
        if let Some(r) = map.get_mut(name) {
            r.last_used = now;
        }
        self.save(&map)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ImageRecord>> {
        self.by_name.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn save(&self, map: &BTreeMap<String, ImageRecord>) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(map).map_err(|e| ImageError::malformed("image records", e))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes).map_err(ImageError::io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(ImageError::io(&self.path))
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
