//! Defaults Kubernetes fills in for fields users see.
use serde_json::Value;

use crate::api::resources::ResourceType;

/// Fill in the defaults of `rt`'s kind in `obj`, on create and on update.
pub fn apply_defaults(_rt: &ResourceType, _obj: &mut Value) {}
