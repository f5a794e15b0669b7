//! One requested write and its precondition check. `plan` is pure: given the
//! key's current state and the revision the write would get, it either
//! refuses (`AlreadyExists`, `NotFound`, `Conflict`, `NotAnObject`) or returns
//! the event the write produces. The writer persists that event.

use serde_json::Value;

use super::object::stamp;
use crate::store::{EventKind, Revision, StoreError, StoredObject, WatchEvent};

pub(super) enum Mutation {
    Create {
        key: String,
        value: Value,
    },
    Update {
        key: String,
        value: Value,
        expect: Option<Revision>,
    },
    Delete {
        key: String,
        expect: Option<Revision>,
    },
}

impl Mutation {
    pub(super) fn key(&self) -> &str {
        match self {
            Mutation::Create { key, .. }
            | Mutation::Update { key, .. }
            | Mutation::Delete { key, .. } => key,
        }
    }

    /// The event this write produces at `revision`, or why it is refused.
    pub(super) fn plan(
        self,
        current: Option<&StoredObject>,
        revision: Revision,
    ) -> Result<WatchEvent, StoreError> {
        match self {
            Mutation::Create { key, value } => {
                if current.is_some() {
                    return Err(StoreError::AlreadyExists(key));
                }
                Ok(WatchEvent {
                    kind: EventKind::Added,
                    object: stamp(&key, value, revision)?,
                    prev: None,
                })
            }
            Mutation::Update { key, value, expect } => {
                let current = require(&key, current, expect)?;
                let object = stamp(&key, value, revision)?;
                Ok(WatchEvent {
                    kind: EventKind::Modified,
                    object,
                    prev: Some(current.clone()),
                })
            }
            Mutation::Delete { key, expect } => {
                let current = require(&key, current, expect)?;
                // The delete event carries the last state, at the delete's revision.
                let object = stamp(&key, current.value.as_ref().clone(), revision)?;
                Ok(WatchEvent {
                    kind: EventKind::Deleted,
                    object,
                    prev: Some(current.clone()),
                })
            }
        }
    }
}

/// The key must exist and, with `expect`, be at exactly that revision.
fn require<'a>(
    key: &str,
    current: Option<&'a StoredObject>,
    expect: Option<Revision>,
) -> Result<&'a StoredObject, StoreError> {
    let current = current.ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
    match expect {
        Some(expected) if expected != current.revision => Err(StoreError::Conflict {
            key: key.to_owned(),
            expected,
            actual: current.revision,
        }),
        _ => Ok(current),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn existing(revision: Revision) -> StoredObject {
        stamp(
            "ns/a",
            json!({"metadata": {"name": "a"}, "data": {"v": "old"}}),
            revision,
        )
        .expect("stamp")
    }

    fn value() -> Value {
        json!({"metadata": {"name": "a"}, "data": {"v": "new"}})
    }

    #[test]
    fn create_refuses_an_existing_key() {
        let create = Mutation::Create {
            key: "ns/a".into(),
            value: value(),
        };
        assert!(
            matches!(create.plan(Some(&existing(3)), 4), Err(StoreError::AlreadyExists(k)) if k == "ns/a")
        );
        let event = Mutation::Create {
            key: "ns/a".into(),
            value: value(),
        }
        .plan(None, 4)
        .expect("create");
        assert_eq!((event.kind, event.object.revision), (EventKind::Added, 4));
    }

    #[test]
    fn update_checks_presence_and_expected_revision() {
        let update = |expect| Mutation::Update {
            key: "ns/a".into(),
            value: value(),
            expect,
        };
        assert!(matches!(
            update(None).plan(None, 9),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            update(Some(2)).plan(Some(&existing(3)), 9),
            Err(StoreError::Conflict {
                expected: 2,
                actual: 3,
                ..
            })
        ));
        let event = update(Some(3))
            .plan(Some(&existing(3)), 9)
            .expect("matching revision");
        assert_eq!(event.kind, EventKind::Modified);
        assert_eq!(event.object.value["data"]["v"], "new");
        assert_eq!(event.prev.map(|prev| prev.revision), Some(3));
        assert!(
            update(None).plan(Some(&existing(3)), 9).is_ok(),
            "no expectation: unconditional"
        );
    }

    #[test]
    fn delete_returns_last_state_at_the_delete_revision() {
        let event = Mutation::Delete {
            key: "ns/a".into(),
            expect: None,
        }
        .plan(Some(&existing(3)), 10)
        .expect("delete");
        assert_eq!(event.kind, EventKind::Deleted);
        assert_eq!(event.object.revision, 10);
        assert_eq!(event.object.value["metadata"]["resourceVersion"], "10");
        assert_eq!(event.object.value["data"]["v"], "old");
        let stale = Mutation::Delete {
            key: "ns/a".into(),
            expect: Some(1),
        };
        assert!(matches!(
            stale.plan(Some(&existing(3)), 10),
            Err(StoreError::Conflict { .. })
        ));
    }
}
