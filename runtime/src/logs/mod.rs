//! Container log files, shared by every runtime and the agent: the CRI line
//! format, a size-rotating [`LogWriter`] for a container's stdout and
//! stderr, and [`read_log`] for `kubectl logs` (tail, since, timestamps,
//! follow). The agent chooses the paths: `<log_dir>/<container>/<restart>.log`,
//! so `--previous` is the previous restart's file.

mod format;
mod hub;
mod reader;
mod writer;

use std::path::{Path, PathBuf};

pub use format::{encode_entry, format_time, parse_entry, LogEntry, LogStream};
pub use hub::{LogHub, LogProgress};
pub use reader::{read_log, LogBytes, LogQuery};
pub use writer::{rotated_path, LogWriter, RotationPolicy, MAX_ENTRY_TEXT};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no log at {0}")]
    NotFound(PathBuf),
    #[error("log {0} is closed")]
    Closed(PathBuf),
    #[error("log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        LogError::Io { path: path.to_owned(), source }
    }
}
