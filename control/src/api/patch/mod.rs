//! Patches and server-side apply: JSON merge patch, JSON patch, strategic
//! merge patch, and field ownership (`metadata.managedFields`), both for apply
//! and for every other write.
//!
//! The handlers call [`merge_patch`], [`json_patch`] and [`strategic_merge`]
//! to build the new object of a PATCH, [`apply`] for an apply PATCH, and
//! [`track_update`] on every write that is not an apply.

mod apply;
mod error;
pub mod fields;
mod json;
mod managed;
mod merge;
mod strategic;
pub mod strategy;
mod walk;

pub use apply::apply;
pub use error::{Conflict, PatchError};
pub use json::json_patch;
pub use managed::track_update;
pub use merge::merge_patch;
pub use strategic::strategic_merge;
