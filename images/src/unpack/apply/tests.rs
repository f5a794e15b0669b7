//! Layer application against hand-built tarballs, hostile ones included.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::unpack::whiteout::{is_opaque, is_whiteout};

/// A tar entry with a raw name (so `..` and absolute names can be written, as an attacker would).
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tarball(entries: &[E]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, data, link): (&str, EntryType, &[u8], Option<&str>) = match e {
            E::Dir(n) => (n, EntryType::Directory, b"", None),
            E::File(n, d) => (n, EntryType::Regular, d, None),
            E::Symlink(n, t) => (n, EntryType::Symlink, b"", Some(t)),
            E::Hardlink(n, t) => (n, EntryType::Link, b"", Some(t)),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.append(&h, data).unwrap();
    }
    out.into_inner().unwrap()
}

fn apply(root: &Path, entries: &[E]) -> Result<Digest> {
    apply_to(root, entries, LayerTarget::Merged)
}

fn apply_to(root: &Path, entries: &[E], target: LayerTarget<'_>) -> Result<Digest> {
    let tar = tarball(entries);
    apply_layer(root, &tar[..], Compression::None, &Digest::of(&tar), target)
}

/// Both ways a layer can land: every containment guarantee must hold for each.
const TARGETS: [LayerTarget<'static>; 2] = [LayerTarget::Merged, LayerTarget::OverlayDiff { lowers: &[] }];

fn read(root: &Path, p: &str) -> Option<String> {
    std::fs::read_to_string(root.join(p)).ok()
}

#[test]
fn files_dirs_and_links_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    apply(root, &[E::Dir("bin/"), E::File("bin/busybox", b"elf"), E::Symlink("bin/sh", "busybox"), E::Hardlink("bin/ash", "bin/busybox")]).unwrap();
    assert_eq!(read(root, "bin/sh").as_deref(), Some("elf"));
    assert_eq!(read(root, "bin/ash").as_deref(), Some("elf"));
    assert_eq!(std::fs::read_link(root.join("bin/sh")).unwrap(), Path::new("busybox"));
}

#[test]
fn diff_id_is_the_hash_of_the_uncompressed_tar() {
    let dir = tempfile::tempdir().unwrap();
    let tar = tarball(&[E::File("a", b"1")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let diff = apply_layer(dir.path(), &gz[..], Compression::Gzip, &Digest::of(&gz), LayerTarget::Merged).unwrap();
    assert_eq!(diff, Digest::of(&tar));
}

#[test]
fn whiteout_removes_a_lower_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    apply(root, &[E::File("data/a.txt", b"v1"), E::File("data/b.txt", b"b"), E::File("old/x", b"x")]).unwrap();
    apply(root, &[E::File("data/a.txt", b"v2"), E::File("data/.wh.b.txt", b""), E::File(".wh.old", b"")]).unwrap();
    assert_eq!(read(root, "data/a.txt").as_deref(), Some("v2"));
    assert!(!root.join("data/b.txt").exists());
    assert!(!root.join("data/.wh.b.txt").exists(), "whiteout markers are not materialised");
    assert!(!root.join("old").exists());
}

#[test]
fn opaque_directory_hides_lower_children_but_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    apply(root, &[E::File("etc/lower", b"l"), E::File("etc/sub/deep", b"d")]).unwrap();
    apply(root, &[E::Dir("etc/"), E::File("etc/upper", b"u"), E::File("etc/.wh..wh..opq", b"")]).unwrap();
    assert_eq!(read(root, "etc/upper").as_deref(), Some("u"));
    assert!(!root.join("etc/lower").exists());
    assert!(!root.join("etc/sub").exists());
}

#[test]
fn overlay_target_turns_whiteouts_into_devices_and_opaque_xattrs() {
    if !crate::unpack::testing::privileged_or_skip("overlay whiteouts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lowers = [];
    let target = LayerTarget::OverlayDiff { lowers: &lowers };
    apply_to(root, &[E::File("data/a.txt", b"v2"), E::File("data/.wh.b.txt", b""), E::File(".wh.old", b"")], target).unwrap();
    apply_to(root, &[E::File("etc/upper", b"u"), E::File("etc/.wh..wh..opq", b""), E::File("etc/later", b"l")], target).unwrap();
    let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    assert!(is_whiteout(&meta("data/b.txt")) && is_whiteout(&meta("old")));
    assert!(!root.join("data/.wh.b.txt").exists(), "markers are converted, not copied");
    assert_eq!(read(root, "data/a.txt").as_deref(), Some("v2"));
    assert!(is_opaque(&root.join("etc")));
    assert_eq!((read(root, "etc/upper").as_deref(), read(root, "etc/later").as_deref()), (Some("u"), Some("l")), "the layer's own entries stay");
}

#[test]
fn overlay_target_gives_missing_parents_the_lower_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (lower, root) = (dir.path().join("lower"), dir.path().join("root"));
    std::fs::create_dir_all(lower.join("home/user")).unwrap();
    std::fs::set_permissions(lower.join("home/user"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(&root).unwrap();
    let lowers = [lower];
    apply_to(&root, &[E::File("home/user/.profile", b"p")], LayerTarget::OverlayDiff { lowers: &lowers }).unwrap();
    assert_eq!(std::fs::metadata(root.join("home/user")).unwrap().permissions().mode() & 0o7777, 0o700);
    // An explicit entry in the tar wins over the lower layer's mode.
    apply_to(&root, &[E::Dir("home/user/"), E::File("home/user/.rc", b"r")], LayerTarget::OverlayDiff { lowers: &lowers }).unwrap();
    assert_eq!(std::fs::metadata(root.join("home/user")).unwrap().permissions().mode() & 0o7777, 0o755);
}

#[test]
fn parent_dir_names_are_refused() {
    for target in TARGETS {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let err = apply_to(&root, &[E::File("../escaped", b"x")], target).unwrap_err();
        assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
        assert!(!outer.path().join("escaped").exists());
    }
}

#[test]
fn absolute_names_land_inside_the_root() {
    for target in TARGETS {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}/inside-abs", dir.path().display());
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        apply_to(&root, &[E::File(&name, b"x")], target).unwrap();
        assert!(!dir.path().join("inside-abs").exists());
        assert!(root.join(name.trim_start_matches('/')).exists());
    }
}

#[test]
fn writing_through_a_symlink_to_outside_stays_inside() {
    for target in TARGETS {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        let victim = outer.path().join("victim");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&victim).unwrap();
        let victim_abs = victim.display().to_string();
        // First an absolute symlink to a host dir, then a file "through" it.
        apply_to(&root, &[E::Symlink("link", &victim_abs), E::File("link/pwned", b"x")], target).unwrap();
        assert!(!victim.join("pwned").exists(), "write escaped through an absolute symlink");
        assert!(root.join(victim_abs.trim_start_matches('/')).join("pwned").exists());
        // A relative symlink climbing out of the root.
        apply_to(&root, &[E::Symlink("up", "../../../../.."), E::File("up/pwned2", b"x")], target).unwrap();
        assert!(root.join("pwned2").exists());
        assert!(!outer.path().join("pwned2").exists());
    }
}

#[test]
fn a_file_entry_replaces_a_symlink_instead_of_writing_through_it() {
    for target in TARGETS {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let host_file = outer.path().join("host-file");
        std::fs::write(&host_file, b"host").unwrap();
        apply_to(&root, &[E::Symlink("f", &host_file.display().to_string()), E::File("f", b"layer")], target).unwrap();
        assert_eq!(std::fs::read(&host_file).unwrap(), b"host");
        assert_eq!(read(&root, "f").as_deref(), Some("layer"));
    }
}

#[test]
fn hardlinks_cannot_point_outside() {
    for target in TARGETS {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(outer.path().join("secret"), b"s").unwrap();
        let err = apply_to(&root, &[E::Hardlink("h", "../secret")], target).unwrap_err();
        assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
        // An absolute target is resolved inside the root, where it does not exist.
        let abs = outer.path().join("secret").display().to_string();
        assert!(matches!(apply_to(&root, &[E::Hardlink("h", &abs)], target), Err(ImageError::UnsafePath { .. })));
        // Through a symlink to outside: resolved inside, so again missing.
        assert!(apply_to(&root, &[E::Symlink("s", &outer.path().display().to_string()), E::Hardlink("h", "s/secret")], target).is_err());
        assert!(!root.join("h").exists());
    }
}

#[test]
fn whiteout_through_a_symlink_does_not_delete_host_files() {
    for target in TARGETS {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(outer.path().join("keep"), b"k").unwrap();
        apply_to(&root, &[E::Symlink("s", &outer.path().display().to_string()), E::File("s/.wh.keep", b"")], target).unwrap();
        apply_to(&root, &[E::File("../.wh.keep", b"")], target).unwrap_err();
        assert!(outer.path().join("keep").exists());
    }
}

#[test]
fn read_only_directories_still_receive_their_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o555);
        h.set_size(0);
        b.append_data(&mut h, "ro/", &b""[..]).unwrap();
        let mut f = tar::Header::new_gnu();
        f.set_mode(0o644);
        f.set_size(1);
        b.append_data(&mut f, "ro/file", &b"x"[..]).unwrap();
        b.into_inner().unwrap()
    };
    apply_layer(root, &tar[..], Compression::None, &Digest::of(&tar), LayerTarget::Merged).unwrap();
    assert_eq!(std::fs::metadata(root.join("ro")).unwrap().permissions().mode() & 0o777, 0o555);
    assert!(root.join("ro/file").exists());
}

#[test]
fn garbage_is_a_layer_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let err = apply_layer(dir.path(), &b"not a gzip stream at all"[..], Compression::Gzip, &Digest::of(b"g"), LayerTarget::Merged).unwrap_err();
    assert!(matches!(err, ImageError::Layer { .. }), "{err}");
}
