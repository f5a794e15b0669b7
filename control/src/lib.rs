//! wasmkube control plane: the Kubernetes-compatible API server, its object
//! store, the scheduler and the controllers. Only the API server touches the
//! store; the scheduler and controllers are API clients like any node agent.

pub mod api;
pub mod client;
pub mod controllers;
pub mod error;
pub mod events;
pub mod leader;
pub mod scheduler;
pub mod server;
pub mod store;
