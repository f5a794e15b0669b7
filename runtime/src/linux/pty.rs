//! Pseudo-terminals for `exec -t` and `tty: true` containers. An exec's
//! terminal comes from the container's own devpts instance (reached through
//! `/proc/<pid>/root`), so inside it `tty` names `/dev/pts/<n>` like under
//! runc; a container's terminal is made before its mount namespace exists and
//! comes from the host's devpts (the container holds only the fd, never sees
//! the host's `/dev/pts`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{open, OFlag};
use nix::libc;
use nix::sys::stat::Mode;
use nix::unistd::{fchown, Gid, Pid, Uid};

use super::error::LinuxError;
use crate::cri::TerminalSize;

/// Both ends of a fresh terminal: the runtime keeps the master, the process gets the slave.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// A terminal in the devpts of the container whose PID 1 is `pid`, its slave owned by `uid`/`gid`.
pub fn open_in_container(pid: Pid, uid: u32, gid: u32) -> Result<Pty, LinuxError> {
    let ptmx = PathBuf::from(format!("/proc/{pid}/root/dev/pts/ptmx"));
    let master = open(&ptmx, OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| LinuxError::io("opening", &ptmx, io::Error::from(e)))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(LinuxError::io("unlocking a terminal of", &ptmx, io::Error::last_os_error()));
    }
    // TIOCGPTPEER opens the slave through the master itself: no path lookup that could be raced.
    // SAFETY: the ioctl takes open flags by value and returns a new fd or -1.
    let raw = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(LinuxError::io("opening the terminal peer of", &ptmx, io::Error::last_os_error()));
    }
    // SAFETY: `raw` was just returned by the kernel and is owned by nobody else.
    let slave = unsafe { OwnedFd::from_raw_fd(raw) };
    fchown(&slave, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(|e| LinuxError::sys("chown of the terminal", e))?;
    Ok(Pty { master, slave })
}

/// A terminal from the host's devpts.
pub fn open_on_host() -> Result<Pty, LinuxError> {
    let pty = nix::pty::openpty(None, None).map_err(|e| LinuxError::sys("openpty", e))?;
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
            .map_err(|e| LinuxError::sys("marking the terminal close-on-exec", e))?;
    }
    Ok(Pty { master: pty.master, slave: pty.slave })
}

/// Tells the terminal (and, through SIGWINCH, its foreground process) its new size.
pub fn set_size(master: BorrowedFd<'_>, size: TerminalSize) -> io::Result<()> {
    let winsize = libc::winsize { ws_row: size.height, ws_col: size.width, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &winsize) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn size_of(fd: BorrowedFd<'_>) -> TerminalSize {
        let mut winsize = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which outlives the call.
        let done = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut winsize) };
        assert_eq!(done, 0, "TIOCGWINSZ: {}", io::Error::last_os_error());
        TerminalSize { width: winsize.ws_col, height: winsize.ws_row }
    }

    #[test]
    fn a_resize_reaches_the_slave_side() {
        let pty = open_on_host().expect("openpty");
        set_size(pty.master.as_fd(), TerminalSize { width: 132, height: 43 }).expect("resize");
        assert_eq!(size_of(pty.slave.as_fd()), TerminalSize { width: 132, height: 43 });
    }
}
