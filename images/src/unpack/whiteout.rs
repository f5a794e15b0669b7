//! Overlayfs whiteouts. A layer unpacked into its own directory (to be an overlay lowerdir) says
//! "this lower entry is gone" with a 0/0 character device in its place, and "this directory hides
//! everything the layers below have in it" with the `trusted.overlay.opaque=y` xattr: the forms
//! the kernel reads. Writing either needs root (CAP_MKNOD, CAP_SYS_ADMIN), as overlay mounts do.

use std::io;
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use super::fsutil::remove_any;

/// The xattr that makes an overlay directory opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Replaces whatever is at `path` (never following a symlink there) with a whiteout.
pub fn write_whiteout(path: &Path) -> io::Result<()> {
    remove_any(path)?;
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(io::Error::from)
}

/// Marks the directory `dir` opaque.
pub fn mark_opaque(dir: &Path) -> io::Result<()> {
    xattr::set(dir, OPAQUE_XATTR, b"y")
}

/// Whether `meta` describes a whiteout.
#[cfg(test)]
pub fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether the directory `dir` is marked opaque (an unreadable xattr counts as not opaque).
pub fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_replace_entries_and_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir_all(victim.join("inner")).unwrap();
        write_whiteout(&victim).unwrap();
        assert!(is_whiteout(&std::fs::symlink_metadata(&victim).unwrap()));
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(!is_whiteout(&std::fs::symlink_metadata(&file).unwrap()));
    }

    #[test]
    fn opaque_marks_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_opaque(dir.path()));
        mark_opaque(dir.path()).unwrap();
        assert!(is_opaque(dir.path()));
    }
}
