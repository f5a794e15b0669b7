//! Small filesystem operations shared by layer application and snapshots, none of which follows a
//! symlink at the path it is given.

use std::io;
use std::path::Path;

/// Removes a file, symlink, whiteout or directory tree at `path`; a missing path is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Ownership only sticks when we run as root; as another user the layer's owners are dropped.
pub fn chown(path: &Path, (uid, gid): (Option<u64>, Option<u64>)) {
    let id = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
    let _ = std::os::unix::fs::lchown(path, id(uid), id(gid));
}
