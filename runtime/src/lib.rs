//! Node side of wasmkube: the agent (kubelet), the `ContainerRuntime` trait
//! and its `wasm` and `linux` implementations, logs, volumes and probes.

pub mod agent;
pub mod cri;
pub mod logs;
pub mod mounts;
pub mod net;
pub mod wasm;
pub mod linux;
