//! wasmkube control plane: the Kubernetes-compatible API server, its object
//! store, and (in later issues) the scheduler and controllers. Every other
//! component reaches the store only through the API this crate serves.

pub mod api;
pub mod error;

pub mod store;
pub mod server;
