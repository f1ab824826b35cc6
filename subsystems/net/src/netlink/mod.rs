//! AF_NETLINK sockets (netlink(7)) for NETLINK_ROUTE (rtnetlink(7)): what
//! `ip addr`, `ip link` and `ip route` use to read and change the network
//! configuration.
//!
//! * [`msg`]: the wire format: `struct nlmsghdr` messages, their attributes
//!   (`struct rtattr`/`nlattr`), and building replies.
//! * [`route`]: the rtnetlink requests (RTM_GETLINK, RTM_NEWADDR,
//!   RTM_NEWROUTE...) answered from and applied to the stack's interfaces
//!   ([`crate::inet::Shared`]); the actor gives smoltcp the change.
//! * [`socket::NetlinkSocket`]: the socket: its port id, its queue of
//!   replies (datagrams), and the readiness poll, select and epoll see.
//!
//! The kernel answers a request while it is sent: replies (a dump whole,
//! packed into datagrams as Linux packs a dump's skbs) are queued before
//! sendmsg returns, so a receive never waits for the kernel. A queue that
//! would pass the receive buffer drops the reply and the next receive says
//! ENOBUFS, as Linux's netlink_overrun does.

pub mod msg;
pub mod route;
pub mod socket;

#[cfg(test)]
mod tests;

pub use socket::NetlinkSocket;

/// Netlink protocols (socket(2)'s third argument).
pub const NETLINK_ROUTE: u32 = 0;
/// Protocols are below this (MAX_LINKS); others are EPROTONOSUPPORT.
pub const MAX_LINKS: u32 = 32;

/// `struct sockaddr_nl`: family, pad, port id, groups (12 bytes).
pub const SOCKADDR_NL_LEN: usize = 12;

/// SOL_NETLINK socket options.
pub const SOL_NETLINK: i32 = 270;
pub const NETLINK_ADD_MEMBERSHIP: i32 = 1;
pub const NETLINK_DROP_MEMBERSHIP: i32 = 2;
pub const NETLINK_PKTINFO: i32 = 3;
pub const NETLINK_BROADCAST_ERROR: i32 = 4;
pub const NETLINK_NO_ENOBUFS: i32 = 5;
pub const NETLINK_LISTEN_ALL_NSID: i32 = 8;
pub const NETLINK_CAP_ACK: i32 = 10;
pub const NETLINK_EXT_ACK: i32 = 11;
pub const NETLINK_GET_STRICT_CHK: i32 = 12;

/// A `struct sockaddr_nl` for `portid` and `groups`.
pub fn sockaddr(portid: u32, groups: u32) -> [u8; SOCKADDR_NL_LEN] {
    let mut b = [0u8; SOCKADDR_NL_LEN];
    b[..2].copy_from_slice(&(kestrel_abi::net::AF_NETLINK as u16).to_ne_bytes());
    b[4..8].copy_from_slice(&portid.to_ne_bytes());
    b[8..12].copy_from_slice(&groups.to_ne_bytes());
    b
}

/// Parses a `struct sockaddr_nl`: (port id, groups). EINVAL for one shorter
/// than the struct or of another family (netlink_bind, netlink_connect).
pub fn parse_sockaddr(raw: &[u8]) -> kestrel_abi::KResult<(u32, u32)> {
    if raw.len() < SOCKADDR_NL_LEN {
        return Err(kestrel_abi::Errno::EINVAL);
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    if u32::from(family) != kestrel_abi::net::AF_NETLINK {
        return Err(kestrel_abi::Errno::EINVAL);
    }
    let pid = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
    let groups = u32::from_ne_bytes([raw[8], raw[9], raw[10], raw[11]]);
    Ok((pid, groups))
}
