//! Recognising wasm workloads: OCI wasm artifacts (wasm config media type and/or a wasm layer
//! media type), and plain images whose single layer holds one `.wasm` file named by the entrypoint.

use std::io::{self, Read};
use std::path::Path;

use crate::digest::Digest;
use crate::manifest::{media, Compression, Manifest, RunConfig};
use crate::unpack::entry_components;

/// The module layer of a wasm OCI artifact, if `manifest` is one.
pub fn artifact_module(manifest: &Manifest) -> Option<&Digest> {
    let is_wasm_layer = |t: &str| t == media::WASM_LAYER || t == media::WASM_CONTENT_LAYER;
    if let Some(layer) = manifest.layers.iter().find(|l| is_wasm_layer(&l.media_type)) {
        return Some(&layer.digest);
    }
    match (manifest.config.media_type.as_str(), manifest.layers.as_slice()) {
        (media::WASM_CONFIG, [only]) => Some(&only.digest),
        _ => None,
    }
}

/// The path of the `.wasm` file the image would run (entrypoint, else cmd), if it names one.
pub fn wasm_entrypoint(config: &RunConfig) -> Option<&str> {
    config.argv_first().filter(|p| p.ends_with(".wasm"))
}

/// Reads a layer and returns the module bytes if the layer holds nothing but directories and
/// exactly one regular file, at `entrypoint`. Anything else means "a rootfs image" (`None`).
pub fn single_module_in_layer(blob: impl Read, compression: Compression, entrypoint: &str) -> io::Result<Option<Vec<u8>>> {
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
    };
    let Ok(wanted) = entry_components(Path::new(entrypoint)) else { return Ok(None) };
    let mut module = None;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            _ => return Ok(None),
        }
        let path = entry.path()?.into_owned();
        if module.is_some() || entry_components(&path).ok() != Some(wanted.clone()) {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        module = Some(bytes);
    }
    Ok(module.filter(|bytes| bytes.starts_with(b"\0asm")))
}

impl RunConfig {
    fn argv_first(&self) -> Option<&str> {
        self.entrypoint.as_ref().filter(|e| !e.is_empty()).or(self.cmd.as_ref())?.first().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Descriptor;

    fn desc(media_type: &str, data: &[u8]) -> Descriptor {
        Descriptor { media_type: media_type.into(), digest: Digest::of(data), size: data.len() as u64, platform: None, annotations: None }
    }

    fn manifest(config: &str, layers: &[&str]) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: desc(config, b"{}"),
            layers: layers.iter().enumerate().map(|(i, t)| desc(t, &[i as u8])).collect(),
        }
    }

    #[test]
    fn recognises_both_artifact_shapes() {
        let by_layer = manifest("application/vnd.oci.image.config.v1+json", &[media::WASM_CONTENT_LAYER]);
        assert_eq!(artifact_module(&by_layer), Some(&by_layer.layers[0].digest));
        let by_config = manifest(media::WASM_CONFIG, &["application/octet-stream"]);
        assert_eq!(artifact_module(&by_config), Some(&by_config.layers[0].digest));
        assert_eq!(artifact_module(&manifest("application/vnd.oci.image.config.v1+json", &[media::OCI_LAYER_GZIP])), None);
    }

    fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn single_wasm_file_image_is_a_module() {
        let tar = layer(&[("app/hello.wasm", b"\0asm\x01\0\0\0")]);
        let got = single_module_in_layer(&tar[..], Compression::None, "/app/hello.wasm").unwrap();
        assert_eq!(got.as_deref(), Some(&b"\0asm\x01\0\0\0"[..]));
    }

    #[test]
    fn extra_files_or_wrong_path_or_non_wasm_mean_rootfs() {
        let two = layer(&[("hello.wasm", b"\0asm"), ("etc/passwd", b"root")]);
        assert_eq!(single_module_in_layer(&two[..], Compression::None, "/hello.wasm").unwrap(), None);
        let other = layer(&[("other.wasm", b"\0asm")]);
        assert_eq!(single_module_in_layer(&other[..], Compression::None, "/hello.wasm").unwrap(), None);
        let fake = layer(&[("hello.wasm", b"#!/bin/sh")]);
        assert_eq!(single_module_in_layer(&fake[..], Compression::None, "/hello.wasm").unwrap(), None);
    }

    #[test]
    fn entrypoint_wins_over_cmd() {
        let cfg = RunConfig { entrypoint: Some(vec!["/a.wasm".into()]), cmd: Some(vec!["x".into()]), ..Default::default() };
        assert_eq!(wasm_entrypoint(&cfg), Some("/a.wasm"));
        let cmd_only = RunConfig { cmd: Some(vec!["/b.wasm".into(), "arg".into()]), ..Default::default() };
        assert_eq!(wasm_entrypoint(&cmd_only), Some("/b.wasm"));
        let shell = RunConfig { cmd: Some(vec!["/bin/sh".into()]), ..Default::default() };
        assert_eq!(wasm_entrypoint(&shell), None);
    }
}
