//! Reads a container's log for `kubectl logs`: the text without the CRI
//! prefix (or with the entry's time when `--timestamps`), `--tail`,
//! `--since`, `--limit-bytes`, and `-f`, which keeps streaming what the
//! writer appends (across rotations) until the writer closes the log.
//! `--previous` is only a different path, chosen by the agent.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use jiff::Timestamp;
use tokio::fs::File;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::format::{format_time, parse_entry};
use super::hub::{LogHub, LogProgress};
use super::writer::rotated_path;
use super::LogError;

/// What `kubectl logs` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only the last N entries (`--tail`); `None` for all.
    pub tail: Option<usize>,
    /// Only entries written at or after this time (`--since`, `--since-time`).
    pub since: Option<Timestamp>,
    /// Prefix each entry with its time (`--timestamps`).
    pub timestamps: bool,
    /// Keep streaming new output until the log is closed (`-f`).
    pub follow: bool,
    /// Stop after this many bytes of output (`--limit-bytes`).
    pub limit_bytes: Option<u64>,
}

/// The bytes of a log, in order, as they should reach the client.
pub type LogBytes = BoxStream<'static, Result<Bytes, LogError>>;

const READ_CHUNK: usize = 64 * 1024;

/// Opens the log at `path` (with its rotated files) for reading. Fails with
/// [`LogError::NotFound`] when there is no such log at all.
pub async fn read_log(hub: &LogHub, path: &Path, query: LogQuery) -> Result<LogBytes, LogError> {
    // Subscribe before reading anything, so that a close after our last read cannot be missed.
    let follower = if query.follow { hub.subscribe(path) } else { None };
    let cursor = Cursor::open(path, follower).await?;
    let reader = Reader { remaining: query.limit_bytes, tail_pending: query.tail.is_some(), query, cursor, ended: false };
    Ok(stream::unfold(reader, |mut reader| async move {
        match reader.next().await {
            Ok(Some(bytes)) => Some((Ok(bytes), reader)),
            Ok(None) => None,
            Err(err) => {
                reader.ended = true;
                Some((Err(err), reader))
            }
        }
    })
    .boxed())
}

struct Reader {
    query: LogQuery,
    cursor: Cursor,
    tail_pending: bool,
    remaining: Option<u64>,
    ended: bool,
}

impl Reader {
    async fn next(&mut self) -> Result<Option<Bytes>, LogError> {
        if self.ended {
            return Ok(None);
        }
        if self.tail_pending {
            self.tail_pending = false;
            let tail = self.collect_tail().await?;
            if !tail.is_empty() {
                return Ok(self.limit(tail));
            }
        }
        loop {
            match self.cursor.next_batch().await? {
                Batch::Lines(raw) => {
                    let mut out = Vec::with_capacity(raw.len());
                    for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        self.render(line, &mut out);
                    }
                    if !out.is_empty() {
                        return Ok(self.limit(out));
                    }
                }
                Batch::CaughtUp => {
                    if !self.query.follow || !self.cursor.wait_for_more().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Reads everything written so far and keeps the last `tail` rendered entries.
    async fn collect_tail(&mut self) -> Result<Vec<u8>, LogError> {
        let keep = self.query.tail.unwrap_or(usize::MAX);
        let mut last: VecDeque<Vec<u8>> = VecDeque::new();
        while let Batch::Lines(raw) = self.cursor.next_batch().await? {
            for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let mut entry = Vec::new();
                if self.render(line, &mut entry) && keep > 0 {
                    if last.len() == keep {
                        last.pop_front();
                    }
                    last.push_back(entry);
                }
            }
        }
        Ok(last.into_iter().flatten().collect())
    }

    /// Appends the client's form of one file line; false when it is filtered out or malformed.
    fn render(&self, line: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(entry) = parse_entry(line) else { return false };
        if self.query.since.is_some_and(|since| entry.time < since) {
            return false;
        }
        if self.query.timestamps {
            out.extend_from_slice(format_time(entry.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(entry.text);
        if !entry.partial {
            out.push(b'\n');
        }
        true
    }

    fn limit(&mut self, mut out: Vec<u8>) -> Option<Bytes> {
        if let Some(remaining) = self.remaining.as_mut() {
            let allowed = usize::try_from(*remaining).unwrap_or(usize::MAX).min(out.len());
            out.truncate(allowed);
            *remaining -= allowed as u64;
            if *remaining == 0 {
                self.ended = true;
            }
            if out.is_empty() {
                return None;
            }
        }
        Some(Bytes::from(out))
    }
}

enum Batch {
    /// Complete file lines, each ending in `\n`.
    Lines(Vec<u8>),
    /// At the end of the live file.
    CaughtUp,
}

/// A read position across the rotated files and the live file of one log.
struct Cursor {
    path: PathBuf,
    /// Files still to read, oldest first; the last one is always `path`.
    queue: VecDeque<PathBuf>,
    file: Option<File>,
    /// Bytes after the last newline read (a write in progress).
    carry: Vec<u8>,
    follower: Option<watch::Receiver<LogProgress>>,
    /// The writer's progress taken before the latest read pass; `None` after new data.
    snapshot: Option<LogProgress>,
    seen_rotations: u64,
}

impl Cursor {
    async fn open(path: &Path, follower: Option<watch::Receiver<LogProgress>>) -> Result<Self, LogError> {
        let mut rotated = Vec::new();
        for n in 1.. {
            let candidate = rotated_path(path, n);
            if !tokio::fs::try_exists(&candidate).await.unwrap_or(false) {
                break;
            }
            rotated.push(candidate);
        }
        let live_exists = tokio::fs::try_exists(path).await.unwrap_or(false);
        if rotated.is_empty() && !live_exists {
            return Err(LogError::NotFound(path.to_owned()));
        }
        let mut queue: VecDeque<PathBuf> = rotated.into_iter().rev().collect();
        queue.push_back(path.to_owned());
        let seen_rotations = follower.as_ref().map_or(0, |f| f.borrow().rotations);
        Ok(Cursor { path: path.to_owned(), queue, file: None, carry: Vec::new(), follower, snapshot: None, seen_rotations })
    }

    async fn next_batch(&mut self) -> Result<Batch, LogError> {
        loop {
            if self.file.is_none() {
                let Some(next) = self.queue.front().cloned() else { return Ok(Batch::CaughtUp) };
                match File::open(&next).await {
                    Ok(file) => self.file = Some(file),
                    // Rotated away (or not yet created) between listing and opening: go on.
                    Err(err) if err.kind() == ErrorKind::NotFound => {
                        if self.queue.len() == 1 {
                            return Ok(Batch::CaughtUp);
                        }
                        self.queue.pop_front();
                        continue;
                    }
                    Err(source) => return Err(LogError::io(&next, source)),
                }
            }
            let Some(file) = self.file.as_mut() else { continue };
            let mut buf = vec![0; READ_CHUNK];
            let n = file.read(&mut buf).await.map_err(|source| LogError::io(&self.path, source))?;
            if n == 0 {
                if self.queue.len() > 1 {
                    // A finished rotated file: whatever it holds is complete.
                    self.queue.pop_front();
                    self.file = None;
                    self.carry.clear();
                    continue;
                }
                return Ok(Batch::CaughtUp);
            }
            self.carry.extend_from_slice(&buf[..n]);
            if let Some(last_newline) = self.carry.iter().rposition(|b| *b == b'\n') {
                let rest = self.carry.split_off(last_newline + 1);
                let lines = std::mem::replace(&mut self.carry, rest);
                self.snapshot = None;
                return Ok(Batch::Lines(lines));
            }
        }
    }

    /// Called at the end of the live file: returns once there may be more to read
    /// (true), or when the writer has closed the log and everything was read (false).
    async fn wait_for_more(&mut self) -> Result<bool, LogError> {
        let Some(follower) = self.follower.as_mut() else { return Ok(false) };
        let Some(snapshot) = self.snapshot else {
            // Note the writer's progress, then read once more: anything written before
            // this point will be in that pass, anything after it wakes `changed()`.
            self.snapshot = Some(*follower.borrow_and_update());
            return Ok(true);
        };
        if snapshot.rotations > self.seen_rotations {
            // The file we hold is now `<path>.{d}`; the ones rotated after it follow, then the live one.
            let d = usize::try_from(snapshot.rotations - self.seen_rotations).unwrap_or(usize::MAX);
            self.queue = (1..d).rev().map(|n| rotated_path(&self.path, n)).collect();
            self.queue.push_back(self.path.clone());
            self.file = None;
            self.carry.clear();
            self.seen_rotations = snapshot.rotations;
            self.snapshot = None;
            return Ok(true);
        }
        if snapshot.closed {
            return Ok(false);
        }
        if follower.changed().await.is_err() {
            // The writer vanished without closing: one last pass over what it wrote.
            self.follower = None;
        }
        self.snapshot = None;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::logs::{LogStream, LogWriter, RotationPolicy};

    async fn collect(stream: LogBytes) -> String {
        let chunks: Vec<Bytes> = stream.map(|c| c.expect("chunk")).collect().await;
        String::from_utf8(chunks.concat()).expect("utf-8")
    }

    fn write_file(path: &Path, lines: &[&str]) {
        std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write log");
    }

    #[tokio::test]
    async fn reads_text_joining_partial_entries_across_rotated_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        write_file(&rotated_path(&path, 2), &["2026-11-23T14:00:00.000000000Z stdout F first"]);
        write_file(&rotated_path(&path, 1), &["2026-11-23T14:00:01.000000000Z stdout P sec", "garbage line"]);
        write_file(&path, &["2026-11-23T14:00:02.000000000Z stdout F ond", "2026-11-23T14:00:03.000000000Z stderr F third"]);
        let hub = LogHub::new();
        let all = collect(read_log(&hub, &path, LogQuery::default()).await.expect("open")).await;
        assert_eq!(all, "first\nsecond\nthird\n");

        let query = LogQuery { timestamps: true, tail: Some(2), ..LogQuery::default() };
        let tail = collect(read_log(&hub, &path, query).await.expect("open")).await;
        assert_eq!(tail, "2026-11-23T14:00:02.000000000Z ond\n2026-11-23T14:00:03.000000000Z third\n");

        let since = LogQuery { since: Some("2026-11-23T14:00:01.5Z".parse().expect("time")), ..LogQuery::default() };
        assert_eq!(collect(read_log(&hub, &path, since).await.expect("open")).await, "ond\nthird\n");

        let limited = LogQuery { limit_bytes: Some(8), ..LogQuery::default() };
        assert_eq!(collect(read_log(&hub, &path, limited).await.expect("open")).await, "first\nse");

        let none = LogQuery { tail: Some(0), ..LogQuery::default() };
        assert_eq!(collect(read_log(&hub, &path, none).await.expect("open")).await, "");
    }

    #[tokio::test]
    async fn a_missing_log_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = read_log(&LogHub::new(), &dir.path().join("nope.log"), LogQuery::default()).await;
        assert!(matches!(result, Err(LogError::NotFound(_))));
    }

    #[tokio::test]
    async fn follow_streams_new_output_across_rotations_until_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c/0.log");
        let hub = LogHub::new();
        let writer = LogWriter::create(&hub, &path, RotationPolicy { max_bytes: 150, max_files: 3 }).expect("writer");
        writer.write(LogStream::Stdout, b"before\n").expect("write");
        let query = LogQuery { follow: true, tail: Some(1), ..LogQuery::default() };
        let mut stream = read_log(&hub, &path, query).await.expect("open");
        let first = stream.next().await.expect("chunk").expect("ok");
        assert_eq!(&first[..], b"before\n");

        let producer = tokio::spawn(async move {
            for i in 0..12 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                writer.write(LogStream::Stdout, format!("line {i:040}\n").as_bytes()).expect("write");
            }
            writer.close().expect("close");
        });
        let rest = tokio::time::timeout(Duration::from_secs(10), collect(stream)).await.expect("the stream ends on close");
        producer.await.expect("producer");
        let expected: String = (0..12).map(|i| format!("line {i:040}\n")).collect();
        assert_eq!(rest, expected, "every line once, in order, through several rotations");
        assert!(rotated_path(&path, 1).exists());
    }

    #[tokio::test]
    async fn follow_of_a_log_nobody_writes_ends_at_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        write_file(&path, &["2026-11-23T14:00:00.000000000Z stdout F done"]);
        let query = LogQuery { follow: true, ..LogQuery::default() };
        let text = tokio::time::timeout(Duration::from_secs(5), collect(read_log(&LogHub::new(), &path, query).await.expect("open")))
            .await
            .expect("ends");
        assert_eq!(text, "done\n");
    }
}
