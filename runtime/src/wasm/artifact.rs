//! Compiled code of either kind of program and its on-disk form: wasmtime's
//! serialized artifacts (`.cwasm`), which load back in tens of microseconds
//! by mapping the file instead of compiling again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::engine::hex;
use super::exit::describe;
use super::program::ProgramKind;
use super::WasmError;

/// Machine code for one Engine.
pub enum Compiled {
    Module(Module),
    Component(Component),
}

impl Compiled {
    /// Compiles `bytes` (tens of milliseconds of CPU: call it off the async workers).
    pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Self, WasmError> {
        let compile_error = |e: wasmtime::Error| WasmError::Compile(describe(&e));
        Ok(match ProgramKind::detect(bytes)? {
            ProgramKind::Module => Compiled::Module(Module::new(engine, bytes).map_err(compile_error)?),
            ProgramKind::Component => Compiled::Component(Component::new(engine, bytes).map_err(compile_error)?),
        })
    }

    /// Loads an artifact that [`Compiled::store`] wrote for a program of `kind`.
    #[allow(unsafe_code)]
    pub fn load(engine: &Engine, kind: ProgramKind, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: `deserialize_file` trusts the file to be an artifact that wasmtime produced, since
        // it maps it as executable code. Files in the cache directory are written only by `store`
        // (complete, then renamed into place), and the directory is inside the node's data dir,
        // which only the agent writes. Wasmtime still checks the header, the kind, the version and
        // the Engine's settings, which rejects foreign or stale files.
        unsafe {
            Ok(match kind {
                ProgramKind::Module => Compiled::Module(Module::deserialize_file(engine, path)?),
                ProgramKind::Component => Compiled::Component(Component::deserialize_file(engine, path)?),
            })
        }
    }

    /// Writes the artifact to `path` atomically (a complete temp file renamed into place).
    pub fn store(&self, path: &Path) -> Result<(), WasmError> {
        let bytes = match self {
            Compiled::Module(module) => module.serialize(),
            Compiled::Component(component) => component.serialize(),
        }
        .map_err(|e| WasmError::Compile(describe(&e)))?;
        // Unique per writer, so two processes (or two engines) never share a temp file.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!("tmp{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&tmp, bytes).map_err(|source| WasmError::Cache { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, path).map_err(|source| WasmError::Cache { path: path.to_owned(), source })
    }
}

/// `<dir>/<sha256(fingerprint, digest)>.cwasm`: a fixed-length name whatever the digest holds.
/// The digest names the bytes, so it also fixes the kind of program.
pub fn artifact_path(dir: &Path, fingerprint: &str, digest: &str) -> PathBuf {
    let mut hash = Sha256::new();
    hash.update(fingerprint.as_bytes());
    hash.update([0]);
    hash.update(digest.as_bytes());
    dir.join(format!("{}.cwasm", hex(&hash.finalize())))
}
