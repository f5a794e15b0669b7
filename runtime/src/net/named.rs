//! Named network namespaces, made the way `ip netns add` makes them: a
//! namespace file bind-mounted at `/run/netns/NAME`, so `ip netns` lists it,
//! `ip netns exec` enters it and it outlives no one by accident: the mount is
//! what keeps it, and removing the mount (with our own handles closed) ends it.
//!
//! Node namespaces are named `wasmkube-<pid>-<node>`: the pid of the process
//! that owns it lets `wasmkube cleanup` tell a crashed server's namespace from
//! a running one's.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::netns::NetNs;

/// Where `ip netns` keeps its namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// The prefix of every node namespace this project makes.
pub const NODE_PREFIX: &str = "wasmkube-";

/// The name of the node namespace of `node` owned by process `pid`.
pub fn node_netns_name(pid: u32, node: &str) -> String {
    format!("{NODE_PREFIX}{pid}-{node}")
}

/// The owner pid in a node namespace name (`wasmkube-<pid>-<node>`).
pub fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(NODE_PREFIX)?.split_once('-')?.0.parse().ok()
}

/// Whether process `pid` exists.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn sys(context: String) -> impl FnOnce(Errno) -> io::Error {
    move |e| io::Error::new(io::Error::from(e).kind(), format!("{context}: {e}"))
}

/// Makes `/run/netns` a shared mount point, as `ip netns add` does, so a
/// namespace mounted there is visible in mount namespaces made later.
fn prepare_dir() -> io::Result<()> {
    fs::create_dir_all(NETNS_DIR)?;
    let shared = || mount(None::<&str>, NETNS_DIR, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match shared() {
        Ok(()) => Ok(()),
        // Not a mount point yet: bind it onto itself first.
        Err(Errno::EINVAL) => {
            mount(Some(NETNS_DIR), NETNS_DIR, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(sys(format!("bind-mounting {NETNS_DIR} onto itself")))?;
            shared().map_err(sys(format!("making {NETNS_DIR} a shared mount")))
        }
        Err(e) => Err(sys(format!("making {NETNS_DIR} a shared mount"))(e)),
    }
}

/// Creates the named namespace `name` (replacing a stale one of that name) and
/// returns a handle to it.
pub fn create(name: &str) -> io::Result<Arc<NetNs>> {
    prepare_dir()?;
    delete(name)?;
    let path = path_of(name);
    OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))?;
    let created = NetNs::new_anonymous().and_then(|ns| {
        let source = format!("/proc/self/fd/{}", ns.as_fd().as_raw_fd());
        mount(Some(source.as_str()), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(sys(format!("bind-mounting the namespace on {}", path.display())))?;
        Ok(ns)
    });
    if created.is_err() {
        let _ = fs::remove_file(&path);
    }
    created
}

/// Removes the named namespace `name`; nothing to do when it is not there.
pub fn delete(name: &str) -> io::Result<()> {
    let path = path_of(name);
    if !path.exists() {
        return Ok(());
    }
    match umount2(&path, MntFlags::MNT_DETACH) {
        // EINVAL: not mounted (a half-made or already unmounted one).
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(sys(format!("unmounting {}", path.display()))(e)),
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("removing {}: {e}", path.display()))),
    }
}

/// Every node namespace on this host: `(name, owner pid)`.
pub fn node_namespaces() -> Vec<(String, Option<u32>)> {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else { return Vec::new() };
    let mut out: Vec<(String, Option<u32>)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with(NODE_PREFIX))
        .map(|name| {
            let pid = owner_pid(&name);
            (name, pid)
        })
        .collect();
    out.sort();
    out
}

/// Whether a node namespace of a live process other than `except` exists.
pub fn other_live_node(except: Option<&str>) -> bool {
    node_namespaces()
        .into_iter()
        .any(|(name, pid)| Some(name.as_str()) != except && pid.is_some_and(process_alive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner_pid() {
        let name = node_netns_name(4242, "edge-1");
        assert_eq!(name, "wasmkube-4242-edge-1");
        assert_eq!(owner_pid(&name), Some(4242));
        assert_eq!(owner_pid("wasmkube-x-edge"), None);
        assert_eq!(owner_pid("other-1-x"), None);
    }
}
