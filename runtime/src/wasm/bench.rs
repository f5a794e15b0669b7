//! Measurements behind `wasmkube bench wasm`: the cost of instantiating a
//! cached module, and the CPU cost of epoch preemption and of fuel metering
//! on a CPU-bound guest (the `burner` sample). Each builds its own Engine, so
//! it can be run without a node.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

use super::cache::ProgramCache;
use super::cpu::Metered;
use super::engine::{start_epoch_ticker, EngineFlavor, EngineKit, Metering};
use super::exit::describe;
use super::guest::{ModuleGuest, ModuleWasi};
use super::net::p1::P1Net;
use super::net::GuestNet;
use super::limits::{MemoryLimiter, MemoryRecord};
use super::program::Program;
use super::run::Meters;
use super::WasmError;
use crate::cri::Limits;

/// Percentiles of a set of timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    /// `None` for an empty set.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Percentiles { median: at(0.5), p99: at(0.99), max: at(1.0) })
    }
}

/// Times `iterations` instantiations of `module` from a cached `InstancePre` (Store creation
/// excluded, as an agent creates it before), with the node's pooling allocator or on demand.
pub async fn instantiate_cached(module: &[u8], iterations: usize, pool_slots: Option<u32>) -> Result<Percentiles, WasmError> {
    let kit = EngineKit::new(EngineFlavor { epochs: true, fuel: false, pool_slots })?;
    let cache = Arc::new(ProgramCache::new(None)?);
    let Program::Module(pre) = cache.prepare(&kit, Metering::Epochs, "bench", Arc::from(module)).await? else {
        return Err(WasmError::Compile("the instantiation benchmark takes a core module".into()));
    };
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let wasi = ModuleWasi { p1: WasiCtxBuilder::new().build_p1(), net: P1Net::default() };
        let guest = ModuleGuest { wasi, limiter: MemoryLimiter::new(None, Arc::new(MemoryRecord::default())) };
        let mut store = Store::new(&kit.engine, guest);
        store.limiter(|guest| &mut guest.limiter);
        store.set_epoch_deadline(1);
        let started = Instant::now();
        pre.instantiate_async(&mut store).await.map_err(|e| WasmError::Link(describe(&e)))?;
        samples.push(started.elapsed());
    }
    Percentiles::of(samples).ok_or_else(|| WasmError::Engine("no iterations".into()))
}

/// How the burner runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BurnMode {
    /// No epochs, no fuel: the baseline.
    Plain,
    /// Epoch interruption with a yield per 10 ms tick, as every pod runs.
    Epochs,
    /// Epochs plus fuel metering, as pods with a `wasmkube.io/fuel` limit run.
    Fuel,
}

/// Runs `burner.wasm <rounds>` to its end and returns the CPU time it took.
pub async fn burner_cpu_time(burner: &[u8], rounds: u32, mode: BurnMode) -> Result<Duration, WasmError> {
    let flavor = match mode {
        BurnMode::Plain => EngineFlavor { epochs: false, fuel: false, pool_slots: None },
        BurnMode::Epochs => EngineFlavor { epochs: true, fuel: false, pool_slots: None },
        BurnMode::Fuel => EngineFlavor { epochs: true, fuel: true, pool_slots: None },
    };
    let kit = EngineKit::new(flavor)?;
    if flavor.epochs {
        start_epoch_ticker(&[&kit.engine])?;
    }
    let metering = if flavor.fuel { Metering::Fuel } else { Metering::Epochs };
    let cache = Arc::new(ProgramCache::new(None)?);
    let program = cache.prepare(&kit, metering, "burner", Arc::from(burner)).await?;
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(&["burner".to_owned(), rounds.to_string()]);
    let limits = Limits { fuel: flavor.fuel.then_some(u64::MAX), ..Limits::default() };
    let meters = Arc::new(Meters::default());
    let run = Metered::new(program.run(wasi, limits, meters.clone(), GuestNet::default()), None, meters.cpu_nanos.clone());
    run.await.map_err(|e| WasmError::Engine(format!("burner failed: {}", describe(&e))))?;
    Ok(Duration::from_nanos(meters.cpu_nanos.load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_sorted_set() {
        let samples = (1..=100).map(Duration::from_micros).collect();
        let p = Percentiles::of(samples).expect("samples");
        assert_eq!(p.median, Duration::from_micros(51));
        assert_eq!(p.p99, Duration::from_micros(99));
        assert_eq!(p.max, Duration::from_micros(100));
        assert_eq!(Percentiles::of(Vec::new()), None);
    }
}
