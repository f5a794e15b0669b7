//! Recognising wasm workloads: OCI wasm artifacts (wasm config media type and/or a wasm layer
//! media type), and plain images whose single layer holds one `.wasm` file named by the entrypoint.
//! Both core modules and components count; [`artifact_config`] labels which one an artifact holds.

use std::io::{self, Read};
use std::path::Path;

use serde_json::json;
use wasmparser::{Parser, Payload};

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

/// The config of a wasm OCI artifact (CNCF TAG Runtime format) holding `bytes` as its one layer:
/// `os` is `wasip1` for a core module and `wasip2` for a component, which also gets the
/// `component` object the format requires for it (its top-level imports and exports, and the
/// `wasi:cli/command` target when it exports `wasi:cli/run`).
pub fn artifact_config(bytes: &[u8], layer: &Digest) -> serde_json::Value {
    let mut config = json!({ "architecture": "wasm", "os": "wasip1", "layerDigests": [layer.to_string()] });
    if Parser::is_component(bytes) {
        config["os"] = json!("wasip2");
        config["component"] = component_world(bytes);
    }
    config
}

/// Imports and exports of the outermost component (nested modules and components are skipped).
/// A section that does not parse ends the listing: the runtime, not the label, judges the binary.
fn component_world(bytes: &[u8]) -> serde_json::Value {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                imports.extend(reader.into_iter().map_while(Result::ok).map(|i| i.name.name.to_owned()));
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                exports.extend(reader.into_iter().map_while(Result::ok).map(|e| e.name.name.to_owned()));
            }
            _ => {}
        }
    }
    let mut world = json!({ "exports": exports, "imports": imports });
    let run = exports.iter().find_map(|e| e.strip_prefix("wasi:cli/run@"));
    if let Some(version) = run {
        world["target"] = json!(format!("wasi:cli/command@{version}"));
    }
    world
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
    fn artifact_configs_label_modules_wasip1_and_components_wasip2_with_their_world() {
        let layer = Digest::of(b"layer");
        let module = artifact_config(b"\0asm\x01\0\0\0", &layer);
        assert_eq!(
            serde_json::to_string(&module).unwrap(),
            format!(r#"{{"architecture":"wasm","os":"wasip1","layerDigests":["{layer}"]}}"#),
            "the same bytes as before components were known, so module digests do not change"
        );
        let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/wasm/hello-p2.wasm")).unwrap();
        let component = artifact_config(&sample, &layer);
        assert_eq!(component["os"], "wasip2");
        assert_eq!(component["component"]["target"], "wasi:cli/command@0.2.12");
        assert_eq!(component["component"]["exports"], json!(["wasi:cli/run@0.2.12"]));
        let imports = component["component"]["imports"].as_array().unwrap();
        assert!(imports.iter().any(|i| i == "wasi:cli/exit@0.2.12"), "{imports:?}");
        assert!(imports.iter().all(|i| i.as_str().is_some_and(|i| i.starts_with("wasi:"))), "{imports:?}");
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
