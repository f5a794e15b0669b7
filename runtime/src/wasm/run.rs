//! Runs one instance of a prepared program (core module or component) to its
//! end: a Store per instance with the memory limiter, the fuel budget, and an
//! epoch deadline that makes the guest yield its tokio worker at every tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wasmtime::{Engine, InstancePre, Store, UpdateDeadline};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::I32Exit;

use super::exit::RunFacts;
use super::guest::{ComponentGuest, ComponentWasi, Guest, ModuleGuest, ModuleWasi};
use super::limits::{MemoryLimiter, MemoryRecord};
use crate::cri::Limits;

/// Live readings of one instance, shared with `stats()` and the exit mapping.
#[derive(Debug, Default)]
pub struct Meters {
    pub memory: Arc<MemoryRecord>,
    pub cpu_nanos: Arc<AtomicU64>,
    /// Fuel used so far: exact at the end, refreshed at each epoch tick while running (the
    /// value read mid-loop can lag, since compiled code writes fuel back only at calls).
    pub fuel_consumed: AtomicU64,
    pub output_bytes: Arc<AtomicU64>,
}

impl Meters {
    pub fn facts(&self, limits: &Limits) -> RunFacts {
        RunFacts {
            hit_memory_cap: self.memory.hit_cap(),
            memory_cap: limits.memory_bytes,
            fuel_budget: limits.fuel,
            fuel_consumed: self.fuel_consumed.load(Ordering::Relaxed),
            output_bytes: self.output_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Instantiates a core module in a fresh Store and runs its `_start`.
pub async fn run_module(pre: InstancePre<ModuleGuest>, wasi: ModuleWasi, limits: Limits, meters: Arc<Meters>) -> wasmtime::Result<()> {
    let mut store = metered_store(pre.module().engine(), wasi, limits, &meters)?;
    let result = async {
        let instance = pre.instantiate_async(&mut store).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    }
    .await;
    record_fuel(&store, limits, &meters);
    result
}

/// Instantiates a command component in a fresh Store and calls its `wasi:cli/run`. A `run` that
/// returns its error variant ended in failure without a code: exit 1, as `wasmtime run` reports
/// it. (`wasi:cli/exit` ends the call with an `I32Exit` error of its own, as `proc_exit` does.)
pub async fn run_component(
    pre: CommandPre<ComponentGuest>,
    wasi: ComponentWasi,
    limits: Limits,
    meters: Arc<Meters>,
) -> wasmtime::Result<()> {
    let mut store = metered_store(pre.engine(), wasi, limits, &meters)?;
    let result = async {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await?.map_err(|()| wasmtime::Error::new(I32Exit(1)))
    }
    .await;
    record_fuel(&store, limits, &meters);
    result
}

/// A Store for one instance with the memory limiter, the fuel budget, and an epoch deadline
/// that makes the guest yield its worker at every tick.
pub fn metered_store<W: Send + 'static>(engine: &Engine, wasi: W, limits: Limits, meters: &Arc<Meters>) -> wasmtime::Result<Store<Guest<W>>> {
    let limiter = MemoryLimiter::new(limits.memory_bytes, meters.memory.clone());
    let mut store = Store::new(engine, Guest { wasi, limiter });
    store.limiter(|guest| &mut guest.limiter);
    if let Some(budget) = limits.fuel {
        store.set_fuel(budget)?;
    }
    store.set_epoch_deadline(1);
    let ticking = meters.clone();
    let budget = limits.fuel;
    store.epoch_deadline_callback(move |ctx| {
        if let (Some(budget), Ok(left)) = (budget, ctx.get_fuel()) {
            ticking.fuel_consumed.store(budget.saturating_sub(left), Ordering::Relaxed);
        }
        // Yield so that other pods on this worker run, throttling can hold the guest, and a
        // stop (dropping this future) takes effect.
        Ok(UpdateDeadline::Yield(1))
    });
    Ok(store)
}

/// The exact fuel used, once the guest has stopped running.
fn record_fuel<W>(store: &Store<Guest<W>>, limits: Limits, meters: &Meters) {
    if let (Some(budget), Ok(left)) = (limits.fuel, store.get_fuel()) {
        meters.fuel_consumed.store(budget.saturating_sub(left), Ordering::Relaxed);
    }
}
