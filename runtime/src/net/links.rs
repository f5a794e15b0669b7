//! The few netlink (rtnetlink) requests the pod network makes, on a
//! connection whose socket was created inside one namespace: a netlink socket,
//! like any socket, speaks for the namespace it was made in, so one
//! [`Netlink`] configures exactly one namespace.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec};

use super::netns::NetNs;
use super::NetError;

/// A route netlink connection into one namespace.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
}

fn failed(context: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let context = context.into();
    move |e| NetError::Setup { context, message: e.to_string() }
}

/// The error's errno (positive), when the kernel answered with one.
fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => Some(msg.raw_code().abs()),
        _ => None,
    }
}

impl Netlink {
    /// A connection made inside `ns`. The socket is created on this thread while
    /// it is in `ns`; the connection's driver runs as a task outside.
    pub fn open_in(ns: &NetNs) -> Result<Netlink, NetError> {
        let io = |context: &str| {
            let context = context.to_string();
            move |source| NetError::Io { context, source }
        };
        let (connection, handle, _) =
            ns.run(rtnetlink::new_connection).map_err(io("entering a network namespace"))?.map_err(io("opening a netlink socket"))?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// A connection in the calling thread's namespace.
    pub fn open_here() -> Result<Netlink, NetError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|source| NetError::Io { context: "opening a netlink socket".into(), source })?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The index of the interface `name`, if it exists.
    pub async fn index(&self, name: &str) -> Result<Option<u32>, NetError> {
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(link) => Ok(link.map(|l| l.header.index)),
            Err(e) if errno(&e) == Some(nix::libc::ENODEV) => Ok(None),
            Err(e) => Err(failed(format!("looking up interface {name}"))(e)),
        }
    }

    /// Every interface: `(index, name)`.
    pub async fn links(&self) -> Result<Vec<(u32, String)>, NetError> {
        let all: Vec<LinkMessage> = self.handle.link().get().execute().try_collect().await.map_err(failed("listing interfaces"))?;
        Ok(all
            .into_iter()
            .map(|link| {
                let name = link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(name) => Some(name.clone()),
                    _ => None,
                });
                (link.header.index, name.unwrap_or_default())
            })
            .collect())
    }

    /// `ip link set NAME up`.
    pub async fn set_up(&self, name: &str) -> Result<(), NetError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_name(name).up().build())
            .execute()
            .await
            .map_err(failed(format!("setting {name} up")))
    }

    /// `ip link add NAME type bridge && ip link set NAME up`; returns its index.
    pub async fn add_bridge(&self, name: &str) -> Result<u32, NetError> {
        self.handle.link().add(LinkBridge::new(name).up().build()).execute().await.map_err(failed(format!("creating bridge {name}")))?;
        self.index(name).await?.ok_or_else(|| NetError::Setup { context: format!("creating bridge {name}"), message: "it is not there".into() })
    }

    /// A veth pair in one request: `name` here, enslaved to `master` and up;
    /// its peer `peer` created directly inside `peer_ns`, still down (a peer set
    /// up in the same request fails with ENOTCONN: the pair is not linked yet).
    pub async fn add_veth(&self, name: &str, master: u32, peer: &str, peer_ns: &NetNs) -> Result<(), NetError> {
        let peer_message = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_fd(peer_ns.as_fd().as_raw_fd())
            .build();
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_string())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message)))
            .controller(master)
            .up()
            .build();
        self.handle.link().add(message).execute().await.map_err(failed(format!("creating veth pair {name}/{peer}")))
    }

    /// `ip link del NAME`; `false` when there was no such interface.
    pub async fn delete_link(&self, name: &str) -> Result<bool, NetError> {
        let request = self.handle.link().del_with_message(LinkUnspec::new_with_name(name).build());
        match request.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(nix::libc::ENODEV) => Ok(false),
            Err(e) => Err(failed(format!("deleting interface {name}"))(e)),
        }
    }

    /// `ip link del` by index; `false` when there was no such interface.
    pub async fn delete_index(&self, index: u32) -> Result<bool, NetError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(nix::libc::ENODEV) => Ok(false),
            Err(e) => Err(failed(format!("deleting interface {index}"))(e)),
        }
    }

    /// `ip addr add IP/PREFIX dev INDEX`.
    pub async fn add_address(&self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<(), NetError> {
        self.handle
            .address()
            .add(index, ip.into(), prefix)
            .replace()
            .execute()
            .await
            .map_err(failed(format!("adding address {ip}/{prefix}")))
    }

    /// `ip route replace ...` (or `add` when `replace` is false).
    pub async fn add_route(&self, route: RouteMessage, what: &str) -> Result<(), NetError> {
        self.handle.route().add(route).replace().execute().await.map_err(failed(format!("adding route {what}")))
    }

    /// `ip route del ...`; `false` when there was no such route.
    pub async fn delete_route(&self, route: RouteMessage, what: &str) -> Result<bool, NetError> {
        match self.handle.route().del(route).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(nix::libc::ESRCH) => Ok(false),
            Err(e) => Err(failed(format!("deleting route {what}"))(e)),
        }
    }
}
