//! Listening sockets for WASI preview 1 modules.
//!
//! Preview 1 has no `socket`, `bind` or `listen`: a module can only accept connections on
//! listening sockets its host opened and handed over as preopened descriptors. wasmtime-wasi 48
//! implements preview 1 over preview 2 and has no sockets at all (its `sock_*` return ENOSYS, and
//! `wasmtime run -S tcplisten` needs the legacy wasi-common implementation), so this module adds
//! them in front of it: [`linker::shadow`] redefines every preview 1 function that takes a file
//! descriptor, resolves the guest's descriptor through a [`FdTable`], serves the sockets itself
//! and passes everything else to wasmtime-wasi with the descriptor it knows.
//!
//! Descriptors a module sees, stable and documented (systemd's socket activation):
//!
//! | fd | what |
//! | --- | --- |
//! | 0, 1, 2 | stdin, stdout, stderr |
//! | 3 .. 3+n-1 | one listening TCP socket per declared TCP containerPort, bound to `0.0.0.0:port` in the pod's namespace, in the order of the pod spec; `LISTEN_FDS=n` and `LISTEN_FDNAMES` (port names, or the numbers, `:`-separated) say so |
//! | 3+n .. | the preopened directories (volume mounts), then whatever the guest opens or accepts (lowest free number) |
//!
//! `fd_prestat_get` on a socket answers with a preopen type other than "directory", which
//! wasi-libc and Go skip while they look for preopened directories after it (EBADF would end
//! their scan at fd 3 and hide every mount). A module without sockets gets the descriptors of
//! wasmtime-wasi unchanged: the table is only built when there are listeners.

pub mod abi;
pub mod linker;
pub mod poll;
pub mod socket;

use std::collections::BTreeMap;

use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi::p1::types::Errno;

/// The environment that tells a module about its sockets.
pub fn listen_env(ports: &[(u16, Option<String>)]) -> Vec<(String, String)> {
    if ports.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = ports.iter().map(|(port, name)| name.clone().unwrap_or_else(|| port.to_string())).collect();
    vec![("LISTEN_FDS".into(), ports.len().to_string()), ("LISTEN_FDNAMES".into(), names.join(":"))]
}

/// What a guest descriptor names.
#[derive(Debug)]
pub enum Slot {
    /// A descriptor of wasmtime-wasi's own table.
    Inner(u32),
    Listener(Box<Listener>),
    Stream(Box<Stream>),
}

#[derive(Debug)]
pub struct Listener {
    pub socket: TcpListener,
    pub nonblocking: bool,
    /// A connection taken off the queue by `poll_oneoff` (readiness of a listener can only be
    /// learnt by accepting), handed out by the next `sock_accept`.
    pub waiting: Option<TcpStream>,
}

#[derive(Debug)]
pub struct Stream {
    pub socket: TcpStream,
    pub nonblocking: bool,
}

/// Where a guest descriptor leads.
pub enum Target<'a> {
    Inner(u32),
    Socket(&'a mut Slot),
    Bad,
}

/// The guest's descriptors when it holds sockets; `None` when it has none and every descriptor
/// is wasmtime-wasi's own.
#[derive(Debug, Default)]
pub struct P1Net {
    table: Option<FdTable>,
}

#[derive(Debug)]
pub struct FdTable {
    slots: BTreeMap<u32, Slot>,
}

impl P1Net {
    /// `listeners` go to fds 3..; `preopens` is how many directories wasmtime-wasi preopened
    /// (its fds 3.., which the guest sees after the sockets).
    pub fn new(listeners: Vec<TcpListener>, preopens: u32) -> Self {
        if listeners.is_empty() {
            return P1Net { table: None };
        }
        let mut slots = BTreeMap::new();
        for fd in 0..3 {
            slots.insert(fd, Slot::Inner(fd));
        }
        let mut next = 3;
        for socket in listeners {
            slots.insert(next, Slot::Listener(Box::new(Listener { socket, nonblocking: false, waiting: None })));
            next += 1;
        }
        for inner in 3..3 + preopens {
            slots.insert(next, Slot::Inner(inner));
            next += 1;
        }
        P1Net { table: Some(FdTable { slots }) }
    }

    pub fn is_mapped(&self) -> bool {
        self.table.is_some()
    }

    pub fn resolve(&mut self, fd: i32) -> Target<'_> {
        let Ok(fd) = u32::try_from(fd) else { return Target::Bad };
        match &mut self.table {
            None => Target::Inner(fd),
            Some(table) => match table.slots.get_mut(&fd) {
                None => Target::Bad,
                Some(Slot::Inner(inner)) => Target::Inner(*inner),
                Some(slot) => Target::Socket(slot),
            },
        }
    }

    /// The guest's number for a descriptor wasmtime-wasi just opened.
    pub fn adopt_inner(&mut self, inner: u32) -> u32 {
        match &mut self.table {
            None => inner,
            Some(table) => table.insert(Slot::Inner(inner)),
        }
    }

    /// Gives `slot` the lowest free descriptor. Only sockets that came from a listener are
    /// added, so the table exists.
    pub fn insert(&mut self, slot: Slot) -> u32 {
        self.table.get_or_insert_with(|| FdTable { slots: BTreeMap::new() }).insert(slot)
    }

    /// Removes a descriptor from the table (`fd_close`), returning what it named.
    pub fn remove(&mut self, fd: i32) -> Option<Slot> {
        let fd = u32::try_from(fd).ok()?;
        self.table.as_mut()?.slots.remove(&fd)
    }

    /// Moves `from` to `to` (`fd_renumber`); returns what `to` named before, for the caller to
    /// close. EBADF if `from` is not open.
    pub fn renumber(&mut self, from: i32, to: i32) -> Result<Option<Slot>, Errno> {
        let (Ok(from), Ok(to)) = (u32::try_from(from), u32::try_from(to)) else { return Err(Errno::Badf) };
        let table = self.table.as_mut().ok_or(Errno::Badf)?;
        if !table.slots.contains_key(&from) {
            return Err(Errno::Badf);
        }
        if from == to {
            return Ok(None);
        }
        let moved = table.slots.remove(&from).ok_or(Errno::Badf)?;
        Ok(table.slots.insert(to, moved))
    }
}

impl FdTable {
    fn insert(&mut self, slot: Slot) -> u32 {
        let mut fd = 0;
        for used in self.slots.keys() {
            if *used != fd {
                break;
            }
            fd += 1;
        }
        self.slots.insert(fd, slot);
        fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_ports_in_order() {
        assert!(listen_env(&[]).is_empty());
        let env = listen_env(&[(8080, Some("http".into())), (9090, None)]);
        assert_eq!(env, vec![("LISTEN_FDS".into(), "2".into()), ("LISTEN_FDNAMES".into(), "http:9090".into())]);
    }

    #[tokio::test]
    async fn sockets_come_first_then_preopens_then_the_lowest_free_number() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut net = P1Net::new(vec![listener], 2);
        assert!(matches!(net.resolve(1), Target::Inner(1)));
        assert!(matches!(net.resolve(3), Target::Socket(Slot::Listener(_))));
        assert!(matches!(net.resolve(4), Target::Inner(3)));
        assert!(matches!(net.resolve(5), Target::Inner(4)));
        assert!(matches!(net.resolve(6), Target::Bad));
        assert!(matches!(net.resolve(-1), Target::Bad));
        assert_eq!(net.adopt_inner(5), 6);
        assert!(net.remove(4).is_some());
        assert_eq!(net.adopt_inner(7), 4, "the lowest free number is reused");
        assert!(matches!(net.renumber(6, 4), Ok(Some(Slot::Inner(7)))));
        assert!(matches!(net.resolve(4), Target::Inner(5)));
        assert!(net.renumber(6, 4).is_err(), "6 is gone");
    }

    #[test]
    fn without_sockets_every_descriptor_is_passed_through() {
        let mut net = P1Net::new(Vec::new(), 3);
        assert!(!net.is_mapped());
        assert!(matches!(net.resolve(42), Target::Inner(42)));
        assert_eq!(net.adopt_inner(9), 9);
    }
}
