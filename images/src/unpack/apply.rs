//! Applies one layer tarball onto a directory: regular files, directories, symlinks and
//! hardlinks, OCI whiteouts (`.wh.<name>` removes a lower entry, `.wh..wh..opq` hides a whole
//! lower directory), all through `paths` so that no entry can write outside the directory.
//! Device nodes and fifos are skipped: containers get `/dev` from the runtime.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};
use tar::EntryType;

use super::paths::{entry_components, resolve_in_root};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::manifest::Compression;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Unpacks `blob` (a layer of `compression`) onto `root` and returns the layer's diff id: the
/// sha256 of the uncompressed tar, which the caller checks against the image config.
pub fn apply_layer(root: &Path, blob: impl Read, compression: Compression, layer: &Digest) -> Result<Digest> {
    let decompressed: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
    };
    let mut hashing = HashingReader { inner: decompressed, hasher: Sha256::new() };
    let layer_err = |source: io::Error| ImageError::Layer { layer: layer.clone(), source };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let mut applier = Applier { root, layer, written: HashSet::new(), dirs: Vec::new() };
        for entry in archive.entries().map_err(layer_err)? {
            applier.apply(entry.map_err(layer_err)?)?;
        }
        applier.finish_dirs();
    }
    // The tar reader stops at the end-of-archive marker; hash any trailing padding too.
    io::copy(&mut hashing, &mut io::sink()).map_err(layer_err)?;
    Ok(Digest::from_hasher(hashing.hasher))
}

struct Applier<'a> {
    root: &'a Path,
    layer: &'a Digest,
    /// Paths this layer created: an opaque whiteout hides everything else in its directory.
    written: HashSet<PathBuf>,
    /// Directory modes, applied last so a read-only directory can still receive its entries.
    dirs: Vec<(PathBuf, u32)>,
}

impl Applier<'_> {
    fn apply<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let name = entry.path().map_err(|e| self.layer_err(e))?.into_owned();
        let shown = name.display().to_string();
        let unsafe_path = |reason| ImageError::UnsafePath { layer: self.layer.clone(), entry: shown.clone(), reason };
        let components = entry_components(&name).map_err(unsafe_path)?;
        let Some((last, parents)) = components.split_last() else {
            return Ok(()); // the root directory itself
        };
        let parent = resolve_in_root(self.root, parents).map_err(|e| self.layer_err(e))?;
        let last_str = last.to_string_lossy();

        if last_str == OPAQUE_MARKER {
            return self.hide_lower_children(&parent).map_err(|e| self.layer_err(e));
        }
        if let Some(hidden) = last_str.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(unsafe_path("malformed whiteout"));
            }
            return remove_any(&parent.join(hidden)).map_err(|e| self.layer_err(e));
        }

        let dest = parent.join(last);
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let owner = (header.uid().ok(), header.gid().ok());
        let mtime = header.mtime().ok();
        let kind = header.entry_type();
        std::fs::create_dir_all(&parent).map_err(|e| self.layer_err(e))?;

        match kind {
            EntryType::Directory => {
                if !std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
                    remove_any(&dest).map_err(|e| self.layer_err(e))?;
                    std::fs::create_dir(&dest).map_err(|e| self.layer_err(e))?;
                }
                chown(&dest, owner);
                self.dirs.push((dest.clone(), mode));
            }
            EntryType::Regular | EntryType::Continuous => {
                remove_any(&dest).map_err(|e| self.layer_err(e))?;
                // create_new never follows a symlink at `dest` (we just removed whatever was there).
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .map_err(|e| self.layer_err(e))?;
                io::copy(&mut entry, &mut file).map_err(|e| self.layer_err(e))?;
                if let Some(secs) = mtime {
                    let _ = file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
                }
                drop(file);
                chown(&dest, owner);
                // After chown, which clears setuid bits.
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).map_err(|e| self.layer_err(e))?;
            }
            EntryType::Symlink => {
                // The target is stored verbatim and never followed here; it means a path inside
                // the container, where the runtime's pivot_root confines it.
                let target = entry.link_name().map_err(|e| self.layer_err(e))?.ok_or_else(|| unsafe_path("symlink without target"))?;
                remove_any(&dest).map_err(|e| self.layer_err(e))?;
                std::os::unix::fs::symlink(&target, &dest).map_err(|e| self.layer_err(e))?;
                chown(&dest, owner);
            }
            EntryType::Link => {
                let target = entry.link_name().map_err(|e| self.layer_err(e))?.ok_or_else(|| unsafe_path("hardlink without target"))?;
                let target_components = entry_components(&target).map_err(unsafe_path)?;
                let Some((target_last, target_parents)) = target_components.split_last() else {
                    return Err(unsafe_path("hardlink to the root"));
                };
                let source = resolve_in_root(self.root, target_parents).map_err(|e| self.layer_err(e))?.join(target_last);
                match std::fs::symlink_metadata(&source) {
                    Ok(meta) if !meta.is_dir() => {}
                    Ok(_) => return Err(unsafe_path("hardlink to a directory")),
                    Err(_) => return Err(unsafe_path("hardlink to a missing file")),
                }
                if source != dest {
                    remove_any(&dest).map_err(|e| self.layer_err(e))?;
                    // linkat without AT_SYMLINK_FOLLOW: a symlink source is linked as the symlink itself.
                    std::fs::hard_link(&source, &dest).map_err(|e| self.layer_err(e))?;
                }
            }
            other => {
                tracing::debug!(layer = %self.layer, entry = %shown, kind = ?other, "skipping special file");
                return Ok(());
            }
        }
        self.mark_written(&dest);
        Ok(())
    }

    fn mark_written(&mut self, dest: &Path) {
        for ancestor in dest.ancestors() {
            if ancestor == self.root || !self.written.insert(ancestor.to_path_buf()) {
                break;
            }
        }
    }

    /// Removes everything under `dir` that this layer did not create.
    fn hide_lower_children(&self, dir: &Path) -> io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if !self.written.contains(&path) {
                remove_any(&path)?;
            } else if std::fs::symlink_metadata(&path)?.is_dir() {
                self.hide_lower_children(&path)?;
            }
        }
        Ok(())
    }

    fn finish_dirs(&mut self) {
        for (dir, mode) in self.dirs.drain(..).rev() {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
        }
    }

    fn layer_err(&self, source: io::Error) -> ImageError {
        ImageError::Layer { layer: self.layer.clone(), source }
    }
}

/// Removes a file, symlink or directory tree at `path` without following a symlink there.
fn remove_any(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Ownership only sticks when we run as root; as another user the layer's owners are dropped.
fn chown(path: &Path, (uid, gid): (Option<u64>, Option<u64>)) {
    let id = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
    let _ = std::os::unix::fs::lchown(path, id(uid), id(gid));
}

/// Hashes what is read through it (the diff id of the uncompressed layer).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
