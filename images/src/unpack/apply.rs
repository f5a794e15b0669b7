//! Applies one layer tarball onto a directory: regular files, directories, symlinks and
//! hardlinks, and OCI whiteouts (`.wh.<name>` removes a lower entry, `.wh..wh..opq` hides a whole
//! lower directory), all through `paths` so that no entry can write outside the directory.
//! Whiteouts either delete from the parent's tree the layer lands on, or become overlayfs
//! whiteouts in a layer directory of its own (see [`LayerTarget`]).
//! Device nodes and fifos are skipped: containers get `/dev` from the runtime.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};
use tar::EntryType;

use super::fsutil::{chown, remove_any};
use super::parents::create_parents;
use super::paths::{entry_components, resolve_in_root};
use super::whiteout::{mark_opaque, write_whiteout};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::manifest::Compression;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Where a layer is unpacked, which decides what its whiteouts become.
#[derive(Clone, Copy, Debug)]
pub enum LayerTarget<'a> {
    /// Onto a copy of the tree below it: whiteouts delete from that tree.
    Merged,
    /// Into an empty directory of its own, to be an overlay lowerdir above `lowers` (the layers
    /// below, top first): whiteouts become overlay whiteouts, and missing parent directories take
    /// the lower layers' owner and mode.
    OverlayDiff { lowers: &'a [PathBuf] },
}

/// Unpacks `blob` (a layer of `compression`) onto `root` and returns the layer's diff id: the
/// sha256 of the uncompressed tar, which the caller checks against the image config.
pub fn apply_layer(root: &Path, blob: impl Read, compression: Compression, layer: &Digest, target: LayerTarget<'_>) -> Result<Digest> {
    let decompressed: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
    };
    let mut hashing = HashingReader { inner: decompressed, hasher: Sha256::new() };
    let layer_err = |source: io::Error| ImageError::Layer { layer: layer.clone(), source };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let mut applier = Applier { root, layer, target, written: HashSet::new(), dirs: Vec::new() };
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
    target: LayerTarget<'a>,
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
            return self.opaque(&parent).map_err(|e| self.layer_err(e));
        }
        if let Some(hidden) = last_str.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(unsafe_path("malformed whiteout"));
            }
            return self.whiteout(&parent, hidden).map_err(|e| self.layer_err(e));
        }

        let dest = parent.join(last);
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let owner = (header.uid().ok(), header.gid().ok());
        let mtime = header.mtime().ok();
        let kind = header.entry_type();
        self.create_parents(&parent).map_err(|e| self.layer_err(e))?;

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

    fn create_parents(&mut self, dir: &Path) -> io::Result<()> {
        let lowers = match self.target {
            LayerTarget::Merged => &[][..],
            LayerTarget::OverlayDiff { lowers } => lowers,
        };
        let modes = create_parents(self.root, dir, lowers)?;
        self.dirs.extend(modes);
        Ok(())
    }

    /// `.wh.<hidden>` in `parent`.
    fn whiteout(&mut self, parent: &Path, hidden: &str) -> io::Result<()> {
        match self.target {
            LayerTarget::Merged => remove_any(&parent.join(hidden)),
            LayerTarget::OverlayDiff { .. } => {
                self.create_parents(parent)?;
                write_whiteout(&parent.join(hidden))
            }
        }
    }

    /// `.wh..wh..opq` in `dir`.
    fn opaque(&mut self, dir: &Path) -> io::Result<()> {
        match self.target {
            LayerTarget::Merged => self.hide_lower_children(dir),
            LayerTarget::OverlayDiff { .. } => {
                // Only lower layers are hidden: what this layer puts in `dir` stays, whichever
                // side of the marker the tar lists it.
                self.create_parents(dir)?;
                mark_opaque(dir)
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

    /// Sets the deferred directory modes, deepest (latest listed) first. A directory listed
    /// twice gets its latest mode: the tar's own entry wins over the one taken from lower layers.
    fn finish_dirs(&mut self) {
        let mut done = HashSet::new();
        for (dir, mode) in self.dirs.drain(..).rev() {
            if done.insert(dir.clone()) {
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
            }
        }
    }

    fn layer_err(&self, source: io::Error) -> ImageError {
        ImageError::Layer { layer: self.layer.clone(), source }
    }
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
