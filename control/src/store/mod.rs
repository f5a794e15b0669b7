//! The object store: one trait, built around a single global revision, with a
//! SQLite backend (the embedded default). etcd can implement the same trait.
//!
//! Values are Kubernetes objects as JSON. The store owns `metadata.resourceVersion`:
//! every write stamps the object with the revision of that write, so the
//! resourceVersion a client sees is always the store's global revision.

pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;

/// The store's global, monotonically increasing write counter.
pub type Revision = i64;

/// One object as stored: its key, the revision of its last write, and the
/// object both parsed and as the exact JSON bytes served to clients.
#[derive(Clone, Debug)]
pub struct StoredObject {
    pub key: String,
    /// Revision of the write that produced this state (== metadata.resourceVersion).
    pub revision: Revision,
    /// The object, with `metadata.resourceVersion` set to `revision`.
    pub value: Arc<Value>,
    /// `value` serialized as JSON (what list responses concatenate).
    pub raw: Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// A change to one key. For `Deleted`, `object` is the last state of the
/// object, with `revision` set to the revision of the delete.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub object: StoredObject,
    /// The state before this change, when the store still knows it (always
    /// for live events; may be `None` for events replayed from history).
    pub prev: Option<StoredObject>,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct ListPage {
    /// Objects in key order.
    pub items: Vec<StoredObject>,
    /// The store's revision the list was read at.
    pub revision: Revision,
    /// When `limit` cut the list short: the last key returned (pass it as
    /// `after_key` to continue).
    pub continue_after: Option<String>,
}

pub type WatchStream = BoxStream<'static, Result<WatchEvent, StoreError>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {key}: expected revision {expected}, found {actual}")]
    Conflict { key: String, expected: Revision, actual: Revision },
    #[error("revision {requested} has been compacted; oldest available is {oldest}")]
    Compacted { requested: Revision, oldest: Revision },
    /// A watcher fell so far behind the live feed that events meant for it
    /// were dropped; its stream ends with this error and the client has to
    /// watch again from `last_delivered` (or re-list).
    #[error("watch fell behind after revision {last_delivered} and was closed")]
    WatcherTooSlow { last_delivered: Revision },
    #[error("object for key {0} is not a JSON object with metadata")]
    NotAnObject(String),
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The storage interface of the API server. Every method is linearizable: a
/// write is acknowledged only once it is durable (survives kill -9), and a read
/// that starts after a write was acknowledged sees it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The object at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<StoredObject>, StoreError>;

    /// Objects whose key starts with `prefix`, in key order, starting after
    /// `after_key` (exclusive) and returning at most `limit` items.
    async fn list(
        &self,
        prefix: &str,
        after_key: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListPage, StoreError>;

    /// Create `key`; fails with `AlreadyExists` if it is present.
    async fn create(&self, key: &str, value: Value) -> Result<StoredObject, StoreError>;

    /// Replace `key`. With `expect`, fails with `Conflict` unless the current
    /// revision of the key equals it (compare-and-swap). Fails with `NotFound`
    /// if the key is absent.
    async fn update(
        &self,
        key: &str,
        value: Value,
        expect: Option<Revision>,
    ) -> Result<StoredObject, StoreError>;

    /// Delete `key`, returning its last state (stamped with the delete's
    /// revision). With `expect`, compare-and-swap as in `update`.
    async fn delete(&self, key: &str, expect: Option<Revision>) -> Result<StoredObject, StoreError>;

    /// Events for keys under `prefix` with a revision strictly greater than
    /// `after`, first replayed from history, then live, in revision order.
    /// Fails with `Compacted` if history no longer reaches back to `after`.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// The revision of the last acknowledged write.
    fn current_revision(&self) -> Revision;

    /// Drop the change history at or below `revision` (watches can no longer
    /// start there). Runs in small batches; never blocks writers for long.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}
