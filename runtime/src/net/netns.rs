//! Network namespaces as values. A socket belongs to the namespace its
//! creating thread was in at `socket(2)` time and keeps it for life, so the
//! agent (which itself stays in the host namespace) makes sockets *inside* a
//! pod's or the node's namespace by switching the calling thread there for
//! the one system call, then hands the socket to tokio like any other.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use nix::sched::{setns, unshare, CloneFlags};
use socket2::{Domain, Protocol, Socket, Type};

/// The namespace file of the calling thread (not the process: threads can differ).
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// One network namespace, kept alive by the open file that names it.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// The calling thread's namespace.
    pub fn current() -> io::Result<Arc<NetNs>> {
        Self::open(Path::new(THREAD_NETNS))
    }

    /// A namespace named by a file: `/run/netns/NAME` or `/proc/PID/ns/net`.
    pub fn open(path: &Path) -> io::Result<Arc<NetNs>> {
        let file = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("opening network namespace {}: {e}", path.display())))?;
        Ok(Arc::new(NetNs { fd: file.into() }))
    }

    /// A new, empty namespace (only a loopback, still down) that lives as long as the
    /// returned value and whatever sockets or processes were made in it.
    pub fn new_anonymous() -> io::Result<Arc<NetNs>> {
        let home = Self::current()?;
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| io::Error::other(format!("creating a network namespace: {e}")))?;
        let created = Self::current();
        // Back home before anything else, whether or not the open worked.
        setns(home.fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| io::Error::other(format!("returning to the agent's network namespace: {e}")))?;
        created
    }

    /// Moves the calling thread into this namespace until the guard drops. Only for
    /// synchronous work: never hold the guard across an `.await`, or another task would
    /// run in the wrong namespace.
    pub fn enter(&self) -> io::Result<NetNsGuard> {
        let home = Self::current()?;
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| io::Error::other(format!("entering a network namespace: {e}")))?;
        Ok(NetNsGuard { home })
    }

    /// Runs `f` on the calling thread inside this namespace.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> io::Result<R> {
        let _inside = self.enter()?;
        Ok(f())
    }

    /// A listening TCP socket bound in this namespace (`SO_REUSEADDR`, non-blocking).
    /// Needs a tokio runtime.
    pub fn tcp_listener(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
        let socket = self.run(|| Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP)))??;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into()).map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
        socket.listen(1024)?;
        tokio::net::TcpListener::from_std(socket.into())
    }

    /// A UDP socket bound in this namespace. Needs a tokio runtime.
    pub fn udp_socket(&self, addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
        let socket = self.run(|| Socket::new(Domain::for_address(addr), Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP)))??;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into()).map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
        tokio::net::UdpSocket::from_std(socket.into())
    }

    /// A TCP connection made from inside this namespace.
    pub async fn tcp_connect(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
        let socket = self.run(|| Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP)))??;
        socket.set_tcp_nodelay(true)?;
        let std_stream: std::net::TcpStream = socket.into();
        let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
        socket.connect(addr).await
    }

    /// The same namespace as `other` (compares the namespace inodes).
    pub fn same_as(&self, other: &NetNs) -> bool {
        let id = |ns: &NetNs| nix::sys::stat::fstat(ns.fd.as_fd()).map(|s| (s.st_dev, s.st_ino)).ok();
        matches!((id(self), id(other)), (Some(a), Some(b)) if a == b)
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Returns the thread to the namespace it was in when dropped.
#[must_use = "the thread leaves the namespace when the guard drops"]
pub struct NetNsGuard {
    home: Arc<NetNs>,
}

impl Drop for NetNsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(self.home.fd.as_fd(), CloneFlags::CLONE_NEWNET) {
            // A thread stuck in a pod's namespace would put later sockets there: stop hard.
            tracing::error!(error = %e, "could not return a thread to its network namespace");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[tokio::test]
    async fn sockets_made_inside_a_namespace_stay_there() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let ns = NetNs::new_anonymous().expect("netns");
        assert!(!ns.same_as(&NetNs::current().expect("current")), "the new namespace is not the host's");
        // Bring its loopback up the way `ip` would, so 127.0.0.1 works in it.
        let up = std::process::Command::new("nsenter")
            .arg(format!("--net=/proc/{}/fd/{}", std::process::id(), std::os::fd::AsRawFd::as_raw_fd(&ns.fd)))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .expect("nsenter");
        assert!(up.success());
        let listener = ns.tcp_listener("127.0.0.1:0".parse().unwrap()).expect("listen");
        let addr = listener.local_addr().expect("addr");
        // From the host namespace the port is not there (nothing, or someone else's).
        let inside = tokio::spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
        let stream = ns.tcp_connect(addr).await.expect("connect inside");
        let peer = inside.await.expect("join").expect("accept");
        assert_eq!(stream.local_addr().expect("local"), peer);
        // The calling thread is back home.
        assert!(!ns.same_as(&NetNs::current().expect("current")));
    }
}
