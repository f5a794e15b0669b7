//! Appends a container's stdout and stderr to its log file in the CRI format,
//! and rotates the file by size.
//!
//! Output is cut into entries at newlines; a line longer than
//! [`MAX_ENTRY_TEXT`] is written as `P` chunks followed by an `F` entry, as
//! containerd does. An unterminated last line is held back until its newline
//! arrives, and written as `F` when the writer closes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

use super::format::{encode_entry, LogStream};
use super::hub::{LogHub, Registration};
use super::LogError;

/// The longest text of one entry; longer lines are split into partial entries.
pub const MAX_ENTRY_TEXT: usize = 16 * 1024;

/// When to rotate a log file, and how many rotated files to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Rotate once the file reaches this size.
    pub max_bytes: u64,
    /// Files kept in total, the live one included: `<path>`, `<path>.1` (newest) … `<path>.{max_files-1}`.
    pub max_files: usize,
}

impl Default for RotationPolicy {
    /// kubelet's defaults (`containerLogMaxSize` 10Mi, `containerLogMaxFiles` 5).
    fn default() -> Self {
        RotationPolicy { max_bytes: 10 << 20, max_files: 5 }
    }
}

/// The path of the `n`th rotated file of `path` (`n` ≥ 1; 1 is the newest).
pub fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The writer of one log file; clones share it (one for stdout, one for stderr).
/// The file is closed when the last clone is dropped, or by [`LogWriter::close`].
#[derive(Clone, Debug)]
pub struct LogWriter {
    state: Arc<Mutex<WriterState>>,
}

#[derive(Debug)]
struct WriterState {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    policy: RotationPolicy,
    /// The unterminated tail of each stream, indexed by [`stream_index`].
    pending: [Vec<u8>; 2],
    hub: LogHub,
    registration: Registration,
    encoded: Vec<u8>,
}

fn stream_index(stream: LogStream) -> usize {
    match stream {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
    }
}

const STREAMS: [LogStream; 2] = [LogStream::Stdout, LogStream::Stderr];

impl LogWriter {
    /// Opens (appending) or creates `path` and its parent directories, and registers it in `hub`
    /// as live until closed.
    pub fn create(hub: &LogHub, path: &Path, policy: RotationPolicy) -> Result<Self, LogError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|source| LogError::io(dir, source))?;
        }
        let file = open_append(path)?;
        let size = file.metadata().map_err(|source| LogError::io(path, source))?.len();
        let registration = hub.register(path);
        let state = WriterState {
            path: path.to_owned(),
            file: Some(file),
            size,
            policy,
            pending: [Vec::new(), Vec::new()],
            hub: hub.clone(),
            registration,
            encoded: Vec::new(),
        };
        Ok(LogWriter { state: Arc::new(Mutex::new(state)) })
    }

    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// Appends output of `stream`. Complete lines reach the file before this returns.
    pub fn write(&self, stream: LogStream, bytes: &[u8]) -> Result<(), LogError> {
        self.lock().write(stream, bytes, Timestamp::now())
    }

    /// Writes any unterminated last lines and tells followers that the log has ended.
    /// Later writes fail. Idempotent.
    pub fn close(&self) -> Result<(), LogError> {
        self.lock().close(Timestamp::now())
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // Every method leaves the state consistent before it can fail, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|source| LogError::io(path, source))
}

impl WriterState {
    fn write(&mut self, stream: LogStream, bytes: &[u8], now: Timestamp) -> Result<(), LogError> {
        if self.file.is_none() {
            return Err(LogError::Closed(self.path.clone()));
        }
        let pending = &mut self.pending[stream_index(stream)];
        pending.extend_from_slice(bytes);
        self.encoded.clear();
        let mut start = 0;
        while let Some(newline) = pending[start..].iter().position(|b| *b == b'\n') {
            encode_chunks(&mut self.encoded, now, stream, &pending[start..start + newline]);
            start += newline + 1;
        }
        // Cut an overlong unterminated line into partial entries now, so memory stays bounded.
        while pending.len() - start >= MAX_ENTRY_TEXT {
            encode_entry(&mut self.encoded, now, stream, true, &pending[start..start + MAX_ENTRY_TEXT]);
            start += MAX_ENTRY_TEXT;
        }
        pending.drain(..start);
        self.append_encoded()
    }

    fn close(&mut self, now: Timestamp) -> Result<(), LogError> {
        if self.file.is_none() {
            return Ok(());
        }
        self.encoded.clear();
        for stream in STREAMS {
            let pending = std::mem::take(&mut self.pending[stream_index(stream)]);
            if !pending.is_empty() {
                encode_chunks(&mut self.encoded, now, stream, &pending);
            }
        }
        let result = self.append_encoded();
        self.file = None;
        self.registration.progress.send_modify(|p| p.closed = true);
        self.hub.unregister(&self.path, &self.registration);
        result
    }

    fn append_encoded(&mut self) -> Result<(), LogError> {
        if self.encoded.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(LogError::Closed(self.path.clone()));
        };
        // One write per call: a follower never sees half of an entry unless the disk is full.
        file.write_all(&self.encoded).map_err(|source| LogError::io(&self.path, source))?;
        self.size += self.encoded.len() as u64;
        self.registration.progress.send_modify(|p| p.writes += 1);
        if self.size >= self.policy.max_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// `<path>.{k}` → `<path>.{k+1}` from the oldest down, then `<path>` → `<path>.1`
    /// and a fresh `<path>`. A follower holding the old file reads it to its end first.
    fn rotate(&mut self) -> Result<(), LogError> {
        if self.policy.max_files <= 1 {
            let file = self.file.as_mut().ok_or_else(|| LogError::Closed(self.path.clone()))?;
            file.set_len(0).map_err(|source| LogError::io(&self.path, source))?;
        } else {
            for n in (1..self.policy.max_files - 1).rev() {
                let from = rotated_path(&self.path, n);
                if from.exists() {
                    let to = rotated_path(&self.path, n + 1);
                    fs::rename(&from, &to).map_err(|source| LogError::io(&from, source))?;
                }
            }
            let first = rotated_path(&self.path, 1);
            fs::rename(&self.path, &first).map_err(|source| LogError::io(&self.path, source))?;
            self.file = Some(open_append(&self.path)?);
        }
        self.size = 0;
        self.registration.progress.send_modify(|p| p.rotations += 1);
        Ok(())
    }
}

/// Encodes one complete line, as `P` chunks plus a final `F` when it is long.
fn encode_chunks(out: &mut Vec<u8>, now: Timestamp, stream: LogStream, mut line: &[u8]) {
    while line.len() > MAX_ENTRY_TEXT {
        encode_entry(out, now, stream, true, &line[..MAX_ENTRY_TEXT]);
        line = &line[MAX_ENTRY_TEXT..];
    }
    encode_entry(out, now, stream, false, line);
}

impl Drop for WriterState {
    fn drop(&mut self) {
        // Dropping the last clone is how a container's stdio ends; an error here has nobody to go to
        // and the followers are released either way.
        let _ = self.close(Timestamp::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        String::from_utf8(fs::read(path).expect("log file")).expect("utf-8")
    }

    fn texts(content: &str) -> Vec<String> {
        content.lines().map(|l| l.split_once(' ').map(|(_, rest)| rest).unwrap_or_default().to_owned()).collect()
    }

    #[test]
    fn splits_output_into_entries_at_newlines_and_holds_unterminated_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c/0.log");
        let writer = LogWriter::create(&LogHub::new(), &path, RotationPolicy::default()).expect("create");
        writer.write(LogStream::Stdout, b"one\ntw").expect("write");
        writer.write(LogStream::Stderr, b"err\n").expect("write");
        assert_eq!(texts(&read(&path)), ["stdout F one", "stderr F err"]);
        writer.write(LogStream::Stdout, b"o\n\nthree").expect("write");
        writer.close().expect("close");
        assert_eq!(texts(&read(&path)), ["stdout F one", "stderr F err", "stdout F two", "stdout F ", "stdout F three"]);
        assert!(matches!(writer.write(LogStream::Stdout, b"late\n"), Err(LogError::Closed(_))));
    }

    #[test]
    fn long_lines_become_partial_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let writer = LogWriter::create(&LogHub::new(), &path, RotationPolicy::default()).expect("create");
        let long = vec![b'x'; MAX_ENTRY_TEXT * 2 + 10];
        writer.write(LogStream::Stdout, &long).expect("write");
        writer.write(LogStream::Stdout, b"\n").expect("write");
        let content = read(&path);
        let tags: Vec<&str> = content.lines().map(|l| l.split(' ').nth(2).unwrap_or_default()).collect();
        assert_eq!(tags, ["P", "P", "F"]);
        assert!(content.lines().last().is_some_and(|l| l.ends_with(" F xxxxxxxxxx")));
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let policy = RotationPolicy { max_bytes: 200, max_files: 3 };
        let hub = LogHub::new();
        let writer = LogWriter::create(&hub, &path, policy).expect("create");
        let follower = hub.subscribe(&path).expect("live");
        // Each entry is 31 (time) + 1 + 6 + 3 + 60 + 1 = 102 bytes: two fill a file.
        for i in 0..7 {
            writer.write(LogStream::Stdout, format!("{i:060}\n").as_bytes()).expect("write");
        }
        assert_eq!(follower.borrow().rotations, 3);
        assert_eq!(texts(&read(&path)).len(), 1, "the live file holds the 7th line");
        assert_eq!(texts(&read(&rotated_path(&path, 1))).len(), 2);
        assert_eq!(texts(&read(&rotated_path(&path, 2))).len(), 2);
        assert!(!rotated_path(&path, 3).exists(), "older files are dropped");
        assert!(read(&rotated_path(&path, 2)).contains(&format!("{:060}", 2)));
    }

    #[test]
    fn dropping_the_last_clone_closes_and_releases_followers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let hub = LogHub::new();
        let writer = LogWriter::create(&hub, &path, RotationPolicy::default()).expect("create");
        let stderr = writer.clone();
        let follower = hub.subscribe(&path).expect("live");
        writer.write(LogStream::Stdout, b"no newline").expect("write");
        drop(writer);
        assert!(hub.is_live(&path), "one clone is still open");
        drop(stderr);
        assert!(follower.borrow().closed);
        assert!(!hub.is_live(&path));
        assert_eq!(texts(&read(&path)), ["stdout F no newline"]);
    }
}
