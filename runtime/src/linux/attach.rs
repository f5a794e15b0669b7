//! What `attach` connects to: a running container's live output (every chunk
//! its log pumps write, published as it is written) and, for a container
//! created with `stdin`, the write side of its stdin (a pipe, or its
//! terminal's master for a `tty` container) that the runtime keeps open for
//! the container's whole life, like kubelet's runtimes do, or until the first
//! attach that used it ends (`stdinOnce`; a pipe then reads EOF, a terminal
//! only stops taking input).

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch};

use super::streams::{Input, Output, Terminal};
use crate::cri::{ContainerState, ExecIo};
use crate::logs::LogStream;

/// How many output chunks a slow attached client may fall behind before it misses some.
const OUTPUT_BACKLOG: usize = 256;

/// One chunk of a container's output, as its log pump read it.
pub type Chunk = (LogStream, Bytes);

/// The stdin side of a container, once it runs.
struct Stdin {
    /// Blocking, so the log pump reading the same terminal master is not disturbed.
    writer: File,
    terminal: Option<Terminal>,
    /// Close it when the first attach that used it ends.
    once: bool,
}

/// The container's stdin, shared with the copy task of each attach (which may close it).
#[derive(Clone, Default)]
struct KeptStdin(Arc<Mutex<Option<Stdin>>>);

impl KeptStdin {
    fn lock(&self) -> MutexGuard<'_, Option<Stdin>> {
        // Only ever replaced whole: consistent even after a panic elsewhere.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close(&self) {
        self.lock().take();
    }
}

pub struct AttachPoint {
    output: broadcast::Sender<Chunk>,
    stdin: KeptStdin,
}

impl Default for AttachPoint {
    fn default() -> Self {
        AttachPoint { output: broadcast::channel(OUTPUT_BACKLOG).0, stdin: KeptStdin::default() }
    }
}

impl AttachPoint {
    /// The sender the log pumps publish to (sending with nobody attached costs nothing).
    pub fn publisher(&self) -> broadcast::Sender<Chunk> {
        self.output.clone()
    }

    /// Keeps the container's stdin (and terminal) for the attaches to come; `once`: only
    /// until the first attach that uses it ends.
    pub fn keep_stdin(&self, writer: File, terminal: Option<Terminal>, once: bool) {
        *self.stdin.lock() = Some(Stdin { writer, terminal, once });
    }

    /// Closes the container's stdin (the container is gone).
    pub fn close_stdin(&self) {
        self.stdin.close();
    }

    /// Streams output from now on to `io` and `io.stdin` to the container, until the
    /// container has exited (`exited` holds its final state) or the client's output fails.
    pub async fn attach(&self, io: ExecIo, exited: watch::Receiver<Option<ContainerState>>) -> std::io::Result<()> {
        let ExecIo { stdin, stdout, stderr, tty, resize } = io;
        // Subscribe first: nothing written after this point is missed.
        let mut output = self.output.subscribe();
        let mut helpers = Vec::new();
        let mut close_stdin_after = false;
        {
            let kept = self.stdin.lock();
            if let (Some(kept), Some(source)) = (kept.as_ref(), stdin) {
                close_stdin_after = kept.once;
                let close_at_eof = kept.once.then(|| self.stdin.clone());
                helpers.push(tokio::spawn(feed(source, kept.writer.try_clone()?, close_at_eof)));
            }
            if let (Some(Stdin { terminal: Some(terminal), .. }), Some(sizes)) = (kept.as_ref(), resize) {
                helpers.push(terminal.follow_resizes(sizes)?);
            }
        }
        let (mut stdout, mut stderr) = (stdout, stderr);
        let exit = until_exited(exited);
        tokio::pin!(exit);
        let result = async {
            loop {
                tokio::select! {
                    // Output first: what was written before the exit is delivered before we stop.
                    biased;
                    chunk = output.recv() => match chunk {
                        Ok((stream, bytes)) => {
                            if let Some(sink) = sink_for(stream, tty, &mut stdout, &mut stderr) {
                                sink.write_all(&bytes).await?;
                                sink.flush().await?;
                            }
                        }
                        // A slow client misses some output rather than stalling the container.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                    () = &mut exit => return Ok(()),
                }
            }
        }
        .await;
        for helper in helpers {
            helper.abort();
        }
        if close_stdin_after {
            self.stdin.close();
        }
        result
    }
}

/// Resolves once the container has a final state (or its record is gone).
async fn until_exited(mut exited: watch::Receiver<Option<ContainerState>>) {
    let _ = exited.wait_for(Option::is_some).await;
}

/// Where a chunk goes: a terminal has one output, shown as stdout.
fn sink_for<'a>(stream: LogStream, tty: bool, stdout: &'a mut Option<Output>, stderr: &'a mut Option<Output>) -> Option<&'a mut Output> {
    match stream {
        LogStream::Stderr if !tty => stderr.as_mut(),
        _ => stdout.as_mut(),
    }
}

/// Copies the client's stdin into the container's, with blocking writes off the async
/// threads; at the client's EOF, closes `close_at_eof` (`stdinOnce`: the container reads EOF).
async fn feed(mut source: Input, writer: File, close_at_eof: Option<KeptStdin>) {
    let mut writer = Some(writer);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match source.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if let Some(kept) = close_at_eof {
                    kept.close();
                }
                return;
            }
            Ok(n) => n,
        };
        let (Some(mut file), chunk) = (writer.take(), buf[..n].to_vec()) else { return };
        match tokio::task::spawn_blocking(move || file.write_all(&chunk).map(|()| file)).await {
            Ok(Ok(file)) => writer = Some(file),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn exited() -> ContainerState {
        let now = SystemTime::now();
        ContainerState::Exited { code: 0, reason: crate::cri::ExitReason::Completed, message: None, started_at: now, finished_at: now }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_output_and_stdin_until_the_container_exits() {
        let point = AttachPoint::default();
        let (container_reads, runtime_writes) = nix::unistd::pipe().expect("pipe");
        point.keep_stdin(File::from(runtime_writes), None, false);
        let (state, exit_watch) = watch::channel(None);
        let (client_out, mut shown_out) = tokio::io::duplex(1024);
        let (client_err, mut shown_err) = tokio::io::duplex(1024);
        let io = ExecIo {
            stdin: Some(Box::new(&b"typed\n"[..])),
            stdout: Some(Box::new(client_out)),
            stderr: Some(Box::new(client_err)),
            tty: false,
            resize: None,
        };
        let publisher = point.publisher();
        let session = tokio::spawn(async move { point.attach(io, exit_watch).await });
        // Published before the client subscribed: not shown. Wait until it has subscribed.
        while publisher.receiver_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        publisher.send((LogStream::Stdout, Bytes::from_static(b"out\n"))).expect("subscribed");
        publisher.send((LogStream::Stderr, Bytes::from_static(b"err\n"))).expect("subscribed");
        let typed = tokio::task::spawn_blocking(move || {
            let mut typed = [0u8; 6];
            File::from(container_reads).read_exact(&mut typed).map(|()| typed)
        });
        assert_eq!(&typed.await.expect("reader task").expect("the container's stdin"), b"typed\n");
        state.send_replace(Some(exited()));
        session.await.expect("session task").expect("attach");

        let mut text = String::new();
        shown_out.read_to_string(&mut text).await.expect("stdout");
        assert_eq!(text, "out\n");
        text.clear();
        shown_err.read_to_string(&mut text).await.expect("stderr");
        assert_eq!(text, "err\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stdin_once_closes_the_containers_stdin_at_the_clients_eof() {
        let point = AttachPoint::default();
        let (container_reads, runtime_writes) = nix::unistd::pipe().expect("pipe");
        point.keep_stdin(File::from(runtime_writes), None, true);
        let (_state, exit_watch) = watch::channel(None);
        let io = ExecIo { stdin: Some(Box::new(&b"last words"[..])), stdout: None, stderr: None, tty: false, resize: None };
        let session = tokio::spawn(async move { point.attach(io, exit_watch).await });
        // read_to_end returns only at EOF: every write end, the runtime's included, is closed.
        let read = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            File::from(container_reads).read_to_end(&mut all).map(|_| all)
        });
        let all = tokio::time::timeout(Duration::from_secs(5), read).await.expect("EOF in time").expect("task").expect("read");
        assert_eq!(all, b"last words");
        session.abort();
    }

    #[test]
    fn a_terminal_shows_everything_as_stdout() {
        let (mut out, mut err): (Option<Output>, Option<Output>) = (Some(Box::new(tokio::io::sink())), None);
        assert!(sink_for(LogStream::Stderr, true, &mut out, &mut err).is_some());
        assert!(sink_for(LogStream::Stderr, false, &mut out, &mut err).is_none());
    }
}
