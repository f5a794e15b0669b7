//! One pod's life on this node: admission (images, runtime), the records the
//! status is computed from, and the worker that drives it all.

pub mod admit;
pub mod manager;
pub mod objects;
pub mod record;
pub mod status;
pub mod worker;
