//! Field sets in the upstream `FieldsV1` encoding: the trie of paths that one
//! field manager owns, as stored in `metadata.managedFields[].fieldsV1`.
//!
//! Each trie edge is one encoded path element: `f:spec` (a field), `k:{"name":"c1"}`
//! (a list item found by its keys), `v:"x"` (an item of a set of scalars) or
//! `i:0` (a list position). A node that is itself a member of the set (not just
//! the parent of members) is written as `{}` when it is a leaf, or with a `"."`
//! entry when it also has children, exactly as the API server writes it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a stored `fieldsV1` value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldsError {
    #[error("fieldsV1 must be a JSON object, found {0}")]
    NotAnObject(String),
    #[error("invalid fieldsV1 path element {0:?}")]
    BadElement(String),
}

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq)]
pub enum PathElement {
    /// A field of a map or struct.
    Field(String),
    /// An item of an associative list, named by its key fields (sorted by name).
    Key(Map<String, Value>),
    /// An item of a set of scalars.
    Value(Value),
    /// An item of a list that has no identity but its position.
    Index(usize),
}

impl PathElement {
    /// A field element.
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_string())
    }

    /// The `fieldsV1` spelling: `f:name`, `k:{...}`, `v:...`, `i:N`.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(keys) => format!("k:{}", Value::Object(keys.clone())),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses the `fieldsV1` spelling back.
    pub fn decode(encoded: &str) -> Result<Self, FieldsError> {
        let bad = || FieldsError::BadElement(encoded.to_string());
        let (prefix, rest) = encoded.split_once(':').ok_or_else(bad)?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => match serde_json::from_str(rest) {
                Ok(Value::Object(keys)) => Ok(PathElement::Key(keys)),
                _ => Err(bad()),
            },
            "v" => serde_json::from_str(rest).map(PathElement::Value).map_err(|_| bad()),
            "i" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// How upstream prints the element inside a path: `.name`, `[name="c1"]`,
    /// `[="x"]`, `[0]`.
    fn render(&self) -> String {
        match self {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Key(keys) => {
                let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(v) => format!("[={v}]"),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }
}

/// A path of encoded elements, the unit a [`FieldSet`] stores.
pub type FieldPath = Vec<String>;

/// Renders an encoded path the way conflict messages show it: `.spec.replicas`,
/// `.spec.template.spec.containers[name="c1"].image`.
pub fn render_path(path: &[String]) -> String {
    path.iter()
        .map(|el| PathElement::decode(el).map(|e| e.render()).unwrap_or_else(|_| format!(".{el}")))
        .collect()
}

/// A set of field paths stored as a trie keyed by encoded path elements.
#[derive(Clone, Debug, Default)]
pub struct FieldSet {
    /// Whether the path leading to this node is itself in the set.
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

/// Sets are equal when they hold the same paths, whatever empty interior
/// nodes removals left behind.
impl PartialEq for FieldSet {
    fn eq(&self, other: &Self) -> bool {
        self.paths() == other.paths()
    }
}

impl Eq for FieldSet {}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the set holds no path at all.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path` (its parents become interior nodes, not members).
    pub fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for el in path {
            node = node.children.entry(el.clone()).or_default();
        }
        node.member = true;
    }

    /// Whether `path` itself is a member.
    pub fn contains(&self, path: &[String]) -> bool {
        self.node(path).is_some_and(|n| n.member)
    }

    /// True when `path` or anything below it is in the set.
    pub fn covers_any_under(&self, path: &[String]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    /// True when the node at `path` has children, i.e. it is a container in the
    /// object rather than a leaf value.
    pub fn has_children_at(&self, path: &[String]) -> bool {
        self.node(path).is_some_and(|n| !n.children.is_empty())
    }

    fn node(&self, path: &[String]) -> Option<&FieldSet> {
        path.iter().try_fold(self, |node, el| node.children.get(el))
    }

    /// Every member path, parents before children.
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (el, child) in &self.children {
            prefix.push(el.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for p in other.paths() {
            out.insert(&p);
        }
        out
    }

    /// Paths in `self` but not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        self.filtered(|p| !other.contains(p))
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        self.filtered(|p| other.contains(p))
    }

    fn filtered(&self, keep: impl Fn(&[String]) -> bool) -> FieldSet {
        let mut out = FieldSet::new();
        for p in self.paths().into_iter().filter(|p| keep(p)) {
            out.insert(&p);
        }
        out
    }

    /// Removes `path` and everything below it.
    pub fn remove_subtree(&mut self, path: &[String]) {
        let Some((last, parents)) = path.split_last() else {
            *self = FieldSet::new();
            return;
        };
        let mut node = self;
        for el in parents {
            match node.children.get_mut(el) {
                Some(child) => node = child,
                None => return,
            }
        }
        node.children.remove(last);
    }

    /// The `fieldsV1` JSON of this set.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (el, child) in &self.children {
            if !child.is_empty() {
                map.insert(el.clone(), child.to_json());
            }
        }
        Value::Object(map)
    }

    /// Reads a `fieldsV1` value.
    pub fn from_json(value: &Value) -> Result<FieldSet, FieldsError> {
        let mut set = FieldSet::new();
        set.read_children(value)?;
        Ok(set)
    }

    fn read_children(&mut self, value: &Value) -> Result<(), FieldsError> {
        let map = value.as_object().ok_or_else(|| FieldsError::NotAnObject(value.to_string()))?;
        for (el, child) in map {
            if el == "." {
                self.member = true;
                continue;
            }
            PathElement::decode(el)?;
            let node = self.children.entry(el.clone()).or_default();
            let child_map = child.as_object().ok_or_else(|| FieldsError::NotAnObject(child.to_string()))?;
            // A leaf `{}` names a member; a non-empty object is a parent that is a
            // member only if it carries ".".
            if child_map.is_empty() {
                node.member = true;
            } else {
                node.read_children(child)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(els: &[&str]) -> FieldPath {
        els.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_v1_round_trips_through_the_upstream_encoding() {
        let stored = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"c1\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}
            }
        });
        let set = FieldSet::from_json(&stored).unwrap();
        assert!(set.contains(&path(&["f:spec", "f:replicas"])));
        assert!(set.contains(&path(&["f:metadata", "f:labels"])));
        assert!(!set.contains(&path(&["f:spec"])));
        assert!(set.contains(&path(&["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"c1\"}"])));
        assert_eq!(set.to_json(), stored);
    }

    #[test]
    fn set_algebra_works_per_path() {
        let mut a = FieldSet::new();
        a.insert(&path(&["f:spec", "f:replicas"]));
        a.insert(&path(&["f:spec", "f:paused"]));
        let mut b = FieldSet::new();
        b.insert(&path(&["f:spec", "f:replicas"]));
        assert_eq!(a.difference(&b).paths(), vec![path(&["f:spec", "f:paused"])]);
        assert_eq!(a.intersection(&b).paths(), vec![path(&["f:spec", "f:replicas"])]);
        assert_eq!(b.union(&a), a);
        assert!(a.covers_any_under(&path(&["f:spec"])));
        a.remove_subtree(&path(&["f:spec", "f:paused"]));
        assert_eq!(a, b, "equality ignores the emptied interior nodes");
        a.remove_subtree(&path(&["f:spec"]));
        assert!(a.is_empty());
    }

    #[test]
    fn paths_render_like_upstream_conflict_messages() {
        assert_eq!(render_path(&path(&["f:spec", "f:replicas"])), ".spec.replicas");
        let key = PathElement::Key(serde_json::from_str(r#"{"name":"c1"}"#).unwrap()).encode();
        assert_eq!(
            render_path(&[String::from("f:containers"), key, String::from("f:image")]),
            ".containers[name=\"c1\"].image"
        );
        assert_eq!(render_path(&path(&["f:finalizers", "v:\"x\""])), ".finalizers[=\"x\"]");
    }

    #[test]
    fn malformed_fields_are_rejected() {
        assert!(FieldSet::from_json(&json!({"x:spec": {}})).is_err());
        assert!(FieldSet::from_json(&json!({"k:notjson": {}})).is_err());
        assert!(FieldSet::from_json(&json!([])).is_err());
    }
}
