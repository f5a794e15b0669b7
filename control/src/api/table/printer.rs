//! The pieces every per-kind printer is made of: column definitions, a row of
//! cells, and the printer that ties them to a resource type.

use jiff::Timestamp;
use serde_json::{json, Value};

/// `ObjectMeta.name` documentation, the description upstream gives every Name column.
pub const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, \
    although some resources may allow a client to request the generation of an appropriate name automatically. \
    Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More \
    info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `ObjectMeta.creationTimestamp` documentation, the description of every Age column.
pub const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was \
    created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not \
    set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null \
    for lists. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One `columnDefinitions` entry. `priority` 0 columns are printed by
/// default, priority 1 only with `-o wide`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `boolean`, `date`.
    pub kind: &'static str,
    /// `name` for the column holding the object's name, else empty.
    pub format: &'static str,
    pub description: &'static str,
    pub priority: u8,
}

impl Column {
    /// The `Name` column (format `name`).
    pub const NAME: Column = Column { name: "Name", kind: "string", format: "name", description: NAME_DOC, priority: 0 };
    /// The `Age` column.
    pub const AGE: Column = Column::string("Age", AGE_DOC);

    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Column { name, kind: "string", format: "", description, priority: 0 }
    }

    pub const fn integer(name: &'static str, description: &'static str) -> Self {
        Column { name, kind: "integer", format: "", description, priority: 0 }
    }

    pub const fn boolean(name: &'static str, description: &'static str) -> Self {
        Column { name, kind: "boolean", format: "", description, priority: 0 }
    }

    pub const fn date(name: &'static str, description: &'static str) -> Self {
        Column { name, kind: "date", format: "", description, priority: 0 }
    }

    /// The same column, shown only with `-o wide`.
    pub const fn wide(self) -> Self {
        Column { priority: 1, ..self }
    }

    pub fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The cells of one row, plus row conditions (upstream marks finished pods
/// with a `Completed` condition).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub cells: Vec<Value>,
    pub conditions: Vec<Value>,
}

impl From<Vec<Value>> for Row {
    fn from(cells: Vec<Value>) -> Self {
        Row { cells, conditions: Vec::new() }
    }
}

/// How one resource type is printed: its columns and a function rendering
/// one object (as stored JSON) into cells, one per column.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub columns: &'static [Column],
    pub row: fn(&Value, Timestamp) -> Row,
}

/// `cells![a, b, c]` builds the cell list from anything `Value: From`
/// accepts (strings, integers, booleans).
macro_rules! cells {
    ($($cell:expr),* $(,)?) => {
        vec![$(serde_json::Value::from($cell)),*]
    };
}
pub(crate) use cells;
