//! Memory-backed directories: secret volumes (whose files must never reach
//! the node's disk) and `emptyDir` with `medium: Memory`.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::VolumeError;

/// Mounts a tmpfs at `dir` unless one is already there (an agent restart).
pub fn mount_tmpfs(dir: &Path, size_bytes: Option<u64>) -> Result<(), VolumeError> {
    std::fs::create_dir_all(dir).map_err(VolumeError::io(dir))?;
    if is_tmpfs_mount(dir) {
        return Ok(());
    }
    let options = match size_bytes {
        Some(size) => format!("mode=0755,size={size}"),
        None => "mode=0755".to_string(),
    };
    mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(options.as_str()))
        .map_err(|errno| VolumeError::Tmpfs { path: dir.to_path_buf(), reason: errno.desc().to_string() })
}

/// Unmounts `dir` if it is a mount point; lazily, so a still-open file cannot keep it.
pub fn unmount(dir: &Path) -> Result<(), VolumeError> {
    if !is_tmpfs_mount(dir) {
        return Ok(());
    }
    umount2(dir, MntFlags::MNT_DETACH)
        .map_err(|errno| VolumeError::Tmpfs { path: dir.to_path_buf(), reason: errno.desc().to_string() })
}

/// Every tmpfs mounted under `root` (deepest first, for unmounting).
pub fn tmpfs_mounts_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut found: Vec<std::path::PathBuf> = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_source, target, kind) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == "tmpfs").then(|| std::path::PathBuf::from(crate::mounts::unescape(target)))
        })
        .filter(|target| target.starts_with(root))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

fn is_tmpfs_mount(dir: &Path) -> bool {
    tmpfs_mounts_under(dir).iter().any(|m| m == dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes_mount_paths() {
        assert_eq!(crate::mounts::unescape(r"/data/my\040dir"), "/data/my dir");
        assert_eq!(crate::mounts::unescape("/plain"), "/plain");
    }
}
