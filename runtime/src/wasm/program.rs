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
use super::guest::{ComponentGuest, ComponentWasi, ModuleGuest, ModuleWasi};
use super::http::{is_proxy, HttpPre};
use super::net::p1::P1Net;
use super::net::{GuestNet, InNetNs};
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
    /// A component exporting `wasi:http/incoming-handler` (the `wasi:http/proxy` world): served,
    /// an instance per request ([`crate::wasm::http`]).
    Http(HttpPre),
}

impl Program {
    /// Resolves the imports of `compiled` against the WASI Linker of `kit` (whose Engine compiled it).
    pub fn link(kit: &EngineKit, compiled: &Compiled) -> Result<Self, WasmError> {
        let link_error = |e: wasmtime::Error| WasmError::Link(describe(&e));
        match compiled {
            Compiled::Module(module) => kit.modules.instantiate_pre(module).map(Program::Module).map_err(link_error),
            Compiled::Component(component) if is_proxy(&kit.engine, component) => {
                let pre = kit.http.instantiate_pre(component).map_err(link_error)?;
                Ok(Program::Http(HttpPre::new(pre).map_err(link_error)?))
            }
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
            Program::Component(_) | Program::Http(_) => ProgramKind::Component,
        }
    }

    /// Runs one new instance to its end with the WASI context of `wasi` (stdio, argv, env,
    /// mounts and, for components, sockets already set), under `limits`, recording into
    /// `meters`. A module gets the listening sockets of `net`; a component runs with its
    /// polls inside the pod's network namespace, so the sockets it makes are the pod's. The
    /// context is built here, before the future exists, so the future owns only `Send` state.
    pub fn run(
        &self,
        mut wasi: WasiCtxBuilder,
        limits: Limits,
        meters: Arc<Meters>,
        net: GuestNet,
    ) -> impl Future<Output = wasmtime::Result<()>> + Send + 'static {
        match self {
            Program::Module(pre) => {
                let wasi = ModuleWasi { p1: wasi.build_p1(), net: P1Net::new(net.listeners, net.preopens) };
                Either::Left(run_module(pre.clone(), wasi, limits, meters))
            }
            Program::Component(pre) => {
                let resolver = net.pod.as_ref().and_then(|pod| pod.resolver.clone());
                Either::Right(Either::Left(InNetNs::new(
                    run_component(pre.clone(), ComponentWasi::new(wasi.build(), resolver), limits, meters),
                    net.pod.map(|pod| pod.netns.clone()),
                )))
            }
            // Served by the container (see `Container::start`); there is no command to run.
            Program::Http(_) => Either::Right(Either::Right(std::future::ready(Err(wasmtime::format_err!(
                "a wasi:http component only answers requests; it has no command to run"
            ))))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use wasmtime::Trap;
    use wasmtime_wasi::I32Exit;

    use super::*;
    use crate::wasm::cpu::Metered;
    use crate::wasm::engine::{start_epoch_ticker, EngineFlavor};

    /// A command component whose `run` does `BODY` (core wasm returning the result's
    /// discriminant: 0 ok, 1 err), with `exit-with-code` of `wasi:cli/exit` imported as `$exit`.
    fn command(body: &str) -> Vec<u8> {
        let wat = format!(
            r#"(component
                (import "wasi:cli/exit@0.2.12" (instance $cli_exit (export "exit-with-code" (func (param "status-code" u8)))))
                (core func $exit (canon lower (func $cli_exit "exit-with-code")))
                (core module $m
                    (import "host" "exit" (func $exit (param i32)))
                    (func (export "run") (result i32) {body}))
                (core instance $host (export "exit" (func $exit)))
                (core instance $i (instantiate $m (with "host" (instance $host))))
                (func $run (result (result)) (canon lift (core func $i "run")))
                (instance $run_instance (export "run" (func $run)))
                (export "wasi:cli/run@0.2.0" (instance $run_instance)))"#
        );
        wat::parse_str(wat).expect("valid component")
    }

    async fn run(bytes: &[u8], flavor: EngineFlavor, limits: Limits) -> wasmtime::Result<()> {
        let kit = EngineKit::new(flavor).expect("engine");
        let compiled = Compiled::compile(&kit.engine, bytes).expect("compile");
        let program = Program::link(&kit, &compiled).expect("link");
        assert_eq!(program.kind(), ProgramKind::Component);
        program.run(WasiCtxBuilder::new(), limits, Arc::new(Meters::default()), GuestNet::default()).await
    }

    fn sample() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/wasm/hello-p2.wasm")).expect("sample")
    }

    const PLAIN: EngineFlavor = EngineFlavor { epochs: true, fuel: false, pool_slots: None };

    #[test]
    fn tells_components_from_core_modules_by_the_preamble() {
        assert_eq!(ProgramKind::detect(b"\0asm\x01\0\0\0").ok(), Some(ProgramKind::Module));
        assert_eq!(ProgramKind::detect(b"\0asm\x0d\0\x01\0more").ok(), Some(ProgramKind::Component));
        assert_eq!(ProgramKind::detect(&sample()).ok(), Some(ProgramKind::Component));
        for bad in [&b"\0asm"[..], b"(module)", b"\0asm\x01\0\x02\0"] {
            assert!(matches!(ProgramKind::detect(bad), Err(WasmError::Compile(_))), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn run_ok_err_and_exit_with_code() {
        assert!(run(&command("i32.const 0"), PLAIN, Limits::default()).await.is_ok());
        let failed = run(&command("i32.const 1"), PLAIN, Limits::default()).await.expect_err("run returned err");
        assert_eq!(failed.downcast_ref::<I32Exit>().map(|e| e.0), Some(1));
        let exited = run(&command("i32.const 7 call $exit i32.const 0"), PLAIN, Limits::default()).await.expect_err("exit");
        assert_eq!(exited.downcast_ref::<I32Exit>().map(|e| e.0), Some(7));
    }

    #[tokio::test]
    async fn the_sample_component_fits_in_one_pool_slot() {
        let pooled = EngineFlavor { epochs: true, fuel: false, pool_slots: Some(1) };
        run(&sample(), pooled, Limits::default()).await.expect("hello-p2 runs in one slot's core instances and tables");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spinning_component_yields_at_epoch_ticks_so_it_is_throttled_and_dropped() {
        let kit = EngineKit::new(PLAIN).expect("engine");
        start_epoch_ticker(&[&kit.engine]).expect("ticker");
        let compiled = Compiled::compile(&kit.engine, &command("(loop br 0) i32.const 0")).expect("compile");
        let program = Program::link(&kit, &compiled).expect("link");
        let used = Arc::new(AtomicU64::new(0));
        let run = Metered::new(program.run(WasiCtxBuilder::new(), Limits::default(), Arc::new(Meters::default()), GuestNet::default()), Some(200), used.clone());
        let wall = Duration::from_millis(600);
        // Only a guest that yields lets the timeout fire; then the instance is dropped.
        assert!(tokio::time::timeout(wall, run).await.is_err(), "the loop never ends by itself");
        let share = used.load(Ordering::Relaxed) as f64 / wall.as_nanos() as f64;
        assert!((0.05..=0.3).contains(&share), "a 200m limit used {share:.3} of a core");
    }

    #[tokio::test]
    async fn fuel_ends_a_spinning_component_on_a_pooled_engine() {
        let fuel = EngineFlavor { epochs: true, fuel: true, pool_slots: Some(1) };
        let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
        let spun = run(&command("(loop br 0) i32.const 0"), fuel, limits).await.expect_err("out of fuel");
        assert_eq!(spun.downcast_ref::<Trap>(), Some(&Trap::OutOfFuel));
    }
}
