//! A container's writable layer: `upper` and `work` directories for an
//! overlay over the read-only image, and the `merged` mount point. The
//! overlay itself is mounted inside the container's mount namespace, so it
//! vanishes with the container and never shows in the host's mount table.

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use super::error::LinuxError;

/// Directories the runtime mounts onto, created in the writable layer when the image lacks them.
const MOUNT_POINTS: [&str; 4] = ["/proc", "/sys", "/dev", "/etc"];

#[derive(Clone, Debug)]
pub struct Layer {
    dir: PathBuf,
    /// The image's layer directories, topmost first.
    lowers: Vec<PathBuf>,
    upper: PathBuf,
    work: PathBuf,
    merged: PathBuf,
}

impl Layer {
    /// Creates the layer's directories under `dir`, over the image layers
    /// `lowers` (topmost first).
    pub fn prepare(dir: &Path, lowers: &[PathBuf]) -> Result<Layer, LinuxError> {
        if lowers.is_empty() {
            return Err(LinuxError::InvalidConfig("the image has no layers".into()));
        }
        for lower in lowers {
            let text = lower.to_string_lossy();
            if text.contains(',') || text.contains(':') {
                return Err(LinuxError::InvalidConfig(format!("image rootfs path {text:?} cannot be an overlay lower dir")));
            }
            if !lower.is_dir() {
                return Err(LinuxError::InvalidConfig(format!("image rootfs {text:?} is not a directory")));
            }
        }
        let layer = Layer {
            dir: dir.to_owned(),
            lowers: lowers.to_vec(),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("rootfs"),
        };
        for d in [&layer.upper, &layer.work, &layer.merged] {
            fs::create_dir_all(d).map_err(|e| LinuxError::io("creating", d, e))?;
        }
        for point in MOUNT_POINTS {
            layer.ensure_mount_point(point, true)?;
        }
        Ok(layer)
    }

    pub fn merged(&self) -> &Path {
        &self.merged
    }

    pub fn overlay_options(&self) -> String {
        let lower = self.lowers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>().join(":");
        format!("lowerdir={lower},upperdir={},workdir={}", self.upper.display(), self.work.display())
    }

    /// Makes `container_path` exist (a directory, or an empty file) for a bind mount, by
    /// creating it in the upper layer when the image does not have it.
    pub fn ensure_mount_point(&self, container_path: &str, directory: bool) -> Result<(), LinuxError> {
        let relative = confined(container_path)?;
        let in_image = self.lowers.iter().any(|l| fs::symlink_metadata(l.join(&relative)).is_ok());
        if relative.as_os_str().is_empty() || in_image {
            return Ok(());
        }
        let target = self.upper.join(&relative);
        let parent = if directory { Some(target.as_path()) } else { target.parent() };
        if let Some(parent) = parent {
            fs::create_dir_all(parent).map_err(|e| LinuxError::io("creating mount point", parent, e))?;
        }
        if !directory {
            match fs::OpenOptions::new().write(true).create_new(true).open(&target) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(LinuxError::io("creating mount point", &target, e)),
            }
        }
        Ok(())
    }

    /// Deletes the layer (the container must be gone, so nothing is mounted on it).
    pub fn remove(&self) -> Result<(), LinuxError> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(LinuxError::io("removing", &self.dir, e)),
            _ => Ok(()),
        }
    }
}

/// `container_path` as a relative path with no `..`, so it cannot leave the layer.
fn confined(container_path: &str) -> Result<PathBuf, LinuxError> {
    let mut out = PathBuf::new();
    for part in Path::new(container_path).components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(LinuxError::InvalidConfig(format!("container path {container_path:?} must not contain '..'")))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_missing_from_the_image_are_made_in_the_upper_layer() {
        let tmp = tempfile::tempdir().expect("tmp");
        let image = tmp.path().join("image");
        fs::create_dir_all(image.join("proc")).expect("mk");
        let layer = Layer::prepare(&tmp.path().join("c1"), std::slice::from_ref(&image)).expect("prepare");
        assert!(!tmp.path().join("c1/upper/proc").exists(), "the image has /proc");
        assert!(tmp.path().join("c1/upper/sys").is_dir());
        layer.ensure_mount_point("/data/cache", true).expect("dir");
        layer.ensure_mount_point("/etc/config.yaml", false).expect("file");
        assert!(tmp.path().join("c1/upper/data/cache").is_dir());
        assert!(tmp.path().join("c1/upper/etc/config.yaml").is_file());
        assert!(layer.overlay_options().starts_with(&format!("lowerdir={}", image.display())));
        layer.remove().expect("remove");
        assert!(!tmp.path().join("c1").exists());
    }

    #[test]
    fn escaping_paths_and_odd_lower_dirs_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let layer = Layer::prepare(&tmp.path().join("c"), &[tmp.path().to_path_buf()]).expect("prepare");
        assert!(matches!(layer.ensure_mount_point("/../../etc", true), Err(LinuxError::InvalidConfig(_))));
        let odd = tmp.path().join("a,b");
        fs::create_dir_all(&odd).expect("mk");
        assert!(matches!(Layer::prepare(&tmp.path().join("d"), std::slice::from_ref(&odd)), Err(LinuxError::InvalidConfig(_))));
    }
}
