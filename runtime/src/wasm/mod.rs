//! The `wasmtime` RuntimeClass handler: WASI preview 1 core modules and WASI
//! preview 2 command components run as in-process wasmtime instances, one
//! Store per container, on Engines and compiled programs shared by the whole node.
//!
//! - [`engine`]: the shared Engines (epochs; epochs + fuel), their WASI Linkers and the epoch ticker.
//! - [`program`]: a linked module or component and how one instance of it runs ([`run`]).
//! - [`cache`], [`artifact`]: linked programs per image in memory, compiled artifacts on disk.
//! - [`limits`], [`cpu`]: `limits.memory` and `limits.cpu`; fuel is set per Store in [`run`].
//! - [`stdio`]: stdout/stderr into the CRI log file, exec streams.
//! - [`container`], [`exec`], [`runtime`]: the container lifecycle, exec, and the `ContainerRuntime` impl.
//! - [`http`]: components exporting `wasi:http/incoming-handler`, served an instance per request.
//! - [`net`]: the pod network of a wasm sandbox, for each kind of guest.
//! - [`bench`]: timings for `wasmkube bench wasm`.

pub mod artifact;
pub mod bench;
pub mod cache;
pub mod container;
pub mod cpu;
pub mod engine;
pub mod exec;
pub mod exit;
pub mod guest;
pub mod http;
pub mod limits;
pub mod net;
pub mod program;
pub mod run;
pub mod runtime;
pub mod stdio;

use std::path::PathBuf;

pub use runtime::{WasmOptions, WasmRuntime};

use crate::cri::CriError;

#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("not a loadable wasm module or component: {0}")]
    Compile(String),
    #[error("the program imports what this node does not provide: {0}")]
    Link(String),
    #[error("mount at {path}: {why}")]
    Mount { path: String, why: String },
    #[error("program cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<WasmError> for CriError {
    fn from(err: WasmError) -> Self {
        match err {
            WasmError::Compile(_) | WasmError::Link(_) => CriError::UnsupportedImage(err.to_string()),
            WasmError::Mount { .. } => CriError::InvalidConfig(err.to_string()),
            WasmError::Cache { path, source } => CriError::Io { context: format!("program cache {}", path.display()), source },
            WasmError::Engine(_) => CriError::Internal(err.to_string()),
        }
    }
}
