//! The Kubernetes REST API: routing, discovery, per-kind behaviour
//! (validation, defaults, tables, patches) and the generic handlers.

pub mod discovery;
pub mod field_labels;
pub mod object;
pub mod openapi;
pub mod options;
pub mod patch;
pub mod path;
pub mod protobuf;
pub mod resources;
pub mod response;
pub mod selectors;
pub mod table;
pub mod validation;
pub mod handlers;
pub mod node_client;
