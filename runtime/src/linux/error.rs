//! Errors of the linux runtime, and how they map onto [`CriError`].

use std::path::{Path, PathBuf};

use crate::cri::CriError;

#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::Error,
    },
    /// A step of the container's setup failed in the child before `exec`.
    #[error("container setup failed at {step}: {errno}")]
    Setup { step: String, errno: nix::Error },
    /// The process could not be started (no such executable...).
    #[error("cannot start {program:?}: {source}")]
    Exec {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no usable cgroup hierarchy: {0}")]
    NoCgroups(String),
    #[error("building the seccomp filter: {0}")]
    Seccomp(String),
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
}

impl LinuxError {
    pub(crate) fn io(context: &'static str, path: &Path, source: std::io::Error) -> Self {
        LinuxError::Io { context, path: path.to_owned(), source }
    }

    pub(crate) fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        LinuxError::Sys { context: context.into(), source }
    }
}

impl From<LinuxError> for CriError {
    fn from(err: LinuxError) -> Self {
        match err {
            LinuxError::InvalidConfig(message) => CriError::InvalidConfig(message),
            // A missing or non-executable entrypoint is the pod's fault, not the node's.
            LinuxError::Exec { .. } => CriError::InvalidConfig(err.to_string()),
            other => CriError::Internal(other.to_string()),
        }
    }
}
