//! The bits of the preview 1 ABI the socket functions read and write in guest memory
//! (layouts from `wasi_snapshot_preview1.witx`, wasm32), with bounds checks: a bad pointer is
//! EFAULT for the guest, never a host panic.

use wasmtime_wasi::p1::types::{Errno, Filetype};

/// An errno as the function result.
pub fn errno(e: Errno) -> i32 {
    i32::from(u16::from(e))
}

pub const SUCCESS: i32 = 0;

/// `fdflags.nonblock`.
pub const FDFLAGS_NONBLOCK: u16 = 1 << 2;
/// `sdflags.rd`, `sdflags.wr`.
pub const SDFLAGS_RD: i32 = 1;
pub const SDFLAGS_WR: i32 = 2;
/// `eventtype`.
pub const EVENT_CLOCK: u8 = 0;
pub const EVENT_FD_READ: u8 = 1;
pub const EVENT_FD_WRITE: u8 = 2;
/// `subclockflags.subscription_clock_abstime`.
pub const CLOCK_ABSTIME: u16 = 1;
/// `eventrwflags.fd_readwrite_hangup`.
pub const EVENT_HANGUP: u16 = 1;
/// Sizes of `subscription` and `event`.
pub const SUBSCRIPTION_SIZE: u32 = 48;
pub const EVENT_SIZE: u32 = 32;

/// Rights a socket descriptor reports: read, write, fdstat_set_flags, filestat_get,
/// poll_fd_readwrite, sock_shutdown, sock_accept.
pub const SOCKET_RIGHTS: u64 = (1 << 1) | (1 << 6) | (1 << 3) | (1 << 21) | (1 << 27) | (1 << 28) | (1 << 29);

/// Guest memory as bytes.
pub struct Mem<'a>(pub &'a mut [u8]);

pub type Fault = Errno;

impl Mem<'_> {
    fn range(&self, at: u32, len: u32) -> Result<std::ops::Range<usize>, Fault> {
        let start = at as usize;
        let end = start.checked_add(len as usize).ok_or(Errno::Fault)?;
        if end > self.0.len() {
            return Err(Errno::Fault);
        }
        Ok(start..end)
    }

    pub fn slice(&self, at: u32, len: u32) -> Result<&[u8], Fault> {
        let r = self.range(at, len)?;
        Ok(&self.0[r])
    }

    pub fn slice_mut(&mut self, at: u32, len: u32) -> Result<&mut [u8], Fault> {
        let r = self.range(at, len)?;
        Ok(&mut self.0[r])
    }

    pub fn u8(&self, at: u32) -> Result<u8, Fault> {
        Ok(self.slice(at, 1)?[0])
    }

    pub fn u16(&self, at: u32) -> Result<u16, Fault> {
        Ok(u16::from_le_bytes(self.slice(at, 2)?.try_into().map_err(|_| Errno::Fault)?))
    }

    pub fn u32(&self, at: u32) -> Result<u32, Fault> {
        Ok(u32::from_le_bytes(self.slice(at, 4)?.try_into().map_err(|_| Errno::Fault)?))
    }

    pub fn u64(&self, at: u32) -> Result<u64, Fault> {
        Ok(u64::from_le_bytes(self.slice(at, 8)?.try_into().map_err(|_| Errno::Fault)?))
    }

    pub fn put(&mut self, at: u32, bytes: &[u8]) -> Result<(), Fault> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(at, len)?.copy_from_slice(bytes);
        Ok(())
    }

    pub fn put_u16(&mut self, at: u32, v: u16) -> Result<(), Fault> {
        self.put(at, &v.to_le_bytes())
    }

    pub fn put_u32(&mut self, at: u32, v: u32) -> Result<(), Fault> {
        self.put(at, &v.to_le_bytes())
    }

    pub fn put_u64(&mut self, at: u32, v: u64) -> Result<(), Fault> {
        self.put(at, &v.to_le_bytes())
    }

    /// An `iovec`/`ciovec` array: (buf, len) pairs.
    pub fn iovecs(&self, at: u32, count: u32) -> Result<Vec<(u32, u32)>, Fault> {
        // Not more entries than the memory could hold, whatever `count` claims.
        let bytes = count.checked_mul(8).ok_or(Errno::Fault)?;
        self.slice(at, bytes)?;
        (0..count).map(|i| Ok((self.u32(at + i * 8)?, self.u32(at + i * 8 + 4)?))).collect()
    }

    /// Copies `data` into the iovecs at `at`, in order; returns the bytes written.
    pub fn scatter(&mut self, iovs: &[(u32, u32)], mut data: &[u8]) -> Result<u32, Fault> {
        let mut total = 0u32;
        for &(buf, len) in iovs {
            if data.is_empty() {
                break;
            }
            let n = data.len().min(len as usize);
            self.put(buf, &data[..n])?;
            data = &data[n..];
            total += n as u32;
        }
        Ok(total)
    }

    /// The bytes of the ciovecs at `at`, up to `limit`.
    pub fn gather(&self, iovs: &[(u32, u32)], limit: usize) -> Result<Vec<u8>, Fault> {
        let mut out = Vec::new();
        for &(buf, len) in iovs {
            let room = limit - out.len();
            if room == 0 {
                break;
            }
            let take = (len as usize).min(room) as u32;
            out.extend_from_slice(self.slice(buf, take)?);
        }
        Ok(out)
    }

    /// An `fdstat` for a socket.
    pub fn put_socket_fdstat(&mut self, at: u32, nonblocking: bool) -> Result<(), Fault> {
        let mut stat = [0u8; 24];
        stat[0] = u8::from(Filetype::SocketStream);
        stat[2..4].copy_from_slice(&(if nonblocking { FDFLAGS_NONBLOCK } else { 0 }).to_le_bytes());
        stat[8..16].copy_from_slice(&SOCKET_RIGHTS.to_le_bytes());
        stat[16..24].copy_from_slice(&SOCKET_RIGHTS.to_le_bytes());
        self.put(at, &stat)
    }

    /// A `filestat` for a socket: only the file type is known.
    pub fn put_socket_filestat(&mut self, at: u32) -> Result<(), Fault> {
        let mut stat = [0u8; 64];
        stat[16] = u8::from(Filetype::SocketStream);
        stat[24..32].copy_from_slice(&1u64.to_le_bytes());
        self.put(at, &stat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked_and_iovecs_scatter_in_order() {
        let mut bytes = vec![0u8; 64];
        let mut mem = Mem(&mut bytes);
        mem.put_u32(0, 32).unwrap();
        mem.put_u32(4, 3).unwrap();
        mem.put_u32(8, 40).unwrap();
        mem.put_u32(12, 10).unwrap();
        let iovs = mem.iovecs(0, 2).unwrap();
        assert_eq!(iovs, vec![(32, 3), (40, 10)]);
        assert_eq!(mem.scatter(&iovs, b"hello").unwrap(), 5);
        assert_eq!(mem.slice(32, 3).unwrap(), b"hel");
        assert_eq!(mem.slice(40, 2).unwrap(), b"lo");
        assert_eq!(mem.gather(&iovs, 4).unwrap(), b"hell");
        assert_eq!(mem.u32(62), Err(Errno::Fault));
        assert_eq!(mem.iovecs(60, 1 << 30), Err(Errno::Fault));
        assert_eq!(errno(Errno::Badf), 8);
        assert_eq!(errno(Errno::Again), 6);
    }
}
