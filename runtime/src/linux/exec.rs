//! `exec` into a running container: a new process that joins the
//! container's cgroup and its pid, net, IPC, UTS and mount namespaces (mount
//! last, which also moves its root into the container), then takes the
//! container's identity. Its stdio is piped to the caller's [`ExecIo`], or,
//! with `tty`, is a terminal from the container's devpts whose master the
//! runtime bridges to the caller (resizes included).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use tokio::net::unix::pipe;

use super::cgroup::Cgroups;
use super::container::Container;
use super::error::LinuxError;
use super::plan::exec_steps;
use super::pty::{open_in_container, set_size, Pty};
use super::spawn::{launch, Launch, PidNamespace};
use super::streams::{copy_out, slave_stdio, Input, Output, Streams, Terminal};
use crate::cri::ExecIo;

/// The namespaces an exec joins besides pid, in order (mount last).
const JOINED: [(&str, CloneFlags); 4] = [
    ("net", CloneFlags::CLONE_NEWNET),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// How long an exec with a terminal waits for the client's first terminal size.
const FIRST_SIZE_WAIT: Duration = Duration::from_millis(500);

fn open(path: PathBuf, write: bool) -> Result<File, LinuxError> {
    std::fs::OpenOptions::new().read(!write).write(write).open(&path).map_err(|e| LinuxError::io("opening", &path, e))
}

/// Runs `argv` in the container whose PID 1 is `pid` (host view); returns its exit code.
pub async fn exec_in(container: &Container, pid: Pid, cgroups: &dyn Cgroups, argv: Vec<String>, io: ExecIo) -> Result<i32, LinuxError> {
    let ns = |kind: &str| PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
    let pid_ns: OwnedFd = open(ns("pid"), false)?.into();
    let namespace_files: Vec<(File, CloneFlags)> =
        JOINED.iter().map(|(kind, flag)| open(ns(kind), false).map(|f| (f, *flag))).collect::<Result<_, _>>()?;
    let cgroup_files: Vec<File> = cgroups.procs_files(&container.cgroup).into_iter().map(|p| open(p, true)).collect::<Result<_, _>>()?;
    let namespaces: Vec<(RawFd, CloneFlags)> = namespace_files.iter().map(|(f, k)| (f.as_raw_fd(), *k)).collect();
    let procs: Vec<RawFd> = cgroup_files.iter().map(File::as_raw_fd).collect();
    let working_dir = container.config.working_dir.clone().unwrap_or_else(|| "/".into());
    let steps = exec_steps(&procs, &namespaces, container.identity, &working_dir)?;

    let ExecIo { stdin, stdout, stderr, tty, mut resize } = io;
    let terminal = if tty { Some(open_in_container(pid, container.identity.uid, container.identity.gid)?) } else { None };
    if let (Some(pty), Some(sizes)) = (&terminal, resize.as_mut()) {
        // kubectl sends its terminal's size right after connecting: a process started before
        // that would see a 0x0 terminal, so give the first size a moment to arrive.
        if let Ok(Some(size)) = tokio::time::timeout(FIRST_SIZE_WAIT, sizes.recv()).await {
            let _ = set_size(pty.master.as_fd(), size);
        }
    }
    let piped = |wanted: bool| if wanted { Stdio::piped() } else { Stdio::null() };
    let (child_stdin, child_stdout, child_stderr) = match &terminal {
        // The terminal is all three: its output reaches the client as stdout, as under kubelet.
        Some(pty) => (slave_stdio(&pty.slave)?, slave_stdio(&pty.slave)?, slave_stdio(&pty.slave)?),
        None => (piped(stdin.is_some()), piped(stdout.is_some()), piped(stderr.is_some())),
    };
    let request = Launch {
        argv,
        env: container.config.env.clone(),
        steps,
        pid_namespace: PidNamespace::Join(pid_ns),
        stdin: child_stdin,
        stdout: child_stdout,
        stderr: child_stderr,
        controlling_terminal: terminal.is_some(),
    };
    let mut child = tokio::task::spawn_blocking(move || {
        let child = launch(request);
        // The namespace and cgroup files must outlive the fork.
        drop((namespace_files, cgroup_files));
        child
    })
    .await
    .map_err(|e| LinuxError::InvalidConfig(format!("exec launcher: {e}")))??;

    let streams = match terminal {
        Some(Pty { master, slave }) => {
            // Only the child may hold the slave, so that the master reads EOF once it is gone.
            drop(slave);
            Terminal::new(master).connect(stdin, stdout, resize)
        }
        None => pipe_streams(&mut child, stdin, stdout, stderr),
    };
    let streams = match streams {
        Ok(streams) => streams,
        Err(err) => {
            // Nobody could talk to it: do not leave it running in the container.
            let _ = child.kill();
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
            return Err(LinuxError::io("connecting the streams of an exec in", &ns("pid"), err));
        }
    };

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .map_err(|e| LinuxError::InvalidConfig(format!("exec waiter: {e}")))?
        .map_err(|e| LinuxError::io("waiting for exec in", &ns("pid"), e))?;
    streams.finish().await;
    let (code, _) = super::container::exit_of(status, false, false);
    Ok(code)
}

/// Connects the child's stdio pipes to the caller's streams.
fn pipe_streams(
    child: &mut Child,
    stdin: Option<Input>,
    stdout: Option<Output>,
    stderr: Option<Output>,
) -> std::io::Result<Streams> {
    let mut streams = Streams::default();
    if let (Some(mut source), Some(sink)) = (stdin, child.stdin.take()) {
        // Dropping the sender when the client's stdin ends is the EOF the process reads.
        let mut sink = pipe::Sender::from_owned_fd(OwnedFd::from(sink))?;
        streams.input(tokio::spawn(async move {
            let _ = tokio::io::copy(&mut source, &mut sink).await;
        }));
    }
    let outputs = [child.stdout.take().map(OwnedFd::from).zip(stdout), child.stderr.take().map(OwnedFd::from).zip(stderr)];
    for (fd, sink) in outputs.into_iter().flatten() {
        streams.output(tokio::spawn(copy_out(pipe::Receiver::from_owned_fd(fd)?, sink)));
    }
    Ok(streams)
}
