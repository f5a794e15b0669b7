//! Path containment for layer extraction. Every name in a layer is resolved the way the kernel
//! would resolve it inside a chroot at the snapshot root: `..` stops at the root and symlinks met
//! on the way are followed *within* the root. Nothing a layer says can reach a host path.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow, as Linux's MAXSYMLINKS.
const MAX_SYMLINKS: usize = 40;

/// Splits a tar entry name into plain components. Leading `/` and `.` are dropped (tars written
/// with absolute names are common and mean "relative to the root"); `..` is refused outright,
/// because no legitimate layer needs it in an entry name.
pub fn entry_components(name: &Path) -> Result<Vec<OsString>, &'static str> {
    let mut out = Vec::new();
    for component in name.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("`..` in entry name"),
            Component::Prefix(_) => return Err("path prefix in entry name"),
            Component::Normal(part) => out.push(part.to_owned()),
        }
    }
    Ok(out)
}

/// Resolves directory `components` below `root`, following symlinks as if `root` were `/`.
/// Components that do not exist yet are kept as they are (the caller creates them).
pub fn resolve_in_root(root: &Path, components: &[OsString]) -> io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = components.iter().cloned().collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut followed = 0;
    while let Some(part) = pending.pop_front() {
        if part == OsStr::new("..") {
            resolved.pop(); // `..` at the root stays at the root
            continue;
        }
        if part == OsStr::new(".") || part.is_empty() {
            continue;
        }
        let candidate = join(root, &resolved).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for part in target.components().rev() {
                    match part {
                        Component::Normal(p) => pending.push_front(p.to_owned()),
                        Component::ParentDir => pending.push_front("..".into()),
                        Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                    }
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(join(root, &resolved))
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(parts);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn comps(s: &str) -> Vec<OsString> {
        entry_components(Path::new(s)).unwrap()
    }

    #[test]
    fn absolute_and_dotted_names_become_relative() {
        assert_eq!(comps("/etc/./passwd"), ["etc", "passwd"]);
        assert_eq!(comps("./bin/sh"), ["bin", "sh"]);
        assert!(comps("./").is_empty());
    }

    #[test]
    fn parent_components_are_refused() {
        assert!(entry_components(Path::new("../../etc/passwd")).is_err());
        assert!(entry_components(Path::new("a/../../b")).is_err());
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink("/etc", root.join("evil")).unwrap();
        assert_eq!(resolve_in_root(root, &comps("evil/x")).unwrap(), root.join("etc/x"));
    }

    #[test]
    fn relative_symlinks_cannot_climb_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("a")).unwrap();
        symlink("../../../../tmp", root.join("a/up")).unwrap();
        assert_eq!(resolve_in_root(root, &comps("a/up")).unwrap(), root.join("tmp"));
    }

    #[test]
    fn symlink_loops_end_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        assert!(resolve_in_root(root, &comps("a/x")).is_err());
    }
}
