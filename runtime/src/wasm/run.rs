//! Runs one instance of a prepared module to its end: a Store per instance
//! with the memory limiter, the fuel budget, and an epoch deadline that makes
//! the guest yield its tokio worker at every tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wasmtime::{InstancePre, Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;

use super::exit::RunFacts;
use super::guest::Guest;
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

/// Instantiates `pre` in a fresh Store and runs its `_start`.
pub async fn run_instance(pre: InstancePre<Guest>, wasi: WasiP1Ctx, limits: Limits, meters: Arc<Meters>) -> wasmtime::Result<()> {
    let engine = pre.module().engine().clone();
    let limiter = MemoryLimiter::new(limits.memory_bytes, meters.memory.clone());
    let mut store = Store::new(&engine, Guest { wasi, limiter });
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
    let result = async {
        let instance = pre.instantiate_async(&mut store).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    }
    .await;
    if let (Some(budget), Ok(left)) = (budget, store.get_fuel()) {
        meters.fuel_consumed.store(budget.saturating_sub(left), Ordering::Relaxed);
    }
    result
}
