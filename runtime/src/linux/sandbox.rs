//! A pod sandbox: a holder process that owns the pod's network, IPC and UTS
//! namespaces for the pod's life (the pause container's job: containers
//! `setns` into them), and the `/etc` files every container of the pod sees.

use std::fs;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pause, pipe2, read, sethostname, setsid, write, ForkResult, Pid};

use super::error::LinuxError;

/// The namespaces a pod's containers share.
pub const SHARED_NAMESPACES: [(&str, CloneFlags); 3] =
    [("net", CloneFlags::CLONE_NEWNET), ("ipc", CloneFlags::CLONE_NEWIPC), ("uts", CloneFlags::CLONE_NEWUTS)];

/// The running holder process of one sandbox.
#[derive(Debug)]
pub struct Holder {
    pid: Pid,
}

impl Holder {
    /// Forks the holder: new net, IPC and UTS namespaces, `hostname`, loopback up.
    /// Blocks until the holder reports its setup (call it off the async threads).
    pub fn spawn(hostname: &str) -> Result<Holder, LinuxError> {
        if hostname.is_empty() || hostname.len() > 64 {
            return Err(LinuxError::InvalidConfig(format!("hostname {hostname:?} must be 1 to 64 bytes")));
        }
        let (report_read, report_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| LinuxError::sys("pipe", e))?;
        // SAFETY: the child only makes system calls (no allocation, no locks) before it
        // parks in pause(), so forking a multi-threaded process is sound here.
        match unsafe { fork() }.map_err(|e| LinuxError::sys("fork of the sandbox holder", e))? {
            ForkResult::Child => hold(hostname, &report_write),
            ForkResult::Parent { child } => {
                drop(report_write);
                let mut status = [0u8; 4];
                let read = read(&report_read, &mut status).map_err(|e| LinuxError::sys("reading the holder's report", e))?;
                let holder = Holder { pid: child };
                let errno = i32::from_le_bytes(status);
                if read != 4 || errno != 0 {
                    holder.kill();
                    let errno = if read == 4 { Errno::from_raw(errno) } else { Errno::EPIPE };
                    return Err(LinuxError::sys("setting up the sandbox namespaces", errno));
                }
                Ok(holder)
            }
        }
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// `/proc/<pid>/ns/<kind>` of each shared namespace.
    pub fn namespace_files(&self) -> Vec<(PathBuf, CloneFlags)> {
        SHARED_NAMESPACES.iter().map(|(name, kind)| (PathBuf::from(format!("/proc/{}/ns/{name}", self.pid)), *kind)).collect()
    }

    /// SIGKILL and reap; the namespaces go with it once no container holds them. Idempotent.
    pub fn kill(&self) {
        if kill(self.pid, Signal::SIGKILL).is_ok() {
            let _ = waitpid(self.pid, None);
        }
    }
}

/// The holder's life: set up, report, close everything inherited, sleep until killed.
fn hold(hostname: &str, report: &OwnedFd) -> ! {
    let result = setsid()
        .and_then(|_| unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS))
        .and_then(|()| sethostname(hostname))
        .and_then(|()| loopback_up());
    let code = match result {
        Ok(()) => 0i32,
        Err(errno) => errno as i32,
    };
    let _ = write(report, &code.to_le_bytes());
    if code != 0 {
        // SAFETY: _exit skips atexit handlers and destructors, which belong to the parent.
        unsafe { libc::_exit(1) };
    }
    // Do not keep the agent's sockets and files alive for the pod's lifetime.
    // SAFETY: close_range takes integers only; nothing in this process uses those fds again.
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    loop {
        pause();
    }
}

/// `ip link set lo up`, with the SIOCSIFFLAGS ioctl (a new network namespace's loopback is down).
fn loopback_up() -> nix::Result<()> {
    // SAFETY: plain socket(2) call; the fd is closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let sock = Errno::result(sock)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own; the union member
    // written is ifru_flags, which these requests use.
    let result = unsafe {
        Errno::result(libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut request)).and_then(|_| {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            Errno::result(libc::ioctl(sock, libc::SIOCSIFFLAGS, &request))
        })
    };
    // SAFETY: sock is ours and used no more.
    unsafe { libc::close(sock) };
    result.map(drop)
}

/// The `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` of a pod, written under `dir`:
/// the hosts file names the pod by its IP on the pod network (by 127.0.0.1 without one),
/// as kubelet's does. Returns `(container path, host file)` pairs to bind into each container.
pub fn write_etc_files(dir: &Path, hostname: &str, pod_ip: Option<IpAddr>, resolv: &[u8]) -> Result<Vec<(&'static str, PathBuf)>, LinuxError> {
    fs::create_dir_all(dir).map_err(|e| LinuxError::io("creating", dir, e))?;
    let own = pod_ip.map_or_else(|| "127.0.0.1".to_string(), |ip| ip.to_string());
    let hosts = format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{own}\t{hostname}\n"
    );
    let hostname_file = format!("{hostname}\n");
    let files: [(&'static str, &[u8]); 3] =
        [("/etc/hosts", hosts.as_bytes()), ("/etc/hostname", hostname_file.as_bytes()), ("/etc/resolv.conf", resolv)];
    let mut out = Vec::new();
    for (container_path, content) in files {
        let host = dir.join(container_path.trim_start_matches("/etc/"));
        fs::write(&host, content).map_err(|e| LinuxError::io("writing", &host, e))?;
        out.push((container_path, host));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_files_name_the_pod() {
        let tmp = tempfile::tempdir().expect("tmp");
        let files = write_etc_files(&tmp.path().join("etc"), "web-0", "10.42.0.7".parse().ok(), b"nameserver 10.43.0.10\n").expect("write");
        let paths: Vec<&str> = files.iter().map(|(c, _)| *c).collect();
        assert_eq!(paths, ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]);
        assert_eq!(fs::read_to_string(&files[1].1).expect("r"), "web-0\n");
        assert!(fs::read_to_string(&files[0].1).expect("r").ends_with("\n10.42.0.7\tweb-0\n"));
        assert_eq!(fs::read_to_string(&files[2].1).expect("r"), "nameserver 10.43.0.10\n");
        let offline = write_etc_files(&tmp.path().join("etc2"), "web-0", None, b"").expect("write");
        assert!(fs::read_to_string(&offline[0].1).expect("r").ends_with("\n127.0.0.1\tweb-0\n"));
    }

    #[test]
    fn hostnames_longer_than_the_kernel_allows_are_refused() {
        assert!(matches!(Holder::spawn(&"x".repeat(65)), Err(LinuxError::InvalidConfig(_))));
    }
}
