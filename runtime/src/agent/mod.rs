//! The node agent (kubelet).

pub mod spec;
