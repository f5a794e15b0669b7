//! Overlayfs mounts of layer directories, and the probe that decides whether this node can use
//! them at all (the kernel may lack overlay, the data dir's filesystem may not take an upper dir,
//! and only root may mount it or write its whiteouts).

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::whiteout::{mark_opaque, write_whiteout};

/// The kernel copies at most one page of legacy mount options.
const MAX_OPTIONS: usize = 4095;

/// Mounts an overlay at `target`: `lowers` read-only, top first, with writes going to `upper`
/// (`work` is overlayfs' scratch directory, on the same filesystem as `upper`).
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    let options = options(lowers, upper, work)?;
    mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(options.as_str())).map_err(io::Error::from)
}

/// Unmounts the overlay at `target`. A target that is missing or not mounted is not an error
/// (and needs no privilege).
pub fn unmount(target: &Path) -> io::Result<()> {
    if !is_overlay_mounted(target) {
        return Ok(());
    }
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a filesystem is mounted at `path`: every overlay mount has a device of its own, so
/// the path and its parent differ.
fn is_overlay_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.dev());
    match (dev(path), dev(&path.join(".."))) {
        (Ok(own), Ok(parent)) => own != parent,
        _ => false,
    }
}

/// The mount options. Paths holding the option syntax's separators are refused rather than
/// escaped: they come from the data dir, and a clear error beats a subtly wrong mount.
fn options(lowers: &[PathBuf], upper: &Path, work: &Path) -> io::Result<String> {
    if lowers.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an overlay needs at least one lower directory"));
    }
    let plain = |p: &Path| -> io::Result<String> {
        let s = p.to_str().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{p:?} is not UTF-8")))?;
        if s.contains([',', ':', '\\']) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{s:?} contains ',', ':' or '\\'")));
        }
        Ok(s.to_owned())
    };
    let lowerdir = lowers.iter().map(|l| plain(l)).collect::<io::Result<Vec<_>>>()?.join(":");
    let options = format!("lowerdir={lowerdir},upperdir={},workdir={}", plain(upper)?, plain(work)?);
    if options.len() > MAX_OPTIONS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} layers make {} bytes of overlay options, over the kernel's {MAX_OPTIONS}", lowers.len(), options.len()),
        ));
    }
    Ok(options)
}

/// Whether overlay works in `scratch` (created, then removed), exercising what snapshots rely on:
/// two lower layers, a whiteout and an opaque directory in the upper one, writes to the upper
/// dir. `Err` says why not.
pub fn probe(scratch: &Path) -> io::Result<()> {
    std::fs::create_dir_all(scratch)?;
    let result = probe_in(scratch);
    let _ = unmount(&scratch.join("merged"));
    let _ = std::fs::remove_dir_all(scratch);
    result
}

fn probe_in(dir: &Path) -> io::Result<()> {
    let [bottom, top, upper, work, merged] = ["bottom", "top", "upper", "work", "merged"].map(|d| dir.join(d));
    for d in [&bottom, &top, &upper, &work, &merged] {
        std::fs::create_dir(d)?;
    }
    std::fs::write(bottom.join("kept"), b"k")?;
    std::fs::write(bottom.join("gone"), b"g")?;
    std::fs::create_dir(bottom.join("opaque"))?;
    std::fs::write(bottom.join("opaque/hidden"), b"h")?;
    write_whiteout(&top.join("gone"))?;
    std::fs::create_dir(top.join("opaque"))?;
    mark_opaque(&top.join("opaque"))?;
    mount_overlay(&[top, bottom], &upper, &work, &merged)?;
    let checks = (|| {
        let shows = |p: &str| merged.join(p).symlink_metadata().is_ok();
        if !shows("kept") || shows("gone") || shows("opaque/hidden") {
            return Err(io::Error::other("the merged view ignores whiteouts or opaque directories"));
        }
        std::fs::write(merged.join("written"), b"w")?;
        if !upper.join("written").is_file() {
            return Err(io::Error::other("a write did not reach the upper directory"));
        }
        Ok(())
    })();
    unmount(&merged)?;
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_list_lowers_top_first_and_refuse_separators() {
        let lowers = [PathBuf::from("/s/top"), PathBuf::from("/s/bottom")];
        let opts = options(&lowers, Path::new("/c/upper"), Path::new("/c/work")).unwrap();
        assert_eq!(opts, "lowerdir=/s/top:/s/bottom,upperdir=/c/upper,workdir=/c/work");
        assert!(options(&[PathBuf::from("/a:b")], Path::new("/u"), Path::new("/w")).is_err());
        assert!(options(&[PathBuf::from("/a")], Path::new("/u,x"), Path::new("/w")).is_err());
        assert!(options(&[], Path::new("/u"), Path::new("/w")).is_err());
    }

    #[test]
    fn too_many_layers_for_one_page_are_refused() {
        let lowers: Vec<PathBuf> = (0..100).map(|i| PathBuf::from(format!("/data/images/snapshots/{i:064}/diff"))).collect();
        let err = options(&lowers, Path::new("/u"), Path::new("/w")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn probe_cleans_up_after_itself() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("probe");
        // Whether overlay works depends on the machine; either way nothing is left behind.
        let _ = probe(&scratch);
        assert!(!scratch.exists());
    }
}
