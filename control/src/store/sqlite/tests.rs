//! Behaviour of the whole SQLite store against real database files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use sqlx::ConnectOptions;
use tempfile::TempDir;

use super::{SqliteOptions, SqliteStore};
use crate::store::{EventKind, Revision, Store, StoreError, WatchEvent, WatchStream};

const WAIT: Duration = Duration::from_secs(10);

fn object(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "0"}})
}

fn object_with(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}})
}

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
    store: SqliteStore,
}

async fn open_with(options: SqliteOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path, options).await.expect("open store");
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

async fn open() -> Fixture {
    open_with(SqliteOptions::default()).await
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!(
            "expected a watch event, got {:?}",
            other.map(|item| item.map(|r| r.map(|e| e.kind)))
        ),
    }
}

#[tokio::test]
async fn create_stamps_the_revision_and_refuses_duplicates() {
    let f = open().await;
    let created = f
        .store
        .create("default/a", object("a"))
        .await
        .expect("create");
    assert_eq!(created.revision, 1);
    assert_eq!(created.value["metadata"]["resourceVersion"], "1");
    assert!(
        matches!(f.store.create("default/a", object("a")).await, Err(StoreError::AlreadyExists(k)) if k == "default/a")
    );
    assert_eq!(
        f.store.current_revision(),
        1,
        "a refused write takes no revision"
    );
    let got = f
        .store
        .get("default/a")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.raw, created.raw);
}

#[tokio::test]
async fn update_is_compare_and_swap() {
    let f = open().await;
    let first = f
        .store
        .create("default/a", object("a"))
        .await
        .expect("create");
    let second = f
        .store
        .update("default/a", object_with("a", "1"), Some(first.revision))
        .await
        .expect("cas");
    assert_eq!(second.revision, 2);
    let stale = f
        .store
        .update("default/a", object_with("a", "2"), Some(first.revision))
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2,
            ..
        })
    ));
    let current = f
        .store
        .get("default/a")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        current.value["data"]["v"], "1",
        "the conflicting write changed nothing"
    );
    let unconditional = f
        .store
        .update("default/a", object_with("a", "3"), None)
        .await
        .expect("update");
    assert_eq!(unconditional.revision, 3);
}

#[tokio::test]
async fn missing_keys_are_not_found() {
    let f = open().await;
    assert!(f.store.get("default/nope").await.expect("get").is_none());
    assert!(matches!(
        f.store.update("default/nope", object("nope"), None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        f.store.delete("default/nope", None).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn values_without_metadata_are_refused_without_taking_a_revision() {
    let f = open().await;
    assert!(matches!(
        f.store.create("default/x", json!([1])).await,
        Err(StoreError::NotAnObject(_))
    ));
    assert_eq!(f.store.current_revision(), 0);
}

#[tokio::test]
async fn delete_returns_the_last_state_at_the_delete_revision() {
    let f = open().await;
    f.store
        .create("default/a", object_with("a", "last"))
        .await
        .expect("create");
    assert!(matches!(
        f.store.delete("default/a", Some(7)).await,
        Err(StoreError::Conflict { .. })
    ));
    let deleted = f.store.delete("default/a", Some(1)).await.expect("delete");
    assert_eq!(deleted.revision, 2);
    assert_eq!(deleted.value["metadata"]["resourceVersion"], "2");
    assert_eq!(deleted.value["data"]["v"], "last");
    assert!(f.store.get("default/a").await.expect("get").is_none());
    assert_eq!(f.store.current_revision(), 2);
}

#[tokio::test]
async fn lists_keep_prefixes_apart_and_paginate() {
    let f = open().await;
    for key in [
        "default/c",
        "default/a",
        "default2/a",
        "default/b",
        "defaulta",
    ] {
        f.store.create(key, object(key)).await.expect("create");
    }
    let all = f.store.list("default/", None, None).await.expect("list");
    let keys: Vec<_> = all.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["default/a", "default/b", "default/c"]);
    assert_eq!(all.revision, 5);

    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = f
            .store
            .list("default/", after.as_deref(), Some(2))
            .await
            .expect("page");
        pages.push(page.items.iter().map(|o| o.key.clone()).collect::<Vec<_>>());
        match page.continue_after {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    assert_eq!(pages, [vec!["default/a", "default/b"], vec!["default/c"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_then_goes_live_without_gaps_or_duplicates() {
    let f = open().await;
    for i in 0..20 {
        f.store
            .create(&format!("w/{i}"), object("w"))
            .await
            .expect("create");
    }
    // Keep writing while the watch starts, so the replay/live boundary falls
    // in the middle of the traffic.
    let writer = {
        let store = f.store.clone();
        tokio::spawn(async move {
            let mut revisions = Vec::new();
            for round in 0..200 {
                let key = format!("w/{}", round % 20);
                let written = store
                    .update(&key, object_with("w", &round.to_string()), None)
                    .await
                    .expect("update");
                revisions.push(written.revision);
                store
                    .create(&format!("other/{round}"), object("o"))
                    .await
                    .expect("noise");
                if round % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            revisions
        })
    };
    let mut stream = f.store.watch("w/", 10).await.expect("watch");
    let written = writer.await.expect("writer task");
    let mut expected: BTreeSet<Revision> = (11..=20).collect();
    expected.extend(&written);
    let last = *expected.last().expect("some writes");

    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        let event = next_event(&mut stream).await;
        assert!(
            event.object.key.starts_with("w/"),
            "prefix filter leaked {}",
            event.object.key
        );
        seen.push(event.object.revision);
    }
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "revisions must increase: {seen:?}"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn watch_from_now_sees_live_events_with_their_previous_state() {
    let f = open().await;
    f.store
        .create("ns/a", object_with("a", "old"))
        .await
        .expect("create");
    let mut stream = f
        .store
        .watch("ns/", f.store.current_revision())
        .await
        .expect("watch");
    f.store
        .update("ns/a", object_with("a", "new"), None)
        .await
        .expect("update");
    f.store.delete("ns/a", None).await.expect("delete");
    let modified = next_event(&mut stream).await;
    assert_eq!(
        (modified.kind, modified.object.revision),
        (EventKind::Modified, 2)
    );
    assert_eq!(
        modified.prev.expect("live events carry prev").value["data"]["v"],
        "old"
    );
    let deleted = next_event(&mut stream).await;
    assert_eq!(
        (deleted.kind, deleted.object.revision),
        (EventKind::Deleted, 3)
    );
    assert_eq!(deleted.object.value["data"]["v"], "new");
}

#[tokio::test]
async fn watching_compacted_history_fails_with_compacted() {
    let f = open().await;
    for i in 0..10 {
        f.store
            .create(&format!("c/{i}"), object("c"))
            .await
            .expect("create");
    }
    f.store.compact(5).await.expect("compact");
    assert_eq!(f.store.compacted_revision(), 5);
    match f.store.watch("c/", 4).await {
        Err(StoreError::Compacted {
            requested: 4,
            oldest: 5,
        }) => {}
        other => panic!("expected Compacted, got {:?}", other.err()),
    }
    let mut stream = f
        .store
        .watch("c/", 5)
        .await
        .expect("watch at the compacted revision");
    for revision in 6..=10 {
        let event = next_event(&mut stream).await;
        assert_eq!(
            (event.kind, event.object.revision),
            (EventKind::Added, revision)
        );
    }
    f.store
        .compact(1_000)
        .await
        .expect("compacting past the head stops at the head");
    assert_eq!(f.store.compacted_revision(), 10);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_cut_off() {
    let f = open_with(SqliteOptions {
        watch_backlog: 2,
        ..SqliteOptions::default()
    })
    .await;
    let mut stream = f.store.watch("s/", 0).await.expect("watch");
    for i in 0..10 {
        f.store
            .create(&format!("s/{i}"), object("s"))
            .await
            .expect("create");
    }
    let mut outcome = None;
    while let Ok(Some(item)) = tokio::time::timeout(WAIT, stream.next()).await {
        if let Err(error) = item {
            outcome = Some(error);
            break;
        }
    }
    assert!(
        matches!(outcome, Some(StoreError::WatcherTooSlow { .. })),
        "got {outcome:?}"
    );
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn closing_ends_open_watches_and_refuses_new_ones() {
    let f = open().await;
    let mut stream = f.store.watch("", 0).await.expect("watch");
    f.store.create("q/a", object("a")).await.expect("create");
    f.store.close().await;
    assert_eq!(
        next_event(&mut stream).await.object.revision,
        1,
        "events before close are delivered"
    );
    assert!(tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("ends promptly")
        .is_none());
    assert!(matches!(
        f.store.watch("", 0).await,
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test]
async fn reopening_keeps_objects_history_and_revision() {
    let f = open().await;
    f.store.create("r/a", object("a")).await.expect("create a");
    f.store.create("r/b", object("b")).await.expect("create b");
    f.store
        .update("r/a", object_with("a", "1"), Some(1))
        .await
        .expect("update a");
    f.store.delete("r/b", None).await.expect("delete b");
    f.store.close().await;
    assert!(matches!(
        f.store.create("r/c", object("c")).await,
        Err(StoreError::Backend(_))
    ));

    let reopened = SqliteStore::open(&f.path, SqliteOptions::default())
        .await
        .expect("reopen");
    assert_eq!(reopened.current_revision(), 4);
    let a = reopened.get("r/a").await.expect("get").expect("a survives");
    assert_eq!((a.revision, a.value["data"]["v"].as_str()), (3, Some("1")));
    assert!(reopened.get("r/b").await.expect("get").is_none());
    let mut history = reopened.watch("r/", 0).await.expect("replay");
    let kinds: Vec<_> = [
        next_event(&mut history).await,
        next_event(&mut history).await,
    ]
    .into_iter()
    .chain([
        next_event(&mut history).await,
        next_event(&mut history).await,
    ])
    .map(|event| (event.kind, event.object.revision))
    .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Added, 1),
            (EventKind::Added, 2),
            (EventKind::Modified, 3),
            (EventKind::Deleted, 4)
        ]
    );
    let next = reopened
        .create("r/c", object("c"))
        .await
        .expect("create after reopen");
    assert_eq!(next.revision, 5, "revisions continue from the stored head");
    reopened.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_are_all_stored() {
    let f = open().await;
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let store = f.store.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    let name = format!("t{task}-{i}");
                    store
                        .create(&format!("load/{name}"), object(&name))
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let page = f.store.list("load/", None, None).await.expect("list");
    assert_eq!(page.items.len(), 32 * 200);
    assert_eq!(page.revision, 32 * 200);
    let revisions: BTreeSet<_> = page.items.iter().map(|o| o.revision).collect();
    assert_eq!(
        revisions.len(),
        32 * 200,
        "every write got its own revision"
    );
    f.store.close().await;
    let reopened = SqliteStore::open(&f.path, SqliteOptions::default())
        .await
        .expect("reopen");
    assert_eq!(
        reopened
            .list("load/", None, None)
            .await
            .expect("list")
            .items
            .len(),
        32 * 200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_churn_keeps_the_file_small() {
    const KEYS: usize = 100;
    const UPDATES: usize = 20_000;
    const WORKERS: usize = 20;
    let options = SqliteOptions {
        // Only the log bound triggers compaction here: no timer, no age rule.
        compaction_interval: Duration::from_secs(3_600),
        retain_for: Duration::from_secs(3_600),
        retain_min_revisions: 1_000,
        retain_max_revisions: 2_000,
        ..SqliteOptions::default()
    };
    let f = open_with(options).await;
    // About 1 KiB per object, like a Lease or a small ConfigMap.
    let payload = "x".repeat(1_000);
    for k in 0..KEYS {
        f.store
            .create(&format!("churn/{k}"), object_with("c", &payload))
            .await
            .expect("create");
    }
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let store = f.store.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                for round in 0..UPDATES / WORKERS {
                    let key = format!("churn/{}", worker + WORKERS * (round % (KEYS / WORKERS)));
                    store
                        .update(&key, object_with("c", &payload), None)
                        .await
                        .expect("no failed write");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let head = f.store.current_revision();
    assert_eq!(head as usize, KEYS + UPDATES);
    // The writer wakes the compactor; wait for it to catch up.
    let deadline = tokio::time::Instant::now() + WAIT;
    while head - f.store.compacted_revision() > 2_500 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "compaction fell behind: {}",
            f.store.compacted_revision()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let size = f.file_size().await;
    eprintln!("db + wal after churn: {size} bytes");
    // Without compaction the log alone would hold 20,000 KiB-sized rows.
    assert!(size < 8 << 20, "store file grew to {size} bytes");
}

impl Fixture {
    async fn file_size(&self) -> u64 {
        self.store.file_size().await.expect("file size")
    }
}

#[test]
fn opening_is_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&SqliteStore::open(
        Path::new("unused.db"),
        SqliteOptions::default(),
    ));
}

#[tokio::test]
async fn compaction_returns_freed_pages_to_the_file_system() {
    let f = open().await;
    let payload = "y".repeat(2_000);
    for i in 0..1_000 {
        f.store
            .create(&format!("v/{i}"), object_with("v", &payload))
            .await
            .expect("create");
    }
    let pages = || async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&f.path)
            .connect()
            .await
            .expect("inspect connection");
        let count: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut conn)
            .await
            .expect("page_count");
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&mut conn)
            .await
            .expect("freelist");
        (count, free)
    };
    let (before, _) = pages().await;
    f.store
        .compact(f.store.current_revision())
        .await
        .expect("compact");
    let (after, free) = pages().await;
    // The log held about half of the pages; they must be gone, not just free.
    assert!(
        after < before * 2 / 3,
        "page count {before} -> {after}, free {free}"
    );
    assert!(free < 16, "{free} pages left on the freelist");
}
