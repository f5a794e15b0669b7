//! Import with no registry running: bare wasm, a hand-made OCI layout (directory and tar), a
//! docker archive; then GC over imported images.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use images::{Content, Digest, ImageError, ImageRef, ImageService, RegistryOptions};

#[path = "support/container.rs"]
mod container;
use container::Container;

const MODULE: &[u8] = b"\0asm\x01\0\0\0";

fn store() -> (tempfile::TempDir, ImageService) {
    let dir = tempfile::tempdir().unwrap();
    let service = ImageService::open(dir.path(), RegistryOptions::default()).unwrap();
    (dir, service)
}

fn name(s: &str) -> ImageRef {
    s.parse().unwrap()
}

fn write_blob(layout: &Path, bytes: &[u8]) -> (Digest, usize) {
    let d = Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(d.hex()), bytes).unwrap();
    (d, bytes.len())
}

/// An OCI layout with one gzip layer holding `etc/motd`, named `ref_name`.
fn layout(dir: &Path, ref_name: &str) -> Digest {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(5);
    tar.append_data(&mut h, "etc/motd", &b"hello"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let (layer, layer_size) = write_blob(dir, &gz.finish().unwrap());
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"],"WorkingDir":"/etc"}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        Digest::of(&tar)
    );
    let (config, config_size) = write_blob(dir, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = write_blob(dir, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"{ref_name}"}}}}]}}"#
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
    layer
}

#[tokio::test]
async fn bare_wasm_needs_a_name_and_becomes_a_module() {
    let (dir, store) = store();
    let file = dir.path().join("app.wasm");
    std::fs::write(&file, MODULE).unwrap();
    let err = store.import(&file, None).await.unwrap_err();
    assert!(matches!(err, ImageError::Import { .. }), "{err}");
    let records = store.import(&file, Some(&name("local/app:1.0"))).await.unwrap();
    let image = store.prepare(&records[0]).await.unwrap();
    let Content::Wasm { module } = image.content else { panic!("a module") };
    assert_eq!(store.module_bytes(&module).unwrap(), MODULE);
    assert!(store.get(&name("local/app:1.0")).is_some());
}

#[tokio::test]
async fn oci_layout_directory_and_tar_import() {
    let (dir, store) = store();
    let layout_dir = dir.path().join("layout");
    layout(&layout_dir, "registry.local/hand/made:1.0");
    let records = store.import(&layout_dir, None).await.unwrap();
    assert_eq!(records[0].name, "registry.local/hand/made:1.0");
    assert_eq!(records[0].run.working_dir.as_deref(), Some("/etc"));
    let Content::Rootfs(snap) = store.prepare(&records[0]).await.unwrap().content else { panic!("a rootfs") };
    let container = Container::mount(&snap, &dir.path().join("container"));
    assert_eq!(std::fs::read(container.path("etc/motd")).unwrap(), b"hello");

    // The same layout as a tar (`oci-archive`), imported under another name into a fresh store.
    let tar_path = dir.path().join("layout.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    tar.append_dir_all(".", &layout_dir).unwrap();
    tar.finish().unwrap();
    let (_d2, fresh) = self::store();
    let records = fresh.import(&tar_path, Some(&name("other/name:2"))).await.unwrap();
    assert_eq!(records[0].name, "docker.io/other/name:2");
}

#[tokio::test]
async fn a_tampered_layout_blob_is_refused() {
    let (dir, store) = store();
    let layout_dir = dir.path().join("layout");
    let layer = layout(&layout_dir, "registry.local/hand/made:1.0");
    std::fs::write(layout_dir.join("blobs/sha256").join(layer.hex()), b"tampered").unwrap();
    let err = store.import(&layout_dir, None).await.unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(!store.blobs().contains(&layer));
    assert!(store.list().is_empty());
}

#[tokio::test]
async fn docker_archive_import() {
    let (dir, store) = store();
    let arch = dir.path().join("archive");
    std::fs::create_dir_all(arch.join("abc")).unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(2);
    layer.append_data(&mut h, "bin/tool", &b"#!"[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    std::fs::write(arch.join("abc/layer.tar"), &layer).unwrap();
    let config = format!(r#"{{"os":"linux","config":{{"Entrypoint":["/bin/tool"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#, Digest::of(&layer));
    std::fs::write(arch.join("config.json"), config).unwrap();
    std::fs::write(arch.join("manifest.json"), r#"[{"Config":"config.json","RepoTags":["tools:1"],"Layers":["abc/layer.tar"]}]"#).unwrap();
    let tar_path = dir.path().join("docker.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    tar.append_dir_all(".", &arch).unwrap();
    tar.finish().unwrap();
    let records = store.import(&tar_path, None).await.unwrap();
    assert_eq!(records[0].name, "docker.io/library/tools:1");
    let Content::Rootfs(snap) = store.prepare(&records[0]).await.unwrap().content else { panic!("a rootfs") };
    assert!(Container::mount(&snap, &dir.path().join("container")).path("bin/tool").is_file());
}

#[tokio::test]
async fn gc_removes_unused_images_oldest_first_and_keeps_used_blobs() {
    let (dir, store) = store();
    let mut records = Vec::new();
    for (i, n) in ["local/a:1", "local/b:1", "local/c:1"].iter().enumerate() {
        let file = dir.path().join(format!("{i}.wasm"));
        std::fs::write(&file, [MODULE, &[i as u8; 1000]].concat()).unwrap();
        records.push(store.import(&file, Some(&name(n))).await.unwrap().remove(0));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // distinct pulled_at seconds
    }
    // a is in use; budget only fits about two images: b (oldest unused) goes, c stays.
    let in_use: HashSet<String> = [records[0].name.clone()].into();
    let distinct: HashSet<&Digest> = records[0].blobs().collect(); // the module is also the layer
    let per_image: u64 = distinct.iter().map(|d| std::fs::metadata(store.blobs().path(d)).unwrap().len()).sum();
    let report = store.gc(&in_use, per_image * 2 + per_image / 2).await.unwrap();
    assert_eq!(report.removed_images, vec![records[1].name.clone()]);
    assert!(records[0].blobs().all(|d| store.blobs().contains(d)));
    assert!(records[2].blobs().all(|d| store.blobs().contains(d)));
    assert!(!store.blobs().contains(&records[1].manifest_digest));
    // Under budget: nothing happens.
    let again = store.gc(&in_use, u64::MAX).await.unwrap();
    assert!(again.removed_images.is_empty());
    // Budget zero: every unused image goes, the used one stays whole.
    store.gc(&in_use, 0).await.unwrap();
    assert_eq!(store.list().len(), 1);
    assert!(records[0].blobs().all(|d| store.blobs().contains(d)));
}
