//! One Linux container's record: what it was created with, its phase, and
//! the watcher thread that reaps it, drains its output into the log file and
//! turns the wait status (and the cgroup's OOM counter) into an exit reason.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use bytes::Bytes;
use nix::unistd::Pid;
use tokio::sync::{broadcast, watch};

use super::attach::{AttachPoint, Chunk};
use super::cgroup::Cgroups;
use super::plan::Identity;
use super::rootfs::Layer;
use crate::cri::{ContainerConfig, ContainerState, ExitReason, SandboxId};
use crate::logs::{LogStream, LogWriter};

/// The exit code a shell reports for a process killed by `signal`.
const SIGNAL_EXIT_BASE: i32 = 128;

pub struct Container {
    pub sandbox: SandboxId,
    pub config: ContainerConfig,
    pub layer: Layer,
    /// The container's cgroup, relative to the runtime's cgroup root.
    pub cgroup: PathBuf,
    pub identity: Identity,
    /// What `attach` connects to: live output, and stdin when the config asks for it.
    pub attach: AttachPoint,
    phase: Mutex<Phase>,
    /// Set by `stop_container`, so a signal death reads as stopped, not crashed.
    stop_requested: AtomicBool,
    exited: watch::Sender<Option<ContainerState>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Created,
    Running { pid: Pid, started_at: SystemTime },
    Exited,
}

impl Container {
    pub fn new(sandbox: SandboxId, config: ContainerConfig, layer: Layer, cgroup: PathBuf, identity: Identity) -> Self {
        Container {
            sandbox,
            config,
            layer,
            cgroup,
            identity,
            attach: AttachPoint::default(),
            phase: Mutex::new(Phase::Created),
            stop_requested: AtomicBool::new(false),
            exited: watch::Sender::new(None),
        }
    }

    pub fn phase(&self) -> Phase {
        *self.lock()
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // The phase is a Copy value, consistent even after a panic elsewhere.
        self.phase.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves Created → Running; false when it was not Created.
    pub fn mark_running(&self, pid: Pid) -> bool {
        let mut phase = self.lock();
        if *phase != Phase::Created {
            return false;
        }
        *phase = Phase::Running { pid, started_at: SystemTime::now() };
        true
    }

    pub fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::SeqCst);
    }

    pub fn state(&self) -> ContainerState {
        if let Some(state) = self.exited.borrow().clone() {
            return state;
        }
        match self.phase() {
            Phase::Running { started_at, .. } => ContainerState::Running { started_at },
            Phase::Created | Phase::Exited => ContainerState::Created,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<ContainerState>> {
        self.exited.subscribe()
    }

    /// Watches a started process until it exits: log pumps, reaping, the final state.
    /// `terminal` is a `tty` container's master: its output is the container's stdout.
    pub fn watch(self: &Arc<Self>, mut child: Child, terminal: Option<File>, log: LogWriter, cgroups: Arc<dyn Cgroups>) {
        let publisher = self.attach.publisher();
        let pumps = [
            child.stdout.take().map(|out| pump::<ChildStdout>(out, log.clone(), publisher.clone(), LogStream::Stdout)),
            child.stderr.take().map(|err| pump::<ChildStderr>(err, log.clone(), publisher.clone(), LogStream::Stderr)),
            terminal.map(|master| pump::<File>(master, log.clone(), publisher, LogStream::Stdout)),
        ];
        let container = Arc::clone(self);
        thread::spawn(move || {
            let status = child.wait();
            // PID 1 is gone, so the kernel has killed the rest of its pid namespace; the pipes close.
            for pump in pumps.into_iter().flatten() {
                let _ = pump.join();
            }
            let _ = log.close();
            container.attach.close_stdin();
            let oom_killed = cgroups.oom_kills(&container.cgroup) > 0;
            let message = status.as_ref().err().map(|e| format!("waiting for the container: {e}"));
            let (code, reason) = match status {
                Ok(status) => exit_of(status, oom_killed, container.stop_requested.load(Ordering::SeqCst)),
                Err(_) => (-1, ExitReason::Error),
            };
            let started_at = match container.phase() {
                Phase::Running { started_at, .. } => started_at,
                _ => SystemTime::now(),
            };
            let state = ContainerState::Exited { code, reason, message, started_at, finished_at: SystemTime::now() };
            container.exited.send_replace(Some(state));
            *container.lock() = Phase::Exited;
        });
    }
}

/// Copies one output stream into the log, and to attached clients, until the write ends
/// close (a terminal master reads EIO then).
fn pump<R: Read + Send + 'static>(mut source: R, log: LogWriter, attached: broadcast::Sender<Chunk>, stream: LogStream) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if log.write(stream, &buf[..n]).is_err() {
                        break;
                    }
                    // No receiver (nobody attached) is the common case, not an error.
                    let _ = attached.send((stream, Bytes::copy_from_slice(&buf[..n])));
                }
            }
        }
    })
}

/// The exit code and reason of a wait status. The OOM counter wins: the OOM killer's
/// SIGKILL looks like any other.
pub fn exit_of(status: ExitStatus, oom_killed: bool, stop_requested: bool) -> (i32, ExitReason) {
    let code = status.code().unwrap_or_else(|| SIGNAL_EXIT_BASE + status.signal().unwrap_or(0));
    let reason = if oom_killed {
        ExitReason::OomKilled
    } else if code == 0 {
        ExitReason::Completed
    } else if stop_requested && status.signal().is_some() {
        ExitReason::Killed
    } else {
        ExitReason::Error
    };
    (code, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_reasons() {
        assert_eq!(exit_of(ExitStatus::from_raw(0), false, false), (0, ExitReason::Completed));
        assert_eq!(exit_of(ExitStatus::from_raw(3 << 8), false, false), (3, ExitReason::Error));
        assert_eq!(exit_of(ExitStatus::from_raw(9), true, false), (137, ExitReason::OomKilled));
        assert_eq!(exit_of(ExitStatus::from_raw(9), false, true), (137, ExitReason::Killed));
        assert_eq!(exit_of(ExitStatus::from_raw(15), false, false), (143, ExitReason::Error));
    }
}
