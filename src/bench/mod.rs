//! `wasmkube bench ...`: benchmarks that print their figures.

pub mod api;
pub mod deploy;
pub mod images;
mod harness;
pub mod linux;
pub mod net;
pub mod scheduler;
pub mod wasm;
