//! Copies a snapshot tree to start the next one: regular files, directories and symlinks with
//! their modes and owners. Symlinks are copied as links, never followed.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Copies the tree at `from` to the new path `to`.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let kind = meta.file_type();
    if kind.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    } else if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if kind.is_file() {
        std::fs::copy(from, to)?;
    } else {
        return Ok(()); // special files are never unpacked in the first place
    }
    let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    if kind.is_file() {
        // chown clears setuid/setgid; put the mode back.
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_dirs_and_links_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("bin/tool"), b"t").unwrap();
        std::fs::set_permissions(src.join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("/nonexistent", src.join("dangling")).unwrap();
        copy_tree(&src, &dir.path().join("dst")).unwrap();
        let dst = dir.path().join("dst");
        assert_eq!(std::fs::read(dst.join("bin/tool")).unwrap(), b"t");
        assert_eq!(std::fs::metadata(dst.join("bin/tool")).unwrap().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read_link(dst.join("dangling")).unwrap(), Path::new("/nonexistent"));
    }
}
