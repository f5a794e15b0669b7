//! Starting a process inside namespaces: the pid namespace is entered by a
//! short-lived thread (`unshare`/`setns(CLONE_NEWPID)` only affect the
//! caller's *future children*, and only this thread's), which forks through
//! `std::process::Command`; the child then replays its [`Step`]s in
//! `pre_exec` and execs. A failing step reports its index over a pipe so the
//! parent can say which step failed.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;

use nix::fcntl::OFlag;
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::pipe2;

use super::error::LinuxError;
use super::nsops::{decode_failure, report_failure, run_steps, HostNs};
use super::plan::Step;

/// Which pid namespace the new process lives in.
pub enum PidNamespace {
    /// A fresh one, with the new process as its PID 1.
    New,
    /// An existing one (an exec joins its container's), given as an open `/proc/<pid>/ns/pid`.
    Join(OwnedFd),
}

/// A process to start.
pub struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub steps: Vec<Step>,
    pub pid_namespace: PidNamespace,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// stdin is a terminal the process should take as its controlling terminal.
    pub controlling_terminal: bool,
}

/// Forks and execs `launch`. Blocking: call it off the async threads. The fds the steps
/// refer to must stay open until this returns.
pub fn launch(launch: Launch) -> Result<Child, LinuxError> {
    let Launch { argv, env, mut steps, pid_namespace, stdin, stdout, stderr, controlling_terminal } = launch;
    if controlling_terminal {
        // First, while the process is still root in every sense: nothing later depends on it.
        steps.insert(0, Step::ControllingTerminal);
    }
    let Some(program) = argv.first().cloned() else {
        return Err(LinuxError::InvalidConfig("the container has no command to run".into()));
    };
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| LinuxError::sys("pipe", e))?;
    let report_fd = report_write.as_raw_fd();

    let mut command = Command::new(&program);
    command.args(&argv[1..]).env_clear().envs(env).stdin(stdin).stdout(stdout).stderr(stderr);
    // The step list moves into the closure; a copy of it exists in the child after fork.
    let child_steps = steps.clone();
    // SAFETY: the closure runs in the forked child before exec. It only replays
    // precomputed steps (system calls on CStrings and fds made by the parent, no
    // allocation or locking) and writes to a pipe on failure.
    unsafe {
        command.pre_exec(move || match run_steps(&mut HostNs, &child_steps) {
            Ok(()) => Ok(()),
            Err(failure) => {
                report_failure(report_fd, failure);
                Err(io::Error::from_raw_os_error(failure.errno as i32))
            }
        });
    }

    let spawned = thread::scope(|scope| {
        scope
            .spawn(|| {
                // Only this thread's pid_ns_for_children changes, and the thread ends right after.
                match &pid_namespace {
                    PidNamespace::New => unshare(CloneFlags::CLONE_NEWPID),
                    PidNamespace::Join(fd) => setns(fd, CloneFlags::CLONE_NEWPID),
                }
                .map_err(|e| LinuxError::sys("entering the pid namespace", e))?;
                command.spawn().map_err(|source| LinuxError::Exec { program: program.clone(), source })
            })
            .join()
            .unwrap_or_else(|_| Err(LinuxError::InvalidConfig("the launcher thread panicked".into())))
    });
    drop(report_write);
    match spawned {
        Ok(child) => Ok(child),
        Err(err) => {
            let mut message = Vec::new();
            let _ = std::fs::File::from(report_read).read_to_end(&mut message);
            match decode_failure(&message) {
                Some(failure) => {
                    let step = steps.get(failure.index).map(Step::describe).unwrap_or_else(|| format!("step {}", failure.index));
                    Err(LinuxError::Setup { step, errno: failure.errno })
                }
                None => Err(err),
            }
        }
    }
}
