//! Watches: an in-process fan-out of committed batches, plus replay of the
//! change log for watches that start in the past.
//!
//! A watch subscribes to the live feed FIRST, then replays the log after
//! `after`, then passes on live events above the last replayed revision: every
//! event committed before the replay's snapshot is in the replay, every later
//! one is published after the subscription, so there is no gap, and the
//! revision filter removes the overlap. The feed is a bounded ring: a watcher
//! that falls more than a ring behind gets `WatcherTooSlow` and its stream
//! ends, instead of the store buffering for it without bound.

use std::sync::Arc;

use futures::{stream, StreamExt};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use tokio::sync::broadcast::{self, error::RecvError};

use super::error::SqliteError;
use super::index::Index;
use super::object::{decode, kind_from_code};
use crate::store::{Revision, StoreError, WatchEvent, WatchStream};

/// The events of one committed transaction, in revision order.
type Batch = Arc<[WatchEvent]>;

/// A bounded feed: `backlog` is how many batches a watcher may lag behind
/// before it is cut off.
pub(super) fn feed(backlog: usize) -> (Publisher, Feed) {
    let (sender, _) = broadcast::channel(backlog.max(1));
    let feed = Feed {
        sender: sender.downgrade(),
    };
    (Publisher { sender }, feed)
}

/// The sending side, owned by the writer: when the writer stops, the sender
/// goes with it and every open watch ends.
pub(super) struct Publisher {
    sender: broadcast::Sender<Batch>,
}

impl Publisher {
    pub(super) fn publish(&self, events: Vec<WatchEvent>) {
        if !events.is_empty() {
            // An error only means that nobody is watching right now.
            let _ = self.sender.send(events.into());
        }
    }
}

/// The subscribing side, shared with store handles.
pub(super) struct Feed {
    sender: broadcast::WeakSender<Batch>,
}

impl Feed {
    /// Open a watch of keys under `prefix` for revisions above `after`.
    pub(super) async fn watch(
        &self,
        index: &Index,
        reader: &SqlitePool,
        prefix: &str,
        after: Revision,
    ) -> Result<WatchStream, StoreError> {
        let live = self
            .sender
            .upgrade()
            .ok_or(SqliteError::Closed)?
            .subscribe();
        // Anything above the index's revision has not been published yet, so
        // the subscription will see it: a watch from "now" skips SQLite.
        let replayed = if after >= index.revision() {
            Vec::new()
        } else {
            replay(reader, prefix, after).await?
        };
        let last = replayed
            .last()
            .map_or(after, |event| event.object.revision.max(after));
        let live = LiveEvents {
            receiver: live,
            prefix: prefix.to_owned(),
            last,
            batch: None,
            ended: false,
        };
        Ok(stream::iter(replayed.into_iter().map(Ok))
            .chain(live.into_stream())
            .boxed())
    }
}

/// The logged events under `prefix` after `after`, read in one snapshot that
/// also checks that compaction has not removed any of them.
async fn replay(
    reader: &SqlitePool,
    prefix: &str,
    after: Revision,
) -> Result<Vec<WatchEvent>, StoreError> {
    let mut tx = reader
        .begin()
        .await
        .map_err(SqliteError::sql("starting a watch replay"))?;
    let compacted: Revision = sqlx::query_scalar("SELECT compacted FROM meta WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(SqliteError::sql("reading the compacted revision"))?;
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            oldest: compacted,
        });
    }
    // substr/length both count characters, so this is an exact prefix test.
    let rows = sqlx::query(
        "SELECT revision, key, kind, value FROM log \
         WHERE revision > ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY revision",
    )
    .bind(after)
    .bind(prefix)
    .fetch_all(&mut *tx)
    .await
    .map_err(SqliteError::sql("reading the change log"))?;
    tx.rollback()
        .await
        .map_err(SqliteError::sql("ending a watch replay"))?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let revision: Revision = row.get(0);
        let kind = kind_from_code(row.get(2), revision)?;
        let object = decode(row.get(1), revision, row.get(3))?;
        events.push(WatchEvent {
            kind,
            object,
            prev: None,
        });
    }
    Ok(events)
}

/// The live part of one watch.
struct LiveEvents {
    receiver: broadcast::Receiver<Batch>,
    prefix: String,
    /// Highest revision already delivered (or replayed).
    last: Revision,
    /// The batch being delivered and the position in it.
    batch: Option<(Batch, usize)>,
    ended: bool,
}

impl LiveEvents {
    fn into_stream(self) -> WatchStream {
        stream::unfold(self, |mut live| async move {
            let item = live.next().await?;
            Some((item, live))
        })
        .boxed()
    }

    async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some((batch, position)) = &mut self.batch {
                while let Some(event) = batch.get(*position) {
                    *position += 1;
                    if event.object.revision > self.last
                        && event.object.key.starts_with(&self.prefix)
                    {
                        self.last = event.object.revision;
                        return Some(Ok(event.clone()));
                    }
                }
                self.batch = None;
            }
            match self.receiver.recv().await {
                Ok(batch) => self.batch = Some((batch, 0)),
                Err(RecvError::Lagged(_)) => {
                    self.ended = true;
                    return Some(Err(StoreError::WatcherTooSlow {
                        last_delivered: self.last,
                    }));
                }
                // The store was closed: the watch ends normally.
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
