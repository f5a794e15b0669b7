//! Conversions between caller JSON, `StoredObject`s and database rows. The
//! store owns `metadata.resourceVersion`: every write stamps it here, so the
//! resourceVersion a client sees is always the revision of the last write.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::error::SqliteError;
use crate::store::{EventKind, Revision, StoreError, StoredObject};

/// Stamp `value` with `revision` and serialize it once; the bytes are what
/// the database stores and what list responses concatenate.
pub(super) fn stamp(
    key: &str,
    mut value: Value,
    revision: Revision,
) -> Result<StoredObject, StoreError> {
    let metadata = value
        .as_object_mut()
        .and_then(|object| object.get_mut("metadata"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| StoreError::NotAnObject(key.to_owned()))?;
    metadata.insert(
        "resourceVersion".to_owned(),
        Value::String(revision.to_string()),
    );
    let raw = serde_json::to_vec(&value).map_err(|source| SqliteError::Encode {
        key: key.to_owned(),
        source,
    })?;
    Ok(StoredObject {
        key: key.to_owned(),
        revision,
        value: Arc::new(value),
        raw: Bytes::from(raw),
    })
}

/// Rebuild a `StoredObject` from a row: the stored bytes are already stamped.
pub(super) fn decode(
    key: String,
    revision: Revision,
    raw: Vec<u8>,
) -> Result<StoredObject, SqliteError> {
    let value = serde_json::from_slice(&raw).map_err(|source| SqliteError::CorruptValue {
        key: key.clone(),
        revision,
        source,
    })?;
    Ok(StoredObject {
        key,
        revision,
        value: Arc::new(value),
        raw: Bytes::from(raw),
    })
}

/// How an event kind is stored in the `log.kind` column.
pub(super) fn kind_code(kind: EventKind) -> i64 {
    match kind {
        EventKind::Added => 1,
        EventKind::Modified => 2,
        EventKind::Deleted => 3,
    }
}

pub(super) fn kind_from_code(code: i64, revision: Revision) -> Result<EventKind, SqliteError> {
    match code {
        1 => Ok(EventKind::Added),
        2 => Ok(EventKind::Modified),
        3 => Ok(EventKind::Deleted),
        _ => Err(SqliteError::CorruptEventKind { revision, code }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stamp_sets_resource_version_in_value_and_bytes() {
        let object = stamp(
            "default/a",
            json!({"metadata": {"name": "a", "resourceVersion": "1"}}),
            42,
        )
        .expect("object with metadata");
        assert_eq!(object.revision, 42);
        assert_eq!(object.value["metadata"]["resourceVersion"], "42");
        let reparsed: Value = serde_json::from_slice(&object.raw).expect("valid JSON");
        assert_eq!(reparsed, *object.value);
    }

    #[test]
    fn stamp_rejects_values_without_metadata() {
        for value in [json!([1, 2]), json!({"spec": {}}), json!({"metadata": "x"})] {
            assert!(
                matches!(stamp("k", value, 1), Err(StoreError::NotAnObject(key)) if key == "k")
            );
        }
    }

    #[test]
    fn decode_round_trips_and_reports_corruption() {
        let object = stamp("k", json!({"metadata": {}}), 7).expect("stamp");
        let back = decode("k".into(), 7, object.raw.to_vec()).expect("decode");
        assert_eq!(back.value, object.value);
        assert!(matches!(
            decode("k".into(), 7, b"{nope".to_vec()),
            Err(SqliteError::CorruptValue { .. })
        ));
    }

    #[test]
    fn kind_codes_round_trip() {
        for kind in [EventKind::Added, EventKind::Modified, EventKind::Deleted] {
            assert_eq!(
                kind_from_code(kind_code(kind), 1).expect("known code"),
                kind
            );
        }
        assert!(kind_from_code(9, 1).is_err());
    }
}
