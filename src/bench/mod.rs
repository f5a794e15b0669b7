//! `wasmkube bench ...`: benchmarks that print their figures.

pub mod api;
pub mod images;
mod harness;
pub mod wasm;
