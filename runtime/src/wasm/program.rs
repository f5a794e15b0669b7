//! What a wasm container runs: a [`Program`], either a WASI preview 1 core
//! module (`_start`) or a WASI preview 2 command component (`wasi:cli/run`),
//! linked against one Engine and ready to instantiate. Everything above this
//! module (container lifecycle, exec, probes) handles both alike: it builds a
//! `WasiCtxBuilder` and calls [`Program::run`].

use std::future::Future;
use std::sync::Arc;

use futures::future::Either;
use wasmtime::InstancePre;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::WasiCtxBuilder;

use super::artifact::Compiled;
use super::engine::EngineKit;
use super::exit::describe;
use super::guest::{ComponentGuest, ComponentWasi, ModuleGuest};
use super::run::{run_component, run_module, Meters};
use super::WasmError;
use crate::cri::Limits;

/// The two kinds of wasm binary, told apart by their 8-byte preamble: the magic `\0asm`, then a
/// 16-bit version and a 16-bit layer (little-endian). Core modules are layer 0 (version 1),
/// components layer 1 (version `0x0d` while the component model is pre-1.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    Module,
    Component,
}

impl ProgramKind {
    pub fn detect(bytes: &[u8]) -> Result<Self, WasmError> {
        let not_wasm = |why: &str| Err(WasmError::Compile(format!("not a wasm binary: {why}")));
        let Some(preamble) = bytes.get(..8) else { return not_wasm("shorter than the 8-byte header") };
        if preamble[..4] != *b"\0asm" {
            return not_wasm("no \\0asm magic");
        }
        match u16::from_le_bytes([preamble[6], preamble[7]]) {
            0 => Ok(ProgramKind::Module),
            1 => Ok(ProgramKind::Component),
            layer => not_wasm(&format!("unknown layer {layer}")),
        }
    }
}

/// A program linked against the WASI of one Engine. Cloning is cheap (reference counts).
#[derive(Clone)]
pub enum Program {
    Module(InstancePre<ModuleGuest>),
    /// A component exporting `wasi:cli/run`, the `wasi:cli/command` world.
    Component(CommandPre<ComponentGuest>),
}

impl Program {
    /// Resolves the imports of `compiled` against the WASI Linker of `kit` (whose Engine compiled it).
    pub fn link(kit: &EngineKit, compiled: &Compiled) -> Result<Self, WasmError> {
        let link_error = |e: wasmtime::Error| WasmError::Link(describe(&e));
        match compiled {
            Compiled::Module(module) => kit.modules.instantiate_pre(module).map(Program::Module).map_err(link_error),
            Compiled::Component(component) => {
                let pre = kit.components.instantiate_pre(component).map_err(link_error)?;
                let command = CommandPre::new(pre).map_err(|e| {
                    WasmError::Link(format!(
                        "a component must be a wasi:cli/command (export wasi:cli/run): {}",
                        describe(&e)
                    ))
                })?;
                Ok(Program::Component(command))
            }
        }
    }

    pub fn kind(&self) -> ProgramKind {
        match self {
            Program::Module(_) => ProgramKind::Module,
            Program::Component(_) => ProgramKind::Component,
        }
    }

    /// Runs one new instance to its end with the WASI context of `wasi` (stdio, argv, env,
    /// mounts already set), under `limits`, recording into `meters`. The context is built
    /// here, before the future exists, so the future owns only `Send` state.
    pub fn run(
        &self,
        mut wasi: WasiCtxBuilder,
        limits: Limits,
        meters: Arc<Meters>,
    ) -> impl Future<Output = wasmtime::Result<()>> + Send + 'static {
        match self {
            Program::Module(pre) => Either::Left(run_module(pre.clone(), wasi.build_p1(), limits, meters)),
            Program::Component(pre) => {
                Either::Right(run_component(pre.clone(), ComponentWasi::new(wasi.build()), limits, meters))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_components_from_core_modules_by_the_preamble() {
        assert_eq!(ProgramKind::detect(b"\0asm\x01\0\0\0").ok(), Some(ProgramKind::Module));
        assert_eq!(ProgramKind::detect(b"\0asm\x0d\0\x01\0more").ok(), Some(ProgramKind::Component));
        let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/wasm/hello-p2.wasm")).expect("sample");
        assert_eq!(ProgramKind::detect(&sample).ok(), Some(ProgramKind::Component));
        for bad in [&b"\0asm"[..], b"(module)", b"\0asm\x01\0\x02\0"] {
            assert!(matches!(ProgramKind::detect(bad), Err(WasmError::Compile(_))), "{bad:?}");
        }
    }
}
