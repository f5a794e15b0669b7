//! `wasmkube bench ...`: benchmarks that print their figures.

pub mod api;
mod harness;
