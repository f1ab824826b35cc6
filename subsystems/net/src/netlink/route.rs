//! NETLINK_ROUTE (rtnetlink(7)): links, addresses and routes, read from and
//! written to the stack's interfaces ([`Shared`]).
//!
//! Requests are answered as Linux's rtnetlink_rcv_msg answers them: a GET
//! with NLM_F_DUMP gets every object as an RTM_NEW* message (NLM_F_MULTI)
//! and NLMSG_DONE, and no acknowledgement; any other request gets its reply
//! (a GET) and an NLMSG_ERROR when it failed or NLM_F_ACK asked for one.
//! Changes need CAP_NET_ADMIN (EPERM).
//!
//! What the interfaces cannot do is refused, not pretended: creating or
//! deleting links, renaming them, changing the MTU, route tables other than
//! main, route types other than unicast (EOPNOTSUPP).

use alloc::string::String;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv6Address};

use super::msg::*;
use crate::inet::{IfaceInfo, RouteSpec, Shared};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
/// The last rtnetlink message type Linux knows (RTM_MAX, 6.x).
pub const RTM_MAX: u16 = 123;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// `struct ifinfomsg`, `struct ifaddrmsg`, `struct rtmsg` sizes.
pub const IFINFOMSG_LEN: usize = 16;
pub const IFADDRMSG_LEN: usize = 8;
pub const RTMSG_LEN: usize = 12;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_BROADCAST: u16 = 2;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_QDISC: u16 = 6;
pub const IFLA_STATS: u16 = 7;
pub const IFLA_TXQLEN: u16 = 13;
pub const IFLA_OPERSTATE: u16 = 16;
pub const IFLA_LINKMODE: u16 = 17;
pub const IFLA_STATS64: u16 = 23;
pub const IFLA_GROUP: u16 = 27;
pub const IFLA_PROMISCUITY: u16 = 30;
pub const IFLA_NUM_TX_QUEUES: u16 = 31;
pub const IFLA_NUM_RX_QUEUES: u16 = 32;
pub const IFLA_CARRIER: u16 = 33;
pub const IFLA_CARRIER_CHANGES: u16 = 35;
pub const IFLA_MIN_MTU: u16 = 50;
pub const IFLA_MAX_MTU: u16 = 51;

pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_CACHEINFO: u16 = 6;
pub const IFA_FLAGS: u16 = 8;
pub const IFA_F_SECONDARY: u32 = 0x01;
pub const IFA_F_PERMANENT: u32 = 0x80;

/// Whether the address `c` of `f` is secondary: an earlier IPv4 address of
/// the interface is on the same subnet (Linux makes the later one
/// secondary and gives the subnet one route, from the primary).
fn secondary(f: &IfaceInfo, c: IpCidr) -> bool {
    matches!(c, IpCidr::Ipv4(_))
        && f.addrs
            .iter()
            .take_while(|x| **x != c)
            .any(|x| matches!(x, IpCidr::Ipv4(_)) && network(*x) == network(c))
}

pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_PREFSRC: u16 = 7;
pub const RTA_TABLE: u16 = 15;

pub const RT_TABLE_UNSPEC: u8 = 0;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RT_TABLE_LOCAL: u8 = 255;
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_BOOT: u8 = 3;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
/// rtm_flags of a route `ip route get` computed.
pub const RTM_F_CLONED: u32 = 0x200;

pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_MULTICAST: u32 = 0x1000;
pub const IFF_LOWER_UP: u32 = 0x10000;

pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;

const IF_OPER_UNKNOWN: u8 = 0;
const IF_OPER_DOWN: u8 = 2;
const IF_OPER_UP: u8 = 6;

/// The most bytes of messages one datagram of a dump carries: Linux's
/// NLMSG_GOODSIZE (a page less the skb's shared info), the size of a
/// dump's first skb.
pub const DUMP_CHUNK: usize = 3776;

/// An interface's flags as SIOCGIFFLAGS and RTM_NEWLINK give them: RUNNING
/// and LOWER_UP only while it is up (dev_get_flags).
pub fn link_flags(f: &IfaceInfo) -> u32 {
    let mut fl = if f.loopback() {
        IFF_LOOPBACK
    } else {
        IFF_BROADCAST | IFF_MULTICAST
    };
    if f.up {
        fl |= IFF_UP | IFF_RUNNING | IFF_LOWER_UP;
    }
    fl
}

/// operstate as /sys/class/net/IF/operstate names it.
pub fn operstate_name(f: &IfaceInfo) -> &'static str {
    match operstate(f) {
        IF_OPER_UP => "up",
        IF_OPER_DOWN => "down",
        _ => "unknown",
    }
}

fn operstate(f: &IfaceInfo) -> u8 {
    if !f.up {
        IF_OPER_DOWN
    } else if f.loopback() {
        // Loopback has no carrier to report: "unknown", as on Linux.
        IF_OPER_UNKNOWN
    } else {
        IF_OPER_UP
    }
}

/// An address's scope: host for loopback, link for fe80::/10.
fn addr_scope(a: IpAddress) -> u8 {
    match a {
        IpAddress::Ipv4(x) if x.is_loopback() => RT_SCOPE_HOST,
        IpAddress::Ipv6(x) if x.is_loopback() => RT_SCOPE_HOST,
        IpAddress::Ipv6(x) if x.octets()[0] == 0xfe && x.octets()[1] & 0xc0 == 0x80 => {
            RT_SCOPE_LINK
        }
        _ => RT_SCOPE_UNIVERSE,
    }
}

fn family_of(a: IpAddress) -> u8 {
    match a {
        IpAddress::Ipv4(_) => AF_INET,
        IpAddress::Ipv6(_) => AF_INET6,
    }
}

fn addr_bytes(a: IpAddress) -> Vec<u8> {
    match a {
        IpAddress::Ipv4(x) => x.octets().to_vec(),
        IpAddress::Ipv6(x) => x.octets().to_vec(),
    }
}

/// The network of `c` (its address with the host bits cleared).
pub fn network(c: IpCidr) -> IpCidr {
    match c {
        IpCidr::Ipv4(c4) => IpCidr::Ipv4(c4.network()),
        IpCidr::Ipv6(c6) => {
            let mut o = c6.address().octets();
            let p = usize::from(c6.prefix_len());
            for (i, b) in o.iter_mut().enumerate() {
                let keep = p.saturating_sub(i * 8).min(8);
                *b &= (0xff00u16 >> keep) as u8;
            }
            IpCidr::new(IpAddress::Ipv6(Ipv6Address::from(o)), c6.prefix_len())
        }
    }
}

/// An address of `family` from an attribute's payload (EINVAL if it is not
/// the family's length).
fn parse_addr(family: u8, p: &[u8]) -> KResult<IpAddress> {
    match (family, p.len()) {
        (AF_INET, 4) => Ok(IpAddress::Ipv4(Ipv4Address::new(p[0], p[1], p[2], p[3]))),
        (AF_INET6, 16) => {
            let o: [u8; 16] = p.try_into().map_err(|_| Errno::EINVAL)?;
            Ok(IpAddress::Ipv6(Ipv6Address::from(o)))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// RTM_NEWLINK for `f`.
pub fn link_message(f: &IfaceInfo, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
    use core::sync::atomic::Ordering::Relaxed;
    let mut b = Builder::new(RTM_NEWLINK, flags, seq, pid);
    let mut ifi = [0u8; IFINFOMSG_LEN];
    let ty = if f.loopback() {
        ARPHRD_LOOPBACK
    } else {
        ARPHRD_ETHER
    };
    ifi[2..4].copy_from_slice(&ty.to_ne_bytes());
    ifi[4..8].copy_from_slice(&(f.index as i32).to_ne_bytes());
    ifi[8..12].copy_from_slice(&link_flags(f).to_ne_bytes());
    b.put(&ifi);
    b.attr_str(IFLA_IFNAME, &f.name)
        .attr_u32(IFLA_TXQLEN, 1000)
        .attr_u8(IFLA_OPERSTATE, operstate(f))
        .attr_u8(IFLA_LINKMODE, 0)
        .attr_u32(IFLA_MTU, f.mtu as u32)
        .attr_u32(IFLA_MIN_MTU, if f.loopback() { 0 } else { 68 })
        .attr_u32(IFLA_MAX_MTU, if f.loopback() { 0 } else { f.mtu as u32 })
        .attr_u32(IFLA_GROUP, 0)
        .attr_u32(IFLA_PROMISCUITY, 0)
        .attr_u32(IFLA_NUM_TX_QUEUES, 1)
        .attr_u32(IFLA_NUM_RX_QUEUES, 1)
        .attr_u8(IFLA_CARRIER, u8::from(f.up))
        .attr_str(
            IFLA_QDISC,
            if f.loopback() {
                "noqueue"
            } else {
                "pfifo_fast"
            },
        )
        .attr_u32(IFLA_CARRIER_CHANGES, 0);
    let mac = f.mac.unwrap_or([0; 6]);
    let brd = if f.loopback() { [0; 6] } else { [0xff; 6] };
    b.attr(IFLA_ADDRESS, &mac).attr(IFLA_BROADCAST, &brd);
    // struct rtnl_link_stats64 and rtnl_link_stats: rx/tx packets, rx/tx
    // bytes, rx/tx errors, rx/tx dropped, then counters Kestrel keeps none of.
    let l = &f.link;
    let head = [
        l.rx_frames.load(Relaxed),
        l.tx_frames.load(Relaxed),
        l.rx_bytes.load(Relaxed),
        l.tx_bytes.load(Relaxed),
        0,
        l.tx_errors.load(Relaxed),
        l.rx_dropped.load(Relaxed),
        0,
    ];
    let mut s64 = Vec::with_capacity(24 * 8);
    let mut s32 = Vec::with_capacity(24 * 4);
    for i in 0..24 {
        let v = head.get(i).copied().unwrap_or(0);
        s64.extend_from_slice(&v.to_ne_bytes());
        s32.extend_from_slice(&(v as u32).to_ne_bytes());
    }
    b.attr(IFLA_STATS64, &s64).attr(IFLA_STATS, &s32);
    b.finish()
}

/// RTM_NEWADDR for the address `c` of `f`.
pub fn addr_message(f: &IfaceInfo, c: IpCidr, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
    let a = c.address();
    let mut b = Builder::new(RTM_NEWADDR, flags, seq, pid);
    let mut ifa = [0u8; IFADDRMSG_LEN];
    ifa[0] = family_of(a);
    ifa[1] = c.prefix_len();
    let flags = IFA_F_PERMANENT | if secondary(f, c) { IFA_F_SECONDARY } else { 0 };
    ifa[2] = flags as u8;
    ifa[3] = addr_scope(a);
    ifa[4..8].copy_from_slice(&f.index.to_ne_bytes());
    b.put(&ifa);
    let bytes = addr_bytes(a);
    b.attr(IFA_ADDRESS, &bytes);
    if let IpCidr::Ipv4(c4) = c {
        b.attr(IFA_LOCAL, &bytes);
        if !f.loopback()
            && let Some(brd) = c4.broadcast()
        {
            b.attr(IFA_BROADCAST, &brd.octets());
        }
        b.attr_str(IFA_LABEL, &f.name);
    }
    b.attr_u32(IFA_FLAGS, flags);
    // struct ifa_cacheinfo: preferred and valid lifetimes (forever), the
    // creation and update times (hundredths of a second since boot).
    let mut ci = [0u8; 16];
    ci[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
    ci[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    b.attr(IFA_CACHEINFO, &ci);
    b.finish()
}

/// A route as the dumps and /proc/net/route show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub dst: IpCidr,
    pub gateway: Option<IpAddress>,
    pub oif: u32,
    pub ifname: String,
    pub table: u8,
    pub protocol: u8,
    pub scope: u8,
    pub rtype: u8,
    pub prefsrc: Option<IpAddress>,
    pub priority: Option<u32>,
}

/// Every route of the up interfaces, as Linux's tables hold them: in main,
/// each address's subnet (proto kernel, scope link; IPv6 metric 256), the
/// static routes and the default routes (proto boot, as `ip route add`
/// makes them; IPv6 metric 1024); in local, each address itself (and lo's
/// whole 127.0.0.0/8).
pub fn routes(ifs: &[IfaceInfo]) -> Vec<RouteEntry> {
    let mut out = Vec::new();
    let entry = |f: &IfaceInfo, dst: IpCidr| RouteEntry {
        dst,
        gateway: None,
        oif: f.index,
        ifname: f.name.clone(),
        table: RT_TABLE_MAIN,
        protocol: RTPROT_KERNEL,
        scope: RT_SCOPE_LINK,
        rtype: RTN_UNICAST,
        prefsrc: None,
        priority: None,
    };
    for f in ifs.iter().filter(|f| f.up) {
        for &c in &f.addrs {
            let v6 = matches!(c, IpCidr::Ipv6(_));
            // lo's IPv4 subnet is all local (below); its IPv6 one is in main.
            if (f.loopback() && !v6) || secondary(f, c) {
                continue;
            }
            let mut e = entry(f, network(c));
            if v6 {
                e.scope = RT_SCOPE_UNIVERSE;
                e.priority = Some(256);
            } else {
                e.prefsrc = Some(c.address());
            }
            out.push(e);
        }
        for r in &f.routes {
            let mut e = entry(f, r.dst);
            e.gateway = r.gateway;
            e.protocol = RTPROT_BOOT;
            e.scope = if r.gateway.is_some() {
                RT_SCOPE_UNIVERSE
            } else {
                RT_SCOPE_LINK
            };
            if matches!(r.dst, IpCidr::Ipv6(_)) {
                e.priority = Some(1024);
            }
            out.push(e);
        }
        if let Some(g) = f.gateway4 {
            let mut e = entry(f, IpCidr::new(IpAddress::v4(0, 0, 0, 0), 0));
            e.gateway = Some(IpAddress::Ipv4(g));
            e.protocol = RTPROT_BOOT;
            e.scope = RT_SCOPE_UNIVERSE;
            out.push(e);
        }
        if let Some(g) = f.gateway6 {
            let mut e = entry(f, IpCidr::new(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 0), 0));
            e.gateway = Some(IpAddress::Ipv6(g));
            e.protocol = RTPROT_BOOT;
            e.scope = RT_SCOPE_UNIVERSE;
            e.priority = Some(1024);
            out.push(e);
        }
    }
    for f in ifs.iter().filter(|f| f.up) {
        for &c in &f.addrs {
            let a = c.address();
            let v6 = matches!(c, IpCidr::Ipv6(_));
            let local = |dst: IpCidr| {
                let mut e = entry(f, dst);
                e.table = RT_TABLE_LOCAL;
                e.scope = RT_SCOPE_HOST;
                e.rtype = RTN_LOCAL;
                if v6 {
                    e.priority = Some(0);
                } else {
                    e.prefsrc = Some(a);
                }
                e
            };
            if f.loopback() && !v6 {
                out.push(local(network(c)));
            }
            out.push(local(IpCidr::new(a, if v6 { 128 } else { 32 })));
        }
    }
    out
}

/// RTM_NEWROUTE for `r`.
pub fn route_message(r: &RouteEntry, flags: u16, seq: u32, pid: u32, rtm_flags: u32) -> Vec<u8> {
    let mut b = Builder::new(RTM_NEWROUTE, flags, seq, pid);
    let mut rtm = [0u8; RTMSG_LEN];
    rtm[0] = family_of(r.dst.address());
    rtm[1] = r.dst.prefix_len();
    rtm[4] = r.table;
    rtm[5] = r.protocol;
    rtm[6] = r.scope;
    rtm[7] = r.rtype;
    rtm[8..12].copy_from_slice(&rtm_flags.to_ne_bytes());
    b.put(&rtm);
    b.attr_u32(RTA_TABLE, u32::from(r.table));
    if let Some(p) = r.priority {
        b.attr_u32(RTA_PRIORITY, p);
    }
    if r.dst.prefix_len() > 0 {
        b.attr(RTA_DST, &addr_bytes(r.dst.address()));
    }
    if let Some(s) = r.prefsrc {
        b.attr(RTA_PREFSRC, &addr_bytes(s));
    }
    if let Some(g) = r.gateway {
        b.attr(RTA_GATEWAY, &addr_bytes(g));
    }
    b.attr_u32(RTA_OIF, r.oif);
    b.finish()
}

/// What a request produced.
enum Answer {
    /// Nothing besides the acknowledgement.
    Done,
    /// One reply message (a GET of one object).
    Reply(Vec<u8>),
    /// The messages of a dump (NLMSG_DONE follows).
    Dump(Vec<Vec<u8>>),
}

/// Handles the messages of one send from `portid`; `admin` is whether the
/// sender has CAP_NET_ADMIN. Returns the datagrams to queue, in order.
pub fn handle(shared: &Shared, portid: u32, data: &[u8], admin: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    handle_each(shared, portid, data, admin, &mut |d| {
        out.push(d);
        true
    });
    out
}

/// [`handle`], giving each datagram to `emit` as soon as it is made, so a
/// send of many small requests never holds more than one answer in the
/// kernel; `emit` returning false (the receiver is full) stops the batch.
pub fn handle_each(
    shared: &Shared,
    portid: u32,
    data: &[u8],
    admin: bool,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) {
    for (h, body) in Messages::new(data) {
        let mut out = Vec::new();
        let mut err = 0;
        let mut dumped = false;
        // Replies and acknowledgements are only for requests; control
        // messages (below NLMSG_MIN_TYPE) are acknowledged if asked.
        if h.flags & NLM_F_REQUEST != 0 && h.ty >= NLMSG_MIN_TYPE {
            match request(shared, &h, body, admin, portid) {
                Ok(Answer::Done) => {}
                Ok(Answer::Reply(m)) => out.push(m),
                Ok(Answer::Dump(msgs)) => {
                    pack(&mut out, msgs, done(h.seq, portid));
                    dumped = true;
                }
                Err(e) => err = e as i32,
            }
        }
        if !dumped && (h.flags & NLM_F_ACK != 0 || err != 0) {
            out.push(error(&h, body, err, portid));
        }
        for d in out {
            if !emit(d) {
                return;
            }
        }
    }
}

/// Packs a dump's messages and its NLMSG_DONE into datagrams of at most
/// [`DUMP_CHUNK`] bytes (a message larger than that alone).
fn pack(out: &mut Vec<Vec<u8>>, msgs: Vec<Vec<u8>>, done: Vec<u8>) {
    let mut cur: Vec<u8> = Vec::new();
    for m in msgs.into_iter().chain(core::iter::once(done)) {
        if !cur.is_empty() && cur.len() + m.len() > DUMP_CHUNK {
            out.push(core::mem::take(&mut cur));
        }
        cur.extend_from_slice(&m);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

/// The interface a link request names: by index if positive, else by
/// IFLA_IFNAME (ENODEV if there is no such interface, EINVAL if neither).
fn find_link<'a>(ifs: &'a [IfaceInfo], body: &[u8]) -> KResult<&'a IfaceInfo> {
    let index = i32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
    let attrs = &body[IFINFOMSG_LEN..];
    if index > 0 {
        return ifs
            .iter()
            .find(|f| f.index == index as u32)
            .ok_or(Errno::ENODEV);
    }
    let name = attr(attrs, IFLA_IFNAME).ok_or(Errno::EINVAL)?;
    let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
    ifs.iter()
        .find(|f| f.name.as_bytes() == name)
        .ok_or(Errno::ENODEV)
}

fn request(shared: &Shared, h: &Header, body: &[u8], admin: bool, portid: u32) -> KResult<Answer> {
    if h.ty > RTM_MAX {
        return Err(Errno::EOPNOTSUPP);
    }
    // The message kind: NEW, DEL, GET, SET in each group of four.
    let get = (h.ty - NLMSG_MIN_TYPE) % 4 == 2;
    let family = body.first().copied().unwrap_or(AF_UNSPEC);
    let multi = NLM_F_MULTI;
    if get && h.flags & NLM_F_DUMP != 0 {
        let ifs = shared.interfaces();
        let want = |a: IpAddress| family == AF_UNSPEC || family == family_of(a) || !ip(family);
        let msgs = match h.ty {
            RTM_GETLINK => ifs
                .iter()
                .map(|f| link_message(f, multi, h.seq, portid))
                .collect(),
            RTM_GETADDR => ifs
                .iter()
                .flat_map(|f| {
                    f.addrs
                        .iter()
                        .filter(|c| want(c.address()))
                        .map(|&c| addr_message(f, c, multi, h.seq, portid))
                        .collect::<Vec<_>>()
                })
                .collect(),
            RTM_GETROUTE => routes(&ifs)
                .iter()
                .filter(|r| want(r.dst.address()))
                .map(|r| route_message(r, multi, h.seq, portid, 0))
                .collect(),
            // Neighbours, rules, qdiscs...: Kestrel has none to show.
            _ => Vec::new(),
        };
        return Ok(Answer::Dump(msgs));
    }
    if !get && !admin {
        return Err(Errno::EPERM);
    }
    match h.ty {
        RTM_GETLINK | RTM_NEWLINK | RTM_SETLINK | RTM_DELLINK => {
            if body.len() < IFINFOMSG_LEN {
                return Err(Errno::EINVAL);
            }
            let ifs = shared.interfaces();
            let found = find_link(&ifs, body);
            match h.ty {
                RTM_GETLINK => Ok(Answer::Reply(link_message(found?, 0, h.seq, portid))),
                RTM_DELLINK => {
                    found?;
                    Err(Errno::EOPNOTSUPP)
                }
                _ => {
                    let f = match found {
                        // Creating a link needs a kind (IFLA_LINKINFO) Kestrel
                        // has none of.
                        Err(Errno::ENODEV) if h.flags & NLM_F_CREATE != 0 => {
                            return Err(Errno::EOPNOTSUPP);
                        }
                        r => r?,
                    };
                    set_link(shared, f, body)
                }
            }
        }
        RTM_NEWADDR | RTM_DELADDR => {
            if body.len() < IFADDRMSG_LEN {
                return Err(Errno::EINVAL);
            }
            change_addr(shared, h, body)
        }
        RTM_NEWROUTE | RTM_DELROUTE => {
            if body.len() < RTMSG_LEN {
                return Err(Errno::EINVAL);
            }
            change_route(shared, h, body)
        }
        RTM_GETROUTE => {
            if body.len() < RTMSG_LEN {
                return Err(Errno::EINVAL);
            }
            get_route(shared, h, body, portid)
        }
        // No doit for these (GETADDR without NLM_F_DUMP included).
        _ => Err(Errno::EOPNOTSUPP),
    }
}

fn ip(family: u8) -> bool {
    family == AF_INET || family == AF_INET6
}

/// RTM_NEWLINK/RTM_SETLINK on an existing link: IFF_UP through ifi_flags
/// and ifi_change (a zero change mask means every flag, as Linux's
/// rtnl_dev_combine_flags), the MTU; the name may only be what it is.
fn set_link(shared: &Shared, f: &IfaceInfo, body: &[u8]) -> KResult<Answer> {
    let flags = u32::from_ne_bytes([body[8], body[9], body[10], body[11]]);
    let change = u32::from_ne_bytes([body[12], body[13], body[14], body[15]]);
    let attrs = &body[IFINFOMSG_LEN..];
    if let Some(m) = attr_u32(attrs, IFLA_MTU)?
        && m as usize != f.mtu
    {
        shared.set_mtu(f.index, m as i32)?;
    }
    if let Some(n) = attr(attrs, IFLA_IFNAME) {
        let n = n.split(|&b| b == 0).next().unwrap_or(&[]);
        if n != f.name.as_bytes() {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    let up = if change != 0 {
        if change & IFF_UP != 0 {
            flags & IFF_UP != 0
        } else {
            f.up
        }
    } else if flags != 0 {
        flags & IFF_UP != 0
    } else {
        f.up
    };
    shared.set_link_up(f.index, up)?;
    Ok(Answer::Done)
}

/// RTM_NEWADDR/RTM_DELADDR: the address is IFA_LOCAL (IFA_ADDRESS without
/// it; for IPv4 IFA_LOCAL is required to add, as Linux's rtm_to_ifaddr).
fn change_addr(shared: &Shared, h: &Header, body: &[u8]) -> KResult<Answer> {
    let family = body[0];
    let prefix = body[1];
    let index = u32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
    let attrs = &body[IFADDRMSG_LEN..];
    if !ip(family) {
        return Err(Errno::EOPNOTSUPP);
    }
    let max = if family == AF_INET { 32 } else { 128 };
    if prefix > max {
        return Err(Errno::EINVAL);
    }
    let local = attr(attrs, IFA_LOCAL)
        .map(|p| parse_addr(family, p))
        .transpose()?;
    let address = attr(attrs, IFA_ADDRESS)
        .map(|p| parse_addr(family, p))
        .transpose()?;
    let ifs = shared.interfaces();
    let f = ifs.iter().find(|f| f.index == index).ok_or(Errno::ENODEV)?;
    if h.ty == RTM_NEWADDR {
        let a = if family == AF_INET {
            local.ok_or(Errno::EINVAL)?
        } else {
            local.or(address).ok_or(Errno::EINVAL)?
        };
        // An existing address is EEXIST unless NLM_F_REPLACE (without
        // NLM_F_EXCL) asks to replace it.
        let excl = h.flags & NLM_F_EXCL != 0 || h.flags & NLM_F_REPLACE == 0;
        shared.add_addr(index, IpCidr::new(a, prefix), excl)?;
        return Ok(Answer::Done);
    }
    // Deleting: the named address, with its prefix when IFA_ADDRESS names
    // one; with neither, the interface's first address of the family.
    let a = match local.or(address) {
        Some(a) => a,
        None => f
            .addrs
            .iter()
            .map(|c| c.address())
            .find(|a| family_of(*a) == family)
            .ok_or(Errno::EADDRNOTAVAIL)?,
    };
    shared.del_addr(index, a, address.map(|_| prefix))?;
    Ok(Answer::Done)
}

/// The destination, gateway and output interface a route request names.
fn route_spec(body: &[u8]) -> KResult<RouteSpec> {
    let family = body[0];
    let dst_len = body[1];
    let attrs = &body[RTMSG_LEN..];
    if !ip(family) {
        return Err(Errno::EOPNOTSUPP);
    }
    let max = if family == AF_INET { 32 } else { 128 };
    if dst_len > max {
        return Err(Errno::EINVAL);
    }
    let dst = match attr(attrs, RTA_DST) {
        Some(p) => parse_addr(family, p)?,
        None if family == AF_INET => IpAddress::v4(0, 0, 0, 0),
        None => IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 0),
    };
    let gateway = attr(attrs, RTA_GATEWAY)
        .map(|p| parse_addr(family, p))
        .transpose()?;
    let oif = attr_u32(attrs, RTA_OIF)?.filter(|&o| o != 0);
    Ok(RouteSpec {
        dst: network(IpCidr::new(dst, dst_len)),
        gateway,
        oif,
    })
}

/// RTM_NEWROUTE/RTM_DELROUTE in the main table.
fn change_route(shared: &Shared, h: &Header, body: &[u8]) -> KResult<Answer> {
    let table = attr_u32(&body[RTMSG_LEN..], RTA_TABLE)?.unwrap_or(u32::from(body[4]));
    let rtype = body[7];
    let spec = route_spec(body)?;
    if table != u32::from(RT_TABLE_MAIN) && table != u32::from(RT_TABLE_UNSPEC) {
        return Err(Errno::EOPNOTSUPP);
    }
    if h.ty == RTM_DELROUTE {
        shared.del_route(spec)?;
        return Ok(Answer::Done);
    }
    if rtype != RTN_UNICAST {
        return Err(Errno::EOPNOTSUPP);
    }
    if let Some(o) = spec.oif
        && !shared.interfaces().iter().any(|f| f.index == o)
    {
        return Err(Errno::ENODEV);
    }
    shared.add_route(spec, h.flags & NLM_F_EXCL != 0)?;
    Ok(Answer::Done)
}

/// RTM_GETROUTE without NLM_F_DUMP (`ip route get ADDR`): the route the
/// stack would take to RTA_DST (ENETUNREACH if none).
fn get_route(shared: &Shared, h: &Header, body: &[u8], portid: u32) -> KResult<Answer> {
    let family = body[0];
    let attrs = &body[RTMSG_LEN..];
    let family = if ip(family) { family } else { AF_INET };
    let dst = match attr(attrs, RTA_DST) {
        Some(p) => parse_addr(family, p)?,
        None if family == AF_INET => IpAddress::v4(0, 0, 0, 0),
        None => IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 0),
    };
    let (i, src) = shared.route(dst, None).ok_or(Errno::ENETUNREACH)?;
    let ifs = shared.interfaces();
    let f = ifs.get(i).ok_or(Errno::ENETUNREACH)?;
    let local = shared.is_local(dst);
    let gateway = if local || f.on_link(dst) {
        None
    } else {
        f.routes
            .iter()
            .filter(|r| r.dst.contains_addr(&dst))
            .max_by_key(|r| r.dst.prefix_len())
            .map(|r| r.gateway)
            .unwrap_or(match dst {
                IpAddress::Ipv4(_) => f.gateway4.map(IpAddress::Ipv4),
                IpAddress::Ipv6(_) => f.gateway6.map(IpAddress::Ipv6),
            })
    };
    let r = RouteEntry {
        dst: IpCidr::new(dst, if family == AF_INET { 32 } else { 128 }),
        gateway,
        oif: f.index,
        ifname: f.name.clone(),
        table: if local { RT_TABLE_LOCAL } else { RT_TABLE_MAIN },
        protocol: 0,
        scope: RT_SCOPE_UNIVERSE,
        rtype: if local { RTN_LOCAL } else { RTN_UNICAST },
        prefsrc: Some(src),
        priority: None,
    };
    Ok(Answer::Reply(route_message(
        &r,
        0,
        h.seq,
        portid,
        RTM_F_CLONED,
    )))
}

/// /proc/net/route: the main table's IPv4 routes in Linux's columns
/// (addresses as the host stores them, in hex; RTF_UP, RTF_GATEWAY,
/// RTF_HOST), each line padded to 127 characters as Linux pads them.
pub fn proc_net_route(ifs: &[IfaceInfo]) -> String {
    use core::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<127}",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
    );
    let hex = |a: [u8; 4]| u32::from_le_bytes(a);
    for r in routes(ifs) {
        let IpCidr::Ipv4(d) = r.dst else { continue };
        if r.table != RT_TABLE_MAIN {
            continue;
        }
        let gw = match r.gateway {
            Some(IpAddress::Ipv4(g)) => g.octets(),
            _ => [0; 4],
        };
        let mut flags = 0x1u32;
        if r.gateway.is_some() {
            flags |= 0x2;
        }
        if d.prefix_len() == 32 {
            flags |= 0x4;
        }
        let mask = u32::MAX
            .checked_shl(32 - u32::from(d.prefix_len()))
            .unwrap_or(0)
            .to_be_bytes();
        let line = alloc::format!(
            "{}\t{:08X}\t{:08X}\t{:04X}\t0\t0\t0\t{:08X}\t0\t0\t0",
            r.ifname,
            hex(d.address().octets()),
            hex(gw),
            flags,
            hex(mask)
        );
        let _ = writeln!(out, "{line:<127}");
    }
    out
}

/// /proc/net/if_inet6: each IPv6 address: the address (32 hex digits),
/// the interface index, prefix length, scope and flags in hex, the name.
pub fn proc_net_if_inet6(ifs: &[IfaceInfo]) -> String {
    use core::fmt::Write;
    let mut out = String::new();
    for f in ifs {
        for c in &f.addrs {
            let IpAddress::Ipv6(a) = c.address() else {
                continue;
            };
            for b in a.octets() {
                let _ = write!(out, "{b:02x}");
            }
            // if_inet6 writes the scope as IPV6_ADDR_* bits: loopback 0x10,
            // link-local 0x20, global 0x00.
            let scope = match addr_scope(c.address()) {
                RT_SCOPE_HOST => 0x10,
                RT_SCOPE_LINK => 0x20,
                _ => 0,
            };
            let _ = writeln!(
                out,
                " {:02x} {:02x} {:02x} {:02x} {:>8}",
                f.index,
                c.prefix_len(),
                scope,
                IFA_F_PERMANENT,
                f.name
            );
        }
    }
    out
}
