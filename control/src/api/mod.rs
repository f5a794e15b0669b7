//! The Kubernetes REST API: routing, discovery, per-kind behaviour
//! (validation, defaults, tables, patches) and the generic handlers.

pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selectors;
pub mod table;
pub mod validation;
