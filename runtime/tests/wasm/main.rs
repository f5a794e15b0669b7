//! The wasm runtime end to end, with the real samples from `samples/wasm`
//! (rebuild them with `samples/wasm/build.sh`): output in the CRI log, mounts,
//! limits (memory, CPU, fuel), stop, exec, and the on-disk module cache.

mod bench;
mod cache;
mod components;
mod exec;
mod fixture;
mod lifecycle;
mod limits;
mod network;
