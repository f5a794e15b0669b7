//! Bridging a process's stdio to the caller's async streams: the copy tasks
//! of one exec (or attach), and the terminal side of a `tty` session (input
//! to the master, master to the caller's stdout, resizes to `TIOCSWINSZ`).

use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::LinuxError;
use super::fdio::FdStream;
use super::pty::set_size;
use crate::cri::TerminalSize;

/// The caller's side of a stream.
pub type Input = Box<dyn AsyncRead + Send + Unpin>;
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// One more handle on a terminal's slave, for one of a child's stdio slots.
pub fn slave_stdio(slave: &OwnedFd) -> Result<Stdio, LinuxError> {
    slave.try_clone().map(Stdio::from).map_err(|e| LinuxError::io("duplicating", std::path::Path::new("the terminal"), e))
}

/// Copies `source` into `sink` until `source` ends or `sink` fails.
pub async fn copy_out(mut source: impl AsyncRead + Unpin, mut sink: Output) {
    let _ = tokio::io::copy(&mut source, &mut sink).await;
    let _ = sink.flush().await;
}

/// The copy tasks of one session.
#[derive(Default)]
pub struct Streams {
    /// Copies towards the process (and resize handlers): stopped once it has exited.
    inputs: Vec<JoinHandle<()>>,
    /// Copies from the process: they end by themselves once its output closes.
    outputs: Vec<JoinHandle<()>>,
}

impl Streams {
    pub fn input(&mut self, task: JoinHandle<()>) {
        self.inputs.push(task);
    }

    pub fn output(&mut self, task: JoinHandle<()>) {
        self.outputs.push(task);
    }

    /// Waits for the output to be delivered, then stops the input side.
    pub async fn finish(self) {
        for output in self.outputs {
            let _ = output.await;
        }
        for input in self.inputs {
            input.abort();
        }
    }
}

/// The master side of a terminal, as the runtime holds it.
pub struct Terminal {
    master: OwnedFd,
}

impl Terminal {
    pub fn new(master: OwnedFd) -> Self {
        Terminal { master }
    }

    /// An async handle on the master, for reading or writing.
    pub fn stream(&self) -> std::io::Result<FdStream> {
        FdStream::new(self.master.try_clone()?)
    }

    /// Applies every size the caller sends until it stops sending.
    pub fn follow_resizes(&self, mut sizes: mpsc::Receiver<TerminalSize>) -> std::io::Result<JoinHandle<()>> {
        let master = self.master.try_clone()?;
        Ok(tokio::spawn(async move {
            while let Some(size) = sizes.recv().await {
                if let Err(err) = set_size(master.as_fd(), size) {
                    tracing::debug!(error = %err, "resizing a terminal");
                }
            }
        }))
    }

    /// Caller stdin → master, master → caller stdout, resizes → the terminal.
    pub fn connect(self, stdin: Option<Input>, stdout: Option<Output>, resize: Option<mpsc::Receiver<TerminalSize>>) -> std::io::Result<Streams> {
        let mut streams = Streams::default();
        if let Some(sizes) = resize {
            streams.input(self.follow_resizes(sizes)?);
        }
        if let Some(mut source) = stdin {
            let mut sink = self.stream()?;
            streams.input(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut source, &mut sink).await;
            }));
        }
        // The master is read even without a stdout to send it to: a full terminal would block the process.
        let sink: Output = stdout.unwrap_or_else(|| Box::new(tokio::io::sink()));
        streams.output(tokio::spawn(copy_out(FdStream::new(self.master)?, sink)));
        Ok(streams)
    }
}
