//! An async stream over a raw file descriptor that is neither a socket nor a
//! FIFO tokio knows: the master side of a pseudo-terminal (and pipe ends,
//! through the same code). The fd is switched to non-blocking mode and
//! driven by tokio's reactor.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads and writes one fd asynchronously.
pub struct FdStream {
    inner: AsyncFd<std::fs::File>,
}

impl FdStream {
    /// Takes the fd and makes it non-blocking. Must be called inside a tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // SAFETY: the File owns the fd and keeps it open, unchanged, for as long as the AsyncFd
        // holds it: it is never handed out, so nothing else can close or replace it.
        let inner = unsafe { AsyncFd::register(std::fs::File::from(fd)) }.map_err(io::Error::from)?;
        Ok(FdStream { inner })
    }
}

impl AsRawFd for FdStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// A pty master reads EIO once every slave fd is closed: for a reader that is the end.
fn is_hangup(err: &io::Error) -> bool {
    err.raw_os_error() == Some(nix::libc::EIO)
}

impl AsyncRead for FdStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|inner| inner.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) if is_hangup(&err) => return Poll::Ready(Ok(())),
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|inner| inner.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn copies_through_a_pipe_and_reads_eof_when_the_writer_closes() {
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let mut writer = FdStream::new(write_end).expect("writer");
        let mut reader = FdStream::new(read_end).expect("reader");
        writer.write_all(b"hello").await.expect("write");
        drop(writer);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"hello");
    }
}
