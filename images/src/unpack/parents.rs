//! Missing parent directories of a layer entry. A layer unpacked onto its parent's tree finds
//! them there; a layer unpacked into its own overlay directory often does not (tars need not list
//! unchanged parents), and a directory created with default metadata would override the lower
//! layers' owner and mode in the merged view. So each one takes the owner and mode the same
//! directory has in the layers below, as the merged view would show it.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::fsutil::chown;
use super::whiteout::is_opaque;

/// Creates the missing directories between `root` and `dir` (which must lie inside `root`).
/// `lowers` are the layers below, top first. Owners are set at once; the modes to set are
/// returned, for the caller to apply once the layer's entries are written (a read-only directory
/// must still receive them).
pub fn create_parents(root: &Path, dir: &Path, lowers: &[PathBuf]) -> io::Result<Vec<(PathBuf, u32)>> {
    let relative = dir.strip_prefix(root).map_err(|_| io::Error::other("parent directory outside the layer root"))?;
    let mut visible: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
    let mut sub = PathBuf::new();
    let mut modes = Vec::new();
    for component in relative.components() {
        sub.push(component);
        let (lower_meta, below) = merged_dir(&visible, &sub);
        visible = below;
        let path = root.join(&sub);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{} is not a directory", sub.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir(&path)?;
        if let Some(meta) = lower_meta {
            chown(&path, (Some(meta.uid().into()), Some(meta.gid().into())));
            modes.push((path, meta.mode() & 0o7777));
        }
    }
    Ok(modes)
}

/// How the lower layers show `sub`, given the layers in which its parent is visible: the topmost
/// directory's metadata (`None` when no layer shows a directory there) and the layers in which
/// `sub` is a visible directory, top first. A whiteout or file hides the layers below it, and so
/// does an opaque directory.
fn merged_dir<'a>(visible: &[&'a Path], sub: &Path) -> (Option<Metadata>, Vec<&'a Path>) {
    let mut top = None;
    let mut below = Vec::new();
    for lower in visible {
        let path = lower.join(sub);
        // Every prefix of `sub` is a real directory in `lower` (that is what visible means), so
        // this never passes through a symlink.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.is_dir() {
            // A whiteout, file or symlink: the layers below are hidden here.
            break;
        }
        below.push(*lower);
        let opaque = is_opaque(&path);
        top.get_or_insert(meta);
        if opaque {
            break;
        }
    }
    (top, below)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::whiteout::{mark_opaque, write_whiteout};
    use std::os::unix::fs::PermissionsExt;

    fn dir_with_mode(path: &Path, mode: u32) {
        std::fs::create_dir_all(path).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn missing_parents_take_the_topmost_lower_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let (root, upper_lower, bottom) = (dir.path().join("root"), dir.path().join("l1"), dir.path().join("l0"));
        std::fs::create_dir(&root).unwrap();
        dir_with_mode(&bottom.join("a/b"), 0o700);
        dir_with_mode(&upper_lower.join("a"), 0o750);
        std::os::unix::fs::lchown(bottom.join("a/b"), Some(1000), Some(1000)).unwrap();
        let modes = create_parents(&root, &root.join("a/b/c"), &[upper_lower, bottom]).unwrap();
        assert_eq!(modes, vec![(root.join("a"), 0o750), (root.join("a/b"), 0o700)]);
        assert_eq!(std::fs::metadata(root.join("a/b")).unwrap().uid(), 1000);
        assert!(root.join("a/b/c").is_dir(), "a directory no layer has is created with defaults");
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let (root, top, bottom) = (dir.path().join("root"), dir.path().join("top"), dir.path().join("bottom"));
        std::fs::create_dir(&root).unwrap();
        dir_with_mode(&bottom.join("gone"), 0o700);
        dir_with_mode(&bottom.join("opaque/inner"), 0o700);
        std::fs::create_dir_all(&top).unwrap();
        write_whiteout(&top.join("gone")).unwrap();
        dir_with_mode(&top.join("opaque"), 0o755);
        mark_opaque(&top.join("opaque")).unwrap();
        let lowers = [top, bottom];
        assert!(create_parents(&root, &root.join("gone"), &lowers).unwrap().is_empty());
        let modes = create_parents(&root, &root.join("opaque/inner"), &lowers).unwrap();
        assert_eq!(modes, vec![(root.join("opaque"), 0o755)], "inner is hidden by the opaque directory");
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let err = create_parents(dir.path(), &dir.path().join("f/g"), &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory);
    }
}
