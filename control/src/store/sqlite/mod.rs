//! SQLite backend of the store: one file, WAL, one writer task with group
//! commit, an in-memory index for reads, an in-process watch fan-out and a
//! background compactor. Each of those has its own file:
//!
//! - `schema`: the file, its settings (durability is explained there), tables;
//! - `writer`: the only writer, group commit, publishing after COMMIT;
//! - `mutation`: preconditions of one write;
//! - `index`: current objects in memory, serving get and list;
//! - `watch`: live fan-out and replay of the change log;
//! - `compaction`: bounded history, trimmed in small steps.
//!
//! The three classic SQLite failure modes of k3s are avoided by design:
//! "database is locked" needs two writers and there is one; compaction is
//! woken by the writer whenever the log exceeds its bound and deletes in
//! steps that interleave with writes, so it cannot fall behind; and the log
//! is bounded while `incremental_vacuum` returns freed pages, so Lease churn
//! cannot grow the file.

mod compaction;
mod error;
mod index;
mod mutation;
mod object;
mod schema;
mod watch;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot, Notify};

use self::compaction::{compact_in_steps, Compactor, Retention};
pub use self::error::SqliteError;
use self::index::Index;
use self::mutation::Mutation;
use self::watch::Feed;
use self::writer::{Request, Writer};
use super::{ListPage, Revision, Store, StoreError, StoredObject, WatchStream};

/// Tuning of the SQLite store. `Default` suits the embedded API server.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How often the compactor wakes up on its own (it is also woken when the
    /// log exceeds `retain_max_revisions`).
    pub compaction_interval: Duration,
    /// Keep history at least this long, so watches can resume after a pause...
    pub retain_for: Duration,
    /// ...and at least this many revisions of it...
    pub retain_min_revisions: Revision,
    /// ...but never more than this many: the bound on the log's size. A
    /// watcher further behind than this gets `Compacted` and re-lists.
    pub retain_max_revisions: Revision,
    /// Revisions dropped per compaction step (one short write transaction).
    pub compaction_step: Revision,
    /// Most requests committed in one transaction.
    pub max_batch: usize,
    /// Committed batches a watcher may lag behind before it is cut off.
    pub watch_backlog: usize,
    /// Read connections, used by watches that replay history.
    pub read_connections: u32,
    /// Size the WAL file is truncated back to after a checkpoint.
    pub wal_size_limit: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            compaction_interval: Duration::from_secs(60),
            retain_for: Duration::from_secs(300),
            retain_min_revisions: 1_000,
            retain_max_revisions: 10_000,
            compaction_step: 500,
            max_batch: 256,
            watch_backlog: 1_024,
            read_connections: 2,
            wal_size_limit: 4 << 20,
        }
    }
}

/// State shared by the store handle, the writer and the compactor.
struct Shared {
    index: Index,
    feed: Feed,
    /// Log rows at or below this revision are gone.
    compacted: AtomicI64,
    /// Set by the writer when the log outgrows its bound.
    compaction_wanted: Notify,
}

/// The SQLite store. Cheap to clone; the database closes when the last clone
/// is dropped, or explicitly with [`SqliteStore::close`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    readers: SqlitePool,
    compaction_step: Revision,
    /// Dropping this stops the compactor.
    stop_compactor: Mutex<Option<oneshot::Sender<()>>>,
}

impl SqliteStore {
    /// Open (or create) the database at `path` and start the writer and the
    /// compactor on the current tokio runtime.
    pub async fn open(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let mut conn = schema::open_writer(path, options.wal_size_limit).await?;
        let loaded = schema::load(&mut conn).await?;
        let readers = schema::open_readers(path, options.read_connections).await?;
        let (publisher, feed) = watch::feed(options.watch_backlog);
        let shared = Arc::new(Shared {
            index: Index::new(loaded.objects, loaded.revision),
            feed,
            compacted: AtomicI64::new(loaded.compacted),
            compaction_wanted: Notify::new(),
        });
        let retention = Retention {
            retain_for: options.retain_for,
            min_revisions: options.retain_min_revisions.max(0),
            max_revisions: options
                .retain_max_revisions
                .max(options.retain_min_revisions)
                .max(0),
        };
        let step = options.compaction_step.max(1);
        // Enough room for every caller of a busy server to have one write in
        // flight; beyond that, callers wait for the writer (back-pressure).
        let (sender, requests) = mpsc::channel(options.max_batch.max(1) * 8);
        let writer = Writer::new(
            conn,
            requests,
            shared.clone(),
            publisher,
            options.max_batch,
            retention.max_revisions + step,
        );
        tokio::spawn(writer.run());
        let (stop, stopped) = oneshot::channel();
        let compactor = Compactor {
            writer: sender.clone(),
            shared: shared.clone(),
            retention,
            interval: options.compaction_interval,
            step,
        };
        tokio::spawn(compactor.run(stopped));
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: sender,
                shared,
                readers,
                compaction_step: step,
                stop_compactor: Mutex::new(Some(stop)),
            }),
        })
    }

    /// Finish pending writes, stop the compactor and close the database.
    /// Writes sent afterwards fail; open watches end.
    pub async fn close(&self) {
        drop(
            self.inner
                .stop_compactor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let (done, closed) = oneshot::channel();
        if self.inner.writer.send(Request::Close(done)).await.is_ok() {
            // An error means the writer is already gone, which is the goal.
            let _ = closed.await;
        }
        self.inner.readers.close().await;
    }

    /// Bytes the store occupies on disk: the database plus its WAL.
    pub async fn file_size(&self) -> std::io::Result<u64> {
        let database = tokio::fs::metadata(&self.inner.path).await?.len();
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        let wal = match tokio::fs::metadata(&wal).await {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error),
        };
        Ok(database + wal)
    }

    /// The revision at or below which history has been dropped.
    pub fn compacted_revision(&self) -> Revision {
        self.inner.shared.compacted.load(Ordering::Acquire)
    }

    async fn submit(&self, mutation: Mutation) -> Result<StoredObject, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .writer
            .send(Request::Mutate(mutation, reply))
            .await
            .map_err(|_| SqliteError::Closed)?;
        answer.await.map_err(|_| SqliteError::Closed)?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.inner.shared.index.get(key))
    }

    async fn list(
        &self,
        prefix: &str,
        after_key: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListPage, StoreError> {
        Ok(self.inner.shared.index.list(prefix, after_key, limit))
    }

    async fn create(&self, key: &str, value: Value) -> Result<StoredObject, StoreError> {
        self.submit(Mutation::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Value,
        expect: Option<Revision>,
    ) -> Result<StoredObject, StoreError> {
        self.submit(Mutation::Update {
            key: key.to_owned(),
            value,
            expect,
        })
        .await
    }

    async fn delete(
        &self,
        key: &str,
        expect: Option<Revision>,
    ) -> Result<StoredObject, StoreError> {
        self.submit(Mutation::Delete {
            key: key.to_owned(),
            expect,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let shared = &self.inner.shared;
        shared
            .feed
            .watch(&shared.index, &self.inner.readers, prefix, after)
            .await
    }

    fn current_revision(&self) -> Revision {
        self.inner.shared.index.revision()
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let target = revision.min(self.current_revision());
        compact_in_steps(
            &self.inner.writer,
            self.compacted_revision(),
            target,
            self.inner.compaction_step,
        )
        .await
    }
}
