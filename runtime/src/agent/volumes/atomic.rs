//! Kubelet's atomic writer: a projected volume's files live in a timestamped
//! directory `..<time>`, reached through the symlink `..data`, and each
//! top-level name is a symlink into `..data`. An update writes a new
//! directory and swaps `..data` with one `rename`, so a reader inside the pod
//! sees either all old files or all new ones, never a mix.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use super::projection::{ProjectedFile, Projection};
use super::VolumeError;

const DATA_LINK: &str = "..data";
const DATA_TMP_LINK: &str = "..data_tmp";

/// Makes `dir` show exactly `files`. Returns whether anything changed.
pub fn write_projection(dir: &Path, files: &Projection) -> Result<bool, VolumeError> {
    fs::create_dir_all(dir).map_err(VolumeError::io(dir))?;
    let data_link = dir.join(DATA_LINK);
    let old_target = fs::read_link(&data_link).ok();
    if let Some(old) = &old_target {
        if read_tree(&dir.join(old))? == *files {
            return Ok(false);
        }
    }
    let stamp = format!("..{}", jiff::Timestamp::now().as_nanosecond());
    let new_dir = dir.join(&stamp);
    for (path, file) in files {
        let target = new_dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(VolumeError::io(parent))?;
        }
        fs::write(&target, &file.content).map_err(VolumeError::io(&target))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode)).map_err(VolumeError::io(&target))?;
    }
    fs::create_dir_all(&new_dir).map_err(VolumeError::io(&new_dir))?;
    let tmp_link = dir.join(DATA_TMP_LINK);
    remove_if_present(&tmp_link)?;
    symlink(&stamp, &tmp_link).map_err(VolumeError::io(&tmp_link))?;
    fs::rename(&tmp_link, &data_link).map_err(VolumeError::io(&data_link))?;

    let top_level: BTreeSet<&str> = files.keys().filter_map(|p| p.split('/').next()).collect();
    for name in &top_level {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_LINK).join(name), &link).map_err(VolumeError::io(&link))?;
        }
    }
    // User-visible links whose file is gone, and the previous data directory.
    for entry in fs::read_dir(dir).map_err(VolumeError::io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !top_level.contains(name.as_str()) {
            remove_if_present(&entry.path())?;
        }
    }
    if let Some(old) = old_target {
        let old_dir = dir.join(old);
        fs::remove_dir_all(&old_dir).map_err(VolumeError::io(&old_dir))?;
    }
    Ok(true)
}

/// The files under `root`, keyed by relative path.
fn read_tree(root: &Path) -> Result<Projection, VolumeError> {
    let mut files = Projection::new();
    let mut pending: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Projection::new()),
            Err(err) => return Err(VolumeError::io(&dir)(err)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = entry.metadata().map_err(VolumeError::io(&path))?;
            if meta.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                let content = fs::read(&path).map_err(VolumeError::io(&path))?;
                files.insert(relative, ProjectedFile { content, mode: meta.permissions().mode() & 0o777 });
            }
        }
    }
    Ok(files)
}

fn remove_if_present(path: &Path) -> Result<(), VolumeError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map_err(VolumeError::io(path)),
        Ok(_) => fs::remove_file(path).map_err(VolumeError::io(path)),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Projection {
        pairs
            .iter()
            .map(|(p, c)| (p.to_string(), ProjectedFile { content: c.as_bytes().to_vec(), mode: 0o644 }))
            .collect()
    }

    #[test]
    fn swaps_contents_atomically_and_prunes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("vol");
        assert!(write_projection(&root, &files(&[("a", "1"), ("sub/b", "2")])).expect("first"));
        assert_eq!(fs::read_to_string(root.join("a")).expect("a"), "1");
        assert_eq!(fs::read_to_string(root.join("sub/b")).expect("b"), "2");
        assert!(fs::symlink_metadata(root.join("a")).expect("link").file_type().is_symlink());

        assert!(!write_projection(&root, &files(&[("a", "1"), ("sub/b", "2")])).expect("same"), "no change, no swap");

        assert!(write_projection(&root, &files(&[("a", "changed")])).expect("update"));
        assert_eq!(fs::read_to_string(root.join("a")).expect("a"), "changed");
        assert!(fs::symlink_metadata(root.join("sub")).is_err(), "removed key is gone");
        let data_dirs = fs::read_dir(&root)
            .expect("list")
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .count();
        assert_eq!(data_dirs, 1, "the old data directory was removed");
    }
}
