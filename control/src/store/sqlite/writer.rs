//! The single writer: the only task that writes to the database, so SQLite
//! never sees two writers and "database is locked" cannot happen.
//!
//! Callers send requests over a channel. The writer takes every pending
//! request (up to a cap) and applies them in ONE transaction (group commit):
//! one commit's cost is shared by the whole batch. Preconditions are checked
//! against the in-memory index plus the batch's own earlier writes, so a
//! refused write costs no SQL and does not fail its neighbours. After COMMIT
//! the writer updates the index, replies to each caller, then publishes the
//! batch's events in revision order.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::error::SqliteError;
use super::mutation::Mutation;
use super::object::kind_code;
use super::watch::Publisher;
use super::Shared;
use crate::store::{EventKind, Revision, StoreError, StoredObject, WatchEvent};

/// Gives back up to this many free pages to the file system; bounded so that
/// a vacuum step stays short.
const VACUUM: &str = "PRAGMA incremental_vacuum(2048)";

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) enum Request {
    Mutate(Mutation, Reply<StoredObject>),
    /// Drop log rows at or below this revision (one small compaction step).
    Compact(Revision, Reply<()>),
    /// Finish what was sent before, close the database, then answer.
    Close(oneshot::Sender<()>),
}

pub(super) struct Writer {
    conn: SqliteConnection,
    requests: mpsc::Receiver<Request>,
    shared: Arc<Shared>,
    publisher: Publisher,
    max_batch: usize,
    /// Log length (in revisions) above which the compactor is woken early.
    log_limit: Revision,
    /// Last committed revision.
    revision: Revision,
    /// Log rows at or below this revision are gone.
    compacted: Revision,
}

/// A batch after precondition checks: what to write and whom to answer.
#[derive(Default)]
struct Batch {
    events: Vec<WatchEvent>,
    replies: Vec<Reply<StoredObject>>,
    compact_to: Option<Revision>,
    compact_replies: Vec<Reply<()>>,
}

impl Writer {
    /// A writer continuing from the state in `shared`.
    pub(super) fn new(
        conn: SqliteConnection,
        requests: mpsc::Receiver<Request>,
        shared: Arc<Shared>,
        publisher: Publisher,
        max_batch: usize,
        log_limit: Revision,
    ) -> Self {
        let revision = shared.index.revision();
        let compacted = shared.compacted.load(Ordering::Acquire);
        Writer {
            conn,
            requests,
            shared,
            publisher,
            max_batch: max_batch.max(1),
            log_limit,
            revision,
            compacted,
        }
    }

    /// Serve requests until every sender is gone or `Close` arrives.
    pub(super) async fn run(mut self) {
        let mut pending = Vec::with_capacity(self.max_batch);
        while let Some(first) = self.requests.recv().await {
            pending.push(first);
            while pending.len() < self.max_batch
                && !matches!(pending.last(), Some(Request::Close(_)))
            {
                match self.requests.try_recv() {
                    Ok(request) => pending.push(request),
                    Err(_) => break,
                }
            }
            if let Some(done) = self.apply(std::mem::take(&mut pending)).await {
                self.close(done).await;
                return;
            }
        }
    }

    /// Apply one batch; returns the `Close` reply if the batch asked to close.
    async fn apply(&mut self, requests: Vec<Request>) -> Option<oneshot::Sender<()>> {
        let (batch, closing) = self.check(requests);
        if batch.events.is_empty() && batch.compact_to.is_none() {
            answer_compactions(batch.compact_replies, || Ok(()));
            return closing;
        }
        if let Err(error) = self.persist(&batch).await {
            // Every caller of the batch gets the cause; none is logged here.
            let error = Arc::new(error);
            for reply in batch.replies {
                let _ = reply.send(Err(SqliteError::WriteFailed(error.clone()).into()));
            }
            answer_compactions(batch.compact_replies, || {
                Err(SqliteError::WriteFailed(error.clone()).into())
            });
            return closing;
        }
        self.committed(batch).await;
        closing
    }

    /// Check each request's precondition and give the accepted writes
    /// consecutive revisions. Refused writes are answered at once.
    fn check(&self, requests: Vec<Request>) -> (Batch, Option<oneshot::Sender<()>>) {
        let mut batch = Batch::default();
        let mut closing = None;
        // Keys written earlier in this batch: the index does not show them yet.
        let mut staged: HashMap<String, Option<StoredObject>> = HashMap::new();
        let mut next = self.revision + 1;
        for request in requests {
            match request {
                Request::Mutate(mutation, reply) => {
                    let key = mutation.key().to_owned();
                    let current = match staged.get(&key) {
                        Some(state) => state.clone(),
                        None => self.shared.index.get(&key),
                    };
                    match mutation.plan(current.as_ref(), next) {
                        Ok(event) => {
                            let after =
                                (event.kind != EventKind::Deleted).then(|| event.object.clone());
                            staged.insert(key, after);
                            batch.events.push(event);
                            batch.replies.push(reply);
                            next += 1;
                        }
                        Err(refused) => {
                            let _ = reply.send(Err(refused));
                        }
                    }
                }
                Request::Compact(up_to, reply) => {
                    // History above the last commit does not exist yet.
                    let target = up_to.min(self.revision);
                    if target > self.compacted {
                        batch.compact_to = Some(batch.compact_to.map_or(target, |t| t.max(target)));
                    }
                    batch.compact_replies.push(reply);
                }
                Request::Close(done) => closing = Some(done),
            }
        }
        (batch, closing)
    }

    /// Write the batch in one transaction. On error nothing is visible: the
    /// transaction is rolled back when dropped.
    async fn persist(&mut self, batch: &Batch) -> Result<(), sqlx::Error> {
        let mut tx = self.conn.begin().await?;
        for event in &batch.events {
            write_event(&mut tx, event).await?;
        }
        if let Some(last) = batch.events.last() {
            sqlx::query("UPDATE meta SET revision = ?1 WHERE id = 1")
                .bind(last.object.revision)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(compact_to) = batch.compact_to {
            sqlx::query("DELETE FROM log WHERE revision <= ?1")
                .bind(compact_to)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE meta SET compacted = ?1 WHERE id = 1")
                .bind(compact_to)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// After COMMIT: index, replies, events, then housekeeping.
    async fn committed(&mut self, batch: Batch) {
        if let Some(last) = batch.events.last() {
            self.revision = last.object.revision;
        }
        self.shared.index.apply(&batch.events, self.revision);
        for (reply, event) in batch.replies.into_iter().zip(&batch.events) {
            let _ = reply.send(Ok(event.object.clone()));
        }
        if let Some(compact_to) = batch.compact_to {
            self.compacted = compact_to;
            self.shared.compacted.store(compact_to, Ordering::Release);
        }
        self.publisher.publish(batch.events);
        if batch.compact_to.is_some() {
            self.vacuum().await;
        }
        // Compaction is answered once its space is back with the file system.
        answer_compactions(batch.compact_replies, || Ok(()));
        if self.revision - self.compacted > self.log_limit {
            self.shared.compaction_wanted.notify_one();
        }
    }

    /// Give pages freed by compaction back to the file system so the file
    /// shrinks. A failure costs only disk space, so it is logged, not fatal.
    async fn vacuum(&mut self) {
        if let Err(error) = sqlx::query(VACUUM).execute(&mut self.conn).await {
            tracing::warn!(%error, "incremental_vacuum failed");
        }
    }

    async fn close(mut self, done: oneshot::Sender<()>) {
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            refuse(request);
        }
        if let Err(error) = self.conn.close().await {
            tracing::warn!(%error, "closing the store database");
        }
        let _ = done.send(());
    }
}

async fn write_event(
    tx: &mut Transaction<'_, Sqlite>,
    event: &WatchEvent,
) -> Result<(), sqlx::Error> {
    let object = &event.object;
    let raw: &[u8] = &object.raw;
    match event.kind {
        EventKind::Added => {
            sqlx::query("INSERT INTO objects (key, revision, value) VALUES (?1, ?2, ?3)")
                .bind(&object.key)
                .bind(object.revision)
                .bind(raw)
                .execute(&mut **tx)
                .await?;
        }
        EventKind::Modified => {
            sqlx::query("UPDATE objects SET revision = ?2, value = ?3 WHERE key = ?1")
                .bind(&object.key)
                .bind(object.revision)
                .bind(raw)
                .execute(&mut **tx)
                .await?;
        }
        EventKind::Deleted => {
            sqlx::query("DELETE FROM objects WHERE key = ?1")
                .bind(&object.key)
                .execute(&mut **tx)
                .await?;
        }
    }
    sqlx::query("INSERT INTO log (revision, key, kind, value) VALUES (?1, ?2, ?3, ?4)")
        .bind(object.revision)
        .bind(&object.key)
        .bind(kind_code(event.kind))
        .bind(raw)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn answer_compactions(replies: Vec<Reply<()>>, outcome: impl Fn() -> Result<(), StoreError>) {
    for reply in replies {
        let _ = reply.send(outcome());
    }
}

/// Answer a request that arrived after `Close`.
fn refuse(request: Request) {
    match request {
        Request::Mutate(_, reply) => {
            let _ = reply.send(Err(SqliteError::Closed.into()));
        }
        Request::Compact(_, reply) => {
            let _ = reply.send(Err(SqliteError::Closed.into()));
        }
        Request::Close(done) => {
            let _ = done.send(());
        }
    }
}
