//! The database file: connection settings, tables, and loading the state the
//! store starts from.
//!
//! Tables:
//! - `objects`: the current state, one row per key;
//! - `log`: the change history (one row per revision, deletes included, with
//!   the object's last state) that watches replay; compaction trims its tail;
//! - `meta`: one row with the last revision and the compacted revision, so
//!   revisions continue across restarts even if the log was trimmed.
//!
//! Durability: journal_mode=WAL with synchronous=NORMAL. A COMMIT has written
//! its frames to the WAL file with write(2) before it returns, so once a write
//! is acknowledged it is in the kernel's page cache and survives kill -9 of
//! this process; only a power loss or kernel crash can drop the last commits
//! (FULL would fsync per commit to cover that, at a large cost in write rate).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};

use super::error::SqliteError;
use super::object::decode;
use crate::store::{Revision, StoredObject};

/// Statements run one by one (sqlx's multi-statement `raw_sql` makes the
/// caller's future lose `Send`).
const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS objects (
        key TEXT PRIMARY KEY NOT NULL,
        revision INTEGER NOT NULL,
        value BLOB NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS log (
        revision INTEGER PRIMARY KEY NOT NULL,
        key TEXT NOT NULL,
        kind INTEGER NOT NULL,
        value BLOB NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS meta (
        id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        revision INTEGER NOT NULL,
        compacted INTEGER NOT NULL
    )",
    "INSERT OR IGNORE INTO meta (id, revision, compacted) VALUES (1, 0, 0)",
];

/// `PRAGMA auto_vacuum` value for INCREMENTAL.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Nobody else writes, so waiting on a lock only happens around checkpoints;
/// this bound turns a stuck file lock into an error instead of a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the store starts from.
pub(super) struct Loaded {
    pub objects: BTreeMap<String, StoredObject>,
    pub revision: Revision,
    pub compacted: Revision,
}

/// The one connection that writes. auto_vacuum must be set before the first
/// table exists (sqlx applies it before journal_mode), so that freed log pages
/// can be returned to the file system by `incremental_vacuum`.
pub(super) async fn open_writer(
    path: &Path,
    wal_size_limit: u64,
) -> Result<SqliteConnection, SqliteError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .auto_vacuum(SqliteAutoVacuum::Incremental)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        // Truncate the WAL back to this size after checkpoints, so that a
        // burst does not leave a large -wal file behind.
        .pragma("journal_size_limit", wal_size_limit.to_string());
    let mut conn = options
        .connect()
        .await
        .map_err(|source| SqliteError::Open {
            path: path.to_owned(),
            source,
        })?;
    ensure_incremental_vacuum(&mut conn).await?;
    create_tables(&mut conn).await?;
    Ok(conn)
}

/// Connections for watch replay; they can never write.
pub(super) async fn open_readers(path: &Path, connections: u32) -> Result<SqlitePool, SqliteError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("query_only", "ON");
    SqlitePoolOptions::new()
        .max_connections(connections.max(1))
        .connect_with(options)
        .await
        .map_err(|source| SqliteError::Open {
            path: path.to_owned(),
            source,
        })
}

/// A file created elsewhere (or by an older build) without auto_vacuum is
/// converted once; VACUUM rewrites the file, which is quick at startup and
/// needed only once.
async fn ensure_incremental_vacuum(conn: &mut SqliteConnection) -> Result<(), SqliteError> {
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
        .fetch_one(&mut *conn)
        .await
        .map_err(SqliteError::sql("reading auto_vacuum"))?;
    if mode != AUTO_VACUUM_INCREMENTAL {
        for statement in ["PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"] {
            sqlx::query(statement)
                .execute(&mut *conn)
                .await
                .map_err(SqliteError::sql(
                    "converting the file to auto_vacuum=INCREMENTAL",
                ))?;
        }
    }
    Ok(())
}

async fn create_tables(conn: &mut SqliteConnection) -> Result<(), SqliteError> {
    for statement in SCHEMA {
        sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .map_err(SqliteError::sql("creating tables"))?;
    }
    Ok(())
}

/// Read the current objects and revisions in one snapshot.
pub(super) async fn load(conn: &mut SqliteConnection) -> Result<Loaded, SqliteError> {
    let mut tx = conn
        .begin()
        .await
        .map_err(SqliteError::sql("starting the load"))?;
    let meta = sqlx::query("SELECT revision, compacted FROM meta WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(SqliteError::sql("reading meta"))?;
    let revision: Revision = meta.get(0);
    let compacted: Revision = meta.get(1);
    let rows = sqlx::query("SELECT key, revision, value FROM objects")
        .fetch_all(&mut *tx)
        .await
        .map_err(SqliteError::sql("reading objects"))?;
    tx.commit()
        .await
        .map_err(SqliteError::sql("ending the load"))?;
    let mut objects = BTreeMap::new();
    for row in rows {
        let object = decode(row.get(0), row.get(1), row.get(2))?;
        objects.insert(object.key.clone(), object);
    }
    Ok(Loaded {
        objects,
        revision,
        compacted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn new_file_is_wal_with_incremental_vacuum_and_empty_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_writer(&dir.path().join("s.db"), 1 << 20)
            .await
            .expect("open");
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&mut conn)
            .await
            .expect("pragma");
        assert_eq!(mode, AUTO_VACUUM_INCREMENTAL);
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .expect("pragma");
        assert_eq!(journal, "wal");
        let loaded = load(&mut conn).await.expect("load");
        assert!(loaded.objects.is_empty());
        assert_eq!((loaded.revision, loaded.compacted), (0, 0));
    }

    #[tokio::test]
    async fn file_without_auto_vacuum_is_converted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        let mut plain = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .expect("create");
        create_tables(&mut plain).await.expect("schema");
        plain.close().await.expect("close");
        let mut conn = open_writer(&path, 1 << 20).await.expect("open");
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&mut conn)
            .await
            .expect("pragma");
        assert_eq!(mode, AUTO_VACUUM_INCREMENTAL);
    }
}
