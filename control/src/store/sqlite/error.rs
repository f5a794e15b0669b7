//! Failures of the SQLite backend itself, as opposed to precondition failures
//! (`NotFound`, `Conflict`, ...), which are ordinary `StoreError`s. They reach
//! callers boxed in `StoreError::Backend`, keeping the cause chain.

use std::path::PathBuf;
use std::sync::Arc;

use crate::store::{Revision, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("cannot open the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("{context}")]
    Sql {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The group-commit transaction that carried this write failed; every
    /// write of that batch failed with it and none of them is visible.
    #[error("the write transaction failed")]
    WriteFailed(#[source] Arc<sqlx::Error>),
    #[error("stored value of {key} at revision {revision} is not valid JSON")]
    CorruptValue {
        key: String,
        revision: Revision,
        #[source]
        source: serde_json::Error,
    },
    #[error("unknown event kind {code} in the change log at revision {revision}")]
    CorruptEventKind { revision: Revision, code: i64 },
    #[error("cannot serialize object {key}")]
    Encode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the store is closed")]
    Closed,
}

impl SqliteError {
    /// Adapter for `map_err`: wraps a sqlx error with what we were doing.
    pub(super) fn sql(context: &'static str) -> impl FnOnce(sqlx::Error) -> SqliteError {
        move |source| SqliteError::Sql { context, source }
    }
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        StoreError::Backend(Box::new(e))
    }
}
