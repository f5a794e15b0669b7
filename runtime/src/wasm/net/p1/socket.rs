//! The socket side of preview 1: accept, receive, send, shut down. A blocking descriptor (the
//! default, as after `socket(2)`) waits in the host call (the guest's fiber suspends, its tokio
//! worker runs other pods); a descriptor the guest made non-blocking answers EAGAIN instead.

use std::future::poll_fn;
use std::io::{self, ErrorKind};
use std::task::{Context, Poll, Waker};

use tokio::net::TcpStream;
use wasmtime_wasi::p1::types::Errno;

use super::{Listener, Stream};

/// The most one receive or send moves, whatever the iovecs offer.
pub const MAX_TRANSFER: usize = 64 * 1024;

/// The errno of a socket error.
pub fn errno_of(err: &io::Error) -> Errno {
    match err.kind() {
        ErrorKind::WouldBlock => Errno::Again,
        ErrorKind::ConnectionReset => Errno::Connreset,
        ErrorKind::ConnectionAborted => Errno::Connaborted,
        ErrorKind::BrokenPipe => Errno::Pipe,
        ErrorKind::NotConnected => Errno::Notconn,
        ErrorKind::Interrupted => Errno::Intr,
        ErrorKind::TimedOut => Errno::Timedout,
        ErrorKind::OutOfMemory => Errno::Nomem,
        _ => match err.raw_os_error() {
            Some(libc_errno) if libc_errno == nix::libc::EMFILE => Errno::Mfile,
            Some(libc_errno) if libc_errno == nix::libc::ENFILE => Errno::Nfile,
            Some(libc_errno) if libc_errno == nix::libc::ENOBUFS => Errno::Nobufs,
            _ => Errno::Io,
        },
    }
}

impl Listener {
    /// Polls for the next connection, keeping one taken off the queue for a later accept.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.waiting.is_some() {
            return Poll::Ready(Ok(()));
        }
        match self.socket.poll_accept(cx) {
            Poll::Ready(Ok((stream, _peer))) => {
                self.waiting = Some(stream);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The next connection; waits for one unless the listener is non-blocking.
    pub async fn accept(&mut self) -> io::Result<TcpStream> {
        if !self.nonblocking {
            poll_fn(|cx| self.poll_ready(cx)).await?;
        } else if self.poll_ready(&mut Context::from_waker(Waker::noop())).is_pending() {
            return Err(ErrorKind::WouldBlock.into());
        }
        match self.waiting.take() {
            Some(stream) => Ok(stream),
            None => Err(ErrorKind::WouldBlock.into()),
        }
    }
}

impl Stream {
    pub fn new(socket: TcpStream, nonblocking: bool) -> Self {
        // Small request/response exchanges are the common case: no Nagle delay.
        let _ = socket.set_nodelay(true);
        Stream { socket, nonblocking }
    }

    /// Up to `max` bytes; empty at the end of the stream.
    pub async fn recv(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; max.min(MAX_TRANSFER)];
        loop {
            match self.socket.try_read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && !self.nonblocking => self.socket.readable().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends some of `data` (at least one byte unless it is empty); returns how much.
    pub async fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        loop {
            match self.socket.try_write(data) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock && !self.nonblocking => self.socket.writable().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// `sock_shutdown` with `sdflags`.
    pub fn shutdown(&self, read: bool, write: bool) -> io::Result<()> {
        let how = match (read, write) {
            (true, true) => std::net::Shutdown::Both,
            (true, false) => std::net::Shutdown::Read,
            (false, true) => std::net::Shutdown::Write,
            (false, false) => return Err(ErrorKind::InvalidInput.into()),
        };
        socket2::SockRef::from(&self.socket).shutdown(how)
    }
}
