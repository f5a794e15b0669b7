//! The content-addressed blob store: `blobs/sha256/<hex>`, each file written once, verified
//! against its digest before it gets its final name. Partial writes live in `blobs/tmp/` under
//! names that never look like a blob, and are removed on failure and on every open.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// Blobs by digest, shared by every image on the node.
pub struct BlobStore {
    root: PathBuf,
    /// One async lock per digest being fetched, so concurrent pulls download each blob once.
    in_flight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

/// Deletes a temp file unless it was renamed into place (any early return or panic).
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl BlobStore {
    /// Opens (creating) the store under `root`, discarding leftovers of interrupted writes.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(ImageError::io(&tmp))?;
        }
        for dir in [root.join("sha256"), tmp] {
            std::fs::create_dir_all(&dir).map_err(ImageError::io(&dir))?;
        }
        Ok(Self { root, in_flight: Mutex::default() })
    }

    /// Where the blob `digest` lives (whether or not it is present).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// Whether the blob is present (present blobs were verified when written).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Serialises work on one digest: hold the guard while checking `contains` and writing.
    pub async fn lock(&self, digest: &Digest) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(digest.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Streams a blob into the store, calling `on_bytes` with each chunk's length. The bytes are
    /// hashed as they arrive; a digest mismatch or a stream error leaves nothing behind.
    /// `expected_size` lets a source that fails after its last byte (a verifying HTTP stream)
    /// still be reported as the digest mismatch it is, from our own hash.
    pub async fn write_stream<S, E>(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
        mut stream: S,
        mut on_bytes: impl FnMut(u64),
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<ImageError>,
    {
        let (tmp_path, guard) = self.temp_path(expected);
        let mut file = tokio::fs::File::create(&tmp_path).await.map_err(ImageError::io(&tmp_path))?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) if expected_size == Some(received) => {
                    let actual = Digest::from_hasher(hasher);
                    if actual != *expected {
                        return Err(ImageError::DigestMismatch { expected: expected.clone(), actual });
                    }
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            };
            received += chunk.len() as u64;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(ImageError::io(&tmp_path))?;
            on_bytes(chunk.len() as u64);
        }
        file.sync_all().await.map_err(ImageError::io(&tmp_path))?;
        drop(file);
        self.commit(expected, Digest::from_hasher(hasher), guard)
    }

    /// Stores bytes already in memory; with `expected`, they must hash to it.
    pub fn write_bytes(&self, expected: Option<&Digest>, bytes: &[u8]) -> Result<Digest> {
        let actual = Digest::of(bytes);
        if let Some(expected) = expected.filter(|e| **e != actual) {
            return Err(ImageError::DigestMismatch { expected: expected.clone(), actual });
        }
        if self.contains(&actual) {
            return Ok(actual);
        }
        let (tmp_path, guard) = self.temp_path(&actual);
        std::fs::write(&tmp_path, bytes).map_err(ImageError::io(&tmp_path))?;
        self.commit(&actual, actual.clone(), guard)?;
        Ok(actual)
    }

    /// Copies a file into the store, verifying it hashes to `expected` (import from layouts).
    pub fn write_file(&self, expected: &Digest, source: &Path) -> Result<()> {
        if self.contains(expected) {
            return Ok(());
        }
        let (tmp_path, guard) = self.temp_path(expected);
        let mut input = std::fs::File::open(source).map_err(ImageError::io(source))?;
        let mut output = std::fs::File::create(&tmp_path).map_err(ImageError::io(&tmp_path))?;
        let mut hashing = HashingWriter { inner: &mut output, hasher: Sha256::new() };
        std::io::copy(&mut input, &mut hashing).map_err(ImageError::io(source))?;
        let actual = Digest::from_hasher(hashing.hasher);
        drop(output);
        self.commit(expected, actual, guard)
    }

    /// Reads a whole blob, checking it still hashes to its name (config and wasm modules are
    /// small; this catches on-disk corruption before the bytes are used).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.path(digest);
        let bytes = std::fs::read(&path).map_err(ImageError::io(&path))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(ImageError::DigestMismatch { expected: digest.clone(), actual });
        }
        Ok(bytes)
    }

    /// Every blob with its size in bytes.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let dir = self.root.join("sha256");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(ImageError::io(&dir))? {
            let entry = entry.map_err(ImageError::io(&dir))?;
            let Some(digest) = entry.file_name().to_str().and_then(|n| format!("sha256:{n}").parse().ok()) else {
                continue;
            };
            let size = entry.metadata().map_err(ImageError::io(entry.path()))?.len();
            out.push((digest, size));
        }
        Ok(out)
    }

    /// Removes a blob; a missing blob is not an error.
    pub fn remove(&self, digest: &Digest) -> Result<()> {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ImageError::io(path)(e)),
            _ => Ok(()),
        }
    }

    fn temp_path(&self, digest: &Digest) -> (PathBuf, TempFile) {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.root.join("tmp").join(format!("{}-{}-{n}.partial", digest.hex(), std::process::id()));
        (path.clone(), TempFile(Some(path)))
    }

    /// Renames a verified temp file to its digest name; the rename is atomic, so a blob path
    /// either does not exist or holds the complete, verified bytes.
    fn commit(&self, expected: &Digest, actual: Digest, mut guard: TempFile) -> Result<()> {
        if actual != *expected {
            return Err(ImageError::DigestMismatch { expected: expected.clone(), actual });
        }
        let Some(tmp) = guard.0.take() else { return Ok(()) };
        let dest = self.path(expected);
        std::fs::rename(&tmp, &dest).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ImageError::io(&dest)(e)
        })
    }
}

/// Hashes what passes through it.
struct HashingWriter<'a, W> {
    inner: &'a mut W,
    hasher: Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = std::result::Result<Bytes, ImageError>> + Unpin {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    fn tmp_is_empty(dir: &Path) -> bool {
        std::fs::read_dir(dir.join("tmp")).unwrap().next().is_none()
    }

    #[tokio::test]
    async fn verified_stream_gets_its_digest_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello world");
        let mut seen = 0;
        store.write_stream(&d, Some(11), chunks(&[b"hello ", b"world"]), |n| seen += n).await.unwrap();
        assert_eq!(seen, 11);
        assert_eq!(store.read(&d).unwrap(), b"hello world");
        assert!(tmp_is_empty(dir.path()));
    }

    #[tokio::test]
    async fn mismatching_stream_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = Digest::of(b"expected");
        let err = store.write_stream(&d, None, chunks(&[b"tampered"]), |_| {}).await.unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!store.contains(&d));
        assert!(tmp_is_empty(dir.path()));
    }

    #[tokio::test]
    async fn interrupted_stream_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = Digest::of(b"whole");
        let broken = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"wh")),
            Err(ImageError::io("network")(std::io::Error::other("connection reset"))),
        ]);
        assert!(store.write_stream(&d, Some(5), broken, |_| {}).await.is_err());
        assert!(!store.contains(&d));
        assert!(tmp_is_empty(dir.path()));
    }

    #[test]
    fn on_disk_corruption_is_caught_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.write_bytes(None, b"config").unwrap();
        std::fs::write(store.path(&d), b"CONFIG").unwrap();
        assert!(matches!(store.read(&d), Err(ImageError::DigestMismatch { .. })));
    }

    #[test]
    fn open_discards_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        BlobStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("tmp/abc.partial"), b"x").unwrap();
        BlobStore::open(dir.path()).unwrap();
        assert!(tmp_is_empty(dir.path()));
    }
}
