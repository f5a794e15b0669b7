//! The wasmtime Engines of a node, shared by every wasm container: one with
//! epoch interruption only (every pod), one that also meters fuel (only pods
//! with a `wasmkube.io/fuel` limit: fuel costs +16–47 % CPU, so nobody else
//! pays it), each with its WASI Linkers (preview 1 for core modules, preview 2
//! for components), and the thread that ticks their epochs every 10 ms so that
//! guests yield, can be throttled and stopped.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use super::guest::{ComponentGuest, ModuleGuest};
use super::http::HttpGuest;
use super::WasmError;

/// How often epochs advance: a spinning guest yields its worker at this interval, and a
/// stop takes effect within it.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Which Engine a container runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metering {
    /// Epoch interruption only.
    Epochs,
    /// Epochs plus fuel.
    Fuel,
}

/// How to build an Engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineFlavor {
    /// Epoch interruption; without it a spinning guest can neither be stopped nor descheduled
    /// (only the benchmark turns it off, to measure its cost).
    pub epochs: bool,
    pub fuel: bool,
    /// Instance slots of the pooling allocator; `None` allocates on demand.
    pub pool_slots: Option<u32>,
}

/// Stack of a guest's fiber; WASI host calls run on it too. Address space only: RSS per pod
/// did not change between 256 KiB and 2 MiB.
const ASYNC_STACK: usize = 1 << 20;
const MAX_WASM_STACK: usize = 512 << 10;

/// Core instances one component takes from the pool: a preview 1 program wrapped as a component
/// instantiates its module, the adapter and the adapter's shim and fixup modules (4 for
/// hello-p2, checked by a test in `program`). Core instance slots are only counted, not reserved.
const CORE_INSTANCES_PER_SLOT: u32 = 4;
/// Tables such a component holds: its module's and the shim's indirect-call table. Table slots
/// are reserved address space in one mapping, not a map each.
const TABLES_PER_SLOT: u32 = 2;

pub fn engine_config(flavor: EngineFlavor) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(flavor.epochs);
    config.consume_fuel(flavor.fuel);
    config.async_stack_size(ASYNC_STACK);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.wasm_component_model(true);
    if let Some(slots) = flavor.pool_slots {
        // Sized to what the node admits; each slot costs about 2 memory maps up front (see
        // vm.max_map_count), and the default 4 GiB reservation keeps bounds checks off.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_SLOT))
            .total_memories(slots)
            .total_tables(slots.saturating_mul(TABLES_PER_SLOT))
            .total_stacks(slots);
        pool.total_component_instances(slots);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// An Engine, its WASI Linkers and the fingerprint of its code generation.
#[derive(Clone)]
pub struct EngineKit {
    pub engine: Engine,
    /// WASI preview 1, for core modules.
    pub modules: Arc<Linker<ModuleGuest>>,
    /// WASI preview 2 (every `wasi:*@0.2` interface but HTTP), for components.
    pub components: Arc<ComponentLinker<ComponentGuest>>,
    /// WASI preview 2 and `wasi:http`, for components that serve HTTP (some toolchains,
    /// componentize-py among them, import `wasi:cli` and the rest too).
    pub http: Arc<ComponentLinker<HttpGuest>>,
    /// Part of every cache key: an artifact loads only into an Engine with the same codegen
    /// settings and wasmtime version, and both go into this hash.
    pub fingerprint: String,
}

impl EngineKit {
    pub fn new(flavor: EngineFlavor) -> Result<Self, WasmError> {
        let engine_error = |e: wasmtime::Error| WasmError::Engine(e.to_string());
        let engine = Engine::new(&engine_config(flavor)).map_err(engine_error)?;
        let mut modules = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut modules, |guest: &mut ModuleGuest| &mut guest.wasi.p1).map_err(engine_error)?;
        // Descriptor functions that also know the sockets handed to the module.
        super::net::p1::linker::shadow(&mut modules).map_err(engine_error)?;
        let mut components = ComponentLinker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut components).map_err(engine_error)?;
        // Name lookups go to the pod's DNS servers, not the agent's resolver.
        super::net::dns::add_to_linker(&mut components, |guest: &mut ComponentGuest| guest.wasi.lookups()).map_err(engine_error)?;
        let mut http = ComponentLinker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut http).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut http).map_err(engine_error)?;
        let fingerprint = fingerprint(&engine);
        Ok(EngineKit { engine, modules: Arc::new(modules), components: Arc::new(components), http: Arc::new(http), fingerprint })
    }
}

fn fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `Hash` output into SHA-256, for a digest that is stable across processes
/// (`DefaultHasher` is not). Only the digest is read; `finish` is never used.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

/// Starts the thread that advances the epochs of `engines` every [`EPOCH_TICK`]. It ends once
/// every Engine has been dropped. A plain thread: it must tick even when every tokio worker is
/// busy running guests.
pub fn start_epoch_ticker(engines: &[&Engine]) -> Result<(), WasmError> {
    let weak: Vec<EngineWeak> = engines.iter().map(|e| e.weak()).collect();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            let mut alive = false;
            for engine in weak.iter().filter_map(EngineWeak::upgrade) {
                engine.increment_epoch();
                alive = true;
            }
            if !alive {
                return;
            }
        })
        .map(drop)
        .map_err(|e| WasmError::Engine(format!("epoch ticker thread: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_with_the_codegen_settings() {
        let plain = EngineKit::new(EngineFlavor { epochs: true, fuel: false, pool_slots: None }).expect("engine");
        let again = EngineKit::new(EngineFlavor { epochs: true, fuel: false, pool_slots: None }).expect("engine");
        let fuel = EngineKit::new(EngineFlavor { epochs: true, fuel: true, pool_slots: None }).expect("engine");
        assert_eq!(plain.fingerprint, again.fingerprint);
        assert_ne!(plain.fingerprint, fuel.fingerprint);
        assert_eq!(plain.fingerprint.len(), 64);
    }
}
