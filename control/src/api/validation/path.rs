//! Field paths in Kubernetes notation (`spec.containers[0].ports[1].name`,
//! `metadata.labels[app]`), built up while walking an object so every error
//! names exactly the field it is about.

use std::fmt;

/// A path from the object root to one field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path starting at a top-level field such as `spec` or `metadata`.
    pub fn new(root: &str) -> Self {
        FieldPath(root.to_string())
    }

    /// The struct field `name` below this path.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            FieldPath(name.to_string())
        } else {
            FieldPath(format!("{}.{name}", self.0))
        }
    }

    /// The element at `index` of the list at this path.
    pub fn index(&self, index: usize) -> Self {
        FieldPath(format!("{}[{index}]", self.0))
    }

    /// The entry `key` of the map at this path.
    pub fn key(&self, key: &str) -> Self {
        FieldPath(format!("{}[{key}]", self.0))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.0
    }
}

impl From<&FieldPath> for String {
    fn from(p: &FieldPath) -> String {
        p.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_children_indexes_and_keys() {
        let spec = FieldPath::new("spec");
        assert_eq!(spec.child("containers").index(0).child("image").to_string(), "spec.containers[0].image");
        assert_eq!(FieldPath::new("metadata").child("labels").key("app").to_string(), "metadata.labels[app]");
        assert_eq!(FieldPath::default().child("data").to_string(), "data");
    }
}
