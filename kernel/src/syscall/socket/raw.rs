//! The socket calls on raw IP sockets and ICMP ("ping") datagram sockets
//! ([`kestrel_net::raw`]).
//!
//! socket(2) checks as inet_create and inet6_create do: the protocol's
//! range (EINVAL), the protocol (EPROTONOSUPPORT), CAP_NET_RAW for SOCK_RAW
//! (EPERM), and for a ping socket the caller's groups against
//! net.ipv4.ping_group_range (EACCES, ping_init_sock). Sends and receives
//! carry a sockaddr_in or sockaddr_in6; a receive waits on the socket's wait
//! queue for a packet the stack delivered.

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_net::raw::{self as rw, RawKind, RawSocket};
use kestrel_usermem::UserIoVecs;
use kestrel_vfs::OpenFile;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};

use super::super::args::*;
use super::super::{Ctx, zeroed_vec};
use super::inet::{Got, int_bytes};
use super::{RawAddr, deadline, optlen_room, put_optval, read_timeout, wait_ready, write_addr};

/// One past the last protocol number (IPPROTO_MAX: MPTCP is 262).
const IPPROTO_MAX: i32 = 263;
const IPPROTO_RAW: i32 = 255;
const SO_ATTACH_FILTER: i32 = 26;
const SO_DETACH_FILTER: i32 = 27;
const IP_RECVOPTS: i32 = 6;
const IP_MTU_DISCOVER: i32 = 10;
const IP_MULTICAST_TTL: i32 = 33;
const IP_MULTICAST_LOOP: i32 = 34;
const IPV6_MTU_DISCOVER: i32 = 23;
const IPV6_MULTICAST_HOPS: i32 = 18;
const IPV6_MULTICAST_LOOP: i32 = 19;

/// Whether socket(`domain`, `base`, `protocol`) is a raw or ping socket
/// (the caller then makes it with [`socket`]).
pub fn is_raw(domain: u32, base: u32, protocol: i32) -> bool {
    base == SOCK_RAW
        || (base == SOCK_DGRAM && domain == AF_INET && protocol == IPPROTO_ICMP)
        || (base == SOCK_DGRAM && domain == AF_INET6 && protocol == IPPROTO_ICMPV6)
}

/// socket(2) for a raw or ping socket, checked in inet_create's order.
pub fn socket(ctx: &Ctx<'_>, domain: u32, base: u32, protocol: i32) -> KResult<Arc<RawSocket>> {
    if !(0..IPPROTO_MAX).contains(&protocol) {
        return Err(Errno::EINVAL);
    }
    let v6 = domain == AF_INET6;
    let kind = if base == SOCK_RAW {
        // The raw entry takes any protocol but IPPROTO_IP (wildcard).
        // Numbers past 255 (IPPROTO_MPTCP) carry no IP packet: refused here.
        if protocol == 0 || protocol > 255 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        if !ctx.capable(kestrel_abi::cap::CAP_NET_RAW) {
            return Err(Errno::EPERM);
        }
        RawKind::Raw
    } else {
        RawKind::Ping
    };
    let shared = crate::net::shared().ok_or(Errno::EAFNOSUPPORT)?;
    if kind == RawKind::Ping {
        let gids: Vec<u32> = {
            let c = ctx.process().cred.lock();
            core::iter::once(c.egid)
                .chain(c.groups.iter().copied())
                .collect()
        };
        if !shared.ping_allowed(&gids) {
            return Err(Errno::EACCES);
        }
    }
    if !kestrel_vfs::may_hold(rw::DEFAULT_BUF) {
        return Err(Errno::ENOBUFS);
    }
    Ok(RawSocket::new(v6, kind, protocol as u8, Some(shared)))
}

/// An address of the socket's family from a sockaddr: (family, address,
/// port). A sockaddr_in6 may be the RFC 2133 length (24: no scope id).
fn parse(s: &RawSocket, b: &[u8]) -> KResult<(u32, IpAddress, u16)> {
    let need = if s.is_v6() { 24 } else { 16 };
    if b.len() < need {
        return Err(Errno::EINVAL);
    }
    let family = u32::from(u16::from_ne_bytes([b[0], b[1]]));
    let port = u16::from_be_bytes([b[2], b[3]]);
    let a = if s.is_v6() {
        let o: [u8; 16] = b[8..24].try_into().unwrap_or([0; 16]);
        IpAddress::Ipv6(Ipv6Address::from(o))
    } else {
        let o: [u8; 4] = b[4..8].try_into().unwrap_or([0; 4]);
        IpAddress::Ipv4(Ipv4Address::from(o))
    };
    Ok((family, a, port))
}

fn family(s: &RawSocket) -> u32 {
    if s.is_v6() { AF_INET6 } else { AF_INET }
}

fn unspecified(a: IpAddress) -> bool {
    match a {
        IpAddress::Ipv4(x) => x.is_unspecified(),
        IpAddress::Ipv6(x) => x.is_unspecified(),
    }
}

/// A sockaddr_in or sockaddr_in6 of `a` with `port`.
fn sockaddr(s: &RawSocket, a: IpAddress, port: u16) -> Vec<u8> {
    let f = if s.is_v6() {
        kestrel_net::inet::Family::V6
    } else {
        kestrel_net::inet::Family::V4
    };
    kestrel_net::inet::addr::to_sockaddr(f, a, port)
}

/// bind(2): raw_bind / ping_bind (and their IPv6 forms).
pub fn bind(ctx: &Ctx<'_>, s: &RawSocket, ptr: UserPtr<u8>, len: u32) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let (fam, a, port) = parse(s, &raw.bytes[..raw.len])?;
    let any = unspecified(a);
    if s.kind() == RawKind::Ping {
        // ping_check_bind_addr: AF_UNSPEC only with IPv4's wildcard.
        if fam != family(s) && !(fam == AF_UNSPEC && any && !s.is_v6()) {
            return Err(Errno::EAFNOSUPPORT);
        }
    } else if s.is_v6() && fam != AF_INET6 {
        return Err(Errno::EINVAL);
    }
    s.bind((!any).then_some(a), port)?;
    Ok(0)
}

/// connect(2): AF_UNSPEC disconnects; otherwise the address (EINVAL when
/// short, EAFNOSUPPORT for another family) becomes the peer.
pub fn connect(ctx: &Ctx<'_>, s: &RawSocket, ptr: UserPtr<u8>, len: u32) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let b = &raw.bytes[..raw.len];
    if b.len() < 2 {
        return Err(Errno::EINVAL);
    }
    if u32::from(u16::from_ne_bytes([b[0], b[1]])) == AF_UNSPEC {
        s.connect(None)?;
        return Ok(0);
    }
    let (fam, a, port) = parse(s, b)?;
    if fam != family(s) {
        return Err(Errno::EAFNOSUPPORT);
    }
    if s.kind() == RawKind::Ping {
        s.autobind()?;
    }
    s.connect(Some((a, port)))?;
    Ok(0)
}

/// Sends one message: the checks of raw_sendmsg / ping_v4_sendmsg (and
/// their IPv6 forms) in their order, the bytes copied in, then the packet
/// built and sent ([`RawSocket::send`]).
pub fn send(
    s: &RawSocket,
    src: &mut UserIoVecs<'_>,
    to: Option<&RawAddr>,
    flags: u32,
) -> KResult<usize> {
    let total = src.remaining();
    if total > rw::MAX_SEND {
        return Err(Errno::EMSGSIZE);
    }
    let ping = s.kind() == RawKind::Ping;
    if ping {
        s.autobind()?;
        if total < 8 {
            return Err(Errno::EINVAL);
        }
    }
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let mut data: Vec<u8> = zeroed_vec(total)?;
    if src.read(&mut data) < total {
        return Err(Errno::EFAULT);
    }
    if ping && !s.is_echo_request(&data) {
        return Err(Errno::EINVAL);
    }
    let mut proto = None;
    let dst = match to {
        None => {
            if s.peer().is_none() {
                return Err(Errno::EDESTADDRREQ);
            }
            None
        }
        Some(r) => {
            // A ping6 socket wants a whole sockaddr_in6 (ping_v6_sendmsg).
            if ping && s.is_v6() && r.len < 28 {
                return Err(Errno::EINVAL);
            }
            let (fam, a, port) = parse(s, &r.bytes[..r.len])?;
            // raw_sendmsg and rawv6_sendmsg let AF_UNSPEC by (a BSD habit).
            if fam != family(s) && (ping || fam != AF_UNSPEC) {
                return Err(Errno::EAFNOSUPPORT);
            }
            if s.is_v6() && !ping && port != 0 {
                // rawv6_sendmsg: sin6_port is the next header, the socket's
                // own unless it is IPPROTO_RAW (EINVAL otherwise).
                if i32::from(port) != i32::from(s.protocol())
                    && i32::from(s.protocol()) != IPPROTO_RAW
                {
                    return Err(Errno::EINVAL);
                }
                if port > 255 {
                    return Err(Errno::EINVAL);
                }
                proto = Some(port as u8);
            }
            Some(a)
        }
    };
    s.send(&data, dst, proto)
}

/// Receives one message into `dst`, waiting unless non-blocking: cut to
/// the room there is (MSG_TRUNC), the sender's address in `from`.
pub async fn recv(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &RawSocket,
    dst: &mut UserIoVecs<'_>,
    flags: u32,
) -> KResult<(Got, Vec<(i32, i32, Vec<u8>)>)> {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & MSG_ERRQUEUE != 0 {
        // Nothing is ever put on the error queue (partial).
        return Err(Errno::EAGAIN);
    }
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.with_opts(|o| o.timeouts[0]));
    let len = dst.remaining();
    let r = loop {
        match s.recv(len, flags & MSG_PEEK != 0) {
            Err(Errno::EAGAIN) if !dontwait => wait_ready(ctx, f, POLLIN, until).await?,
            r => break r?,
        }
    };
    if dst.write(&r.data) < r.data.len() {
        return Err(Errno::EFAULT);
    }
    let cmsgs = control_messages(s, &r);
    Ok((
        Got {
            len: r.data.len(),
            full_len: r.full_len,
            from: sockaddr(s, r.from, 0),
            rx: None,
            oob: false,
        },
        cmsgs,
    ))
}

/// recvmsg's control messages: SO_TIMESTAMP's time of arrival, and the
/// TTL (IP_RECVTTL) or hop limit (IPV6_RECVHOPLIMIT).
fn control_messages(s: &RawSocket, r: &rw::Received) -> Vec<(i32, i32, Vec<u8>)> {
    let (ts, ttl) = s.with_opts(|o| (o.timestamp, o.recvttl));
    let mut out = Vec::new();
    if ts {
        let sec = (r.stamp_ns / 1_000_000_000) as i64;
        let usec = ((r.stamp_ns % 1_000_000_000) / 1000) as i64;
        let mut b = sec.to_ne_bytes().to_vec();
        b.extend_from_slice(&usec.to_ne_bytes());
        out.push((SOL_SOCKET, SO_TIMESTAMP_OLD, b));
    }
    if ttl {
        let v = i32::from(r.ttl).to_ne_bytes().to_vec();
        if s.is_v6() {
            out.push((SOL_IPV6, IPV6_HOPLIMIT, v));
        } else {
            out.push((SOL_IP, IP_TTL, v));
        }
    }
    out
}

/// An int option as ip_setsockopt reads one: an int, or a single byte
/// when shorter (EINVAL when empty).
fn ip_int(ctx: &Ctx<'_>, val: UserPtr<u8>, len: u32) -> KResult<i32> {
    if len >= 4 {
        ctx.read(val.cast::<i32>())
    } else if len >= 1 {
        Ok(i32::from(ctx.read(val.cast::<u8>())?))
    } else {
        Err(Errno::EINVAL)
    }
}

fn read_int(ctx: &Ctx<'_>, val: UserPtr<u8>, len: u32) -> KResult<i32> {
    super::inet::read_int(ctx, val, len)
}

pub fn setsockopt(
    ctx: &Ctx<'_>,
    s: &RawSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<u64> {
    let raw = s.kind() == RawKind::Raw;
    let v6 = s.is_v6();
    match (level, name) {
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF | SO_SNDBUFFORCE | SO_RCVBUFFORCE) => {
            let (v, force) = super::inet::read_buf_size(ctx, name, val, len)?;
            s.set_buf(matches!(name, SO_SNDBUF | SO_SNDBUFFORCE), v, force);
        }
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            let ns = read_timeout(ctx, val, len)?;
            s.with_opts(|o| o.timeouts[usize::from(name == SO_SNDTIMEO)] = ns);
        }
        (SOL_SOCKET, SO_ATTACH_FILTER) => {
            s.set_filter(Some(super::packet::read_sock_fprog(ctx, val, len)?))?;
        }
        (SOL_SOCKET, SO_DETACH_FILTER) => s.set_filter(None)?,
        (SOL_SOCKET, SO_BROADCAST) => {
            let v = read_int(ctx, val, len)?;
            s.with_opts(|o| o.broadcast = v != 0);
        }
        (SOL_SOCKET, SO_TIMESTAMP_OLD | SO_TIMESTAMP_NEW) => {
            let v = read_int(ctx, val, len)?;
            s.with_opts(|o| o.timestamp = v != 0);
        }
        (SOL_SOCKET, SO_MARK) => {
            if !ctx.capable(kestrel_abi::cap::CAP_NET_ADMIN)
                && !ctx.capable(kestrel_abi::cap::CAP_NET_RAW)
            {
                return Err(Errno::EPERM);
            }
            let v = read_int(ctx, val, len)?;
            s.with_opts(|o| o.ints.insert((level, name), v));
        }
        (SOL_SOCKET, SO_BINDTODEVICE) => {
            // Accepted without effect (partial): the route decides.
            if !ctx.capable(kestrel_abi::cap::CAP_NET_RAW) {
                return Err(Errno::EPERM);
            }
        }
        (
            SOL_SOCKET,
            SO_REUSEADDR | SO_KEEPALIVE | SO_PRIORITY | SO_DEBUG | SO_DONTROUTE | SO_REUSEPORT,
        ) => {
            let v = read_int(ctx, val, len)?;
            s.with_opts(|o| o.ints.insert((level, name), v));
        }
        (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        // IPv4: SOL_RAW's ICMP_FILTER (raw_setsockopt), then ip_setsockopt.
        (rw::SOL_RAW, rw::ICMP_FILTER) if !v6 && raw => {
            if s.protocol() != rw::IPPROTO_ICMP {
                return Err(Errno::EOPNOTSUPP);
            }
            let n = (len as usize).min(4);
            let mut b = [0u8; 4];
            // A short filter replaces only its first bytes; a failed copy
            // leaves them zero (copy_from_user clears what it did not copy).
            let r = ctx
                .mm()
                .reader(val, n)
                .and_then(|mut rd| rd.read_exact(&mut b[..n]));
            if r.is_err() {
                b = [0; 4];
            }
            s.with_opts(|o| {
                let mut cur = o.icmp_filter.to_ne_bytes();
                cur[..n].copy_from_slice(&b[..n]);
                o.icmp_filter = u32::from_ne_bytes(cur);
            });
            r?;
        }
        (rw::SOL_RAW, _) if !v6 && raw => return Err(Errno::ENOPROTOOPT),
        // IPv6: SOL_ICMPV6's filter, IPV6_CHECKSUM at SOL_RAW or SOL_IPV6.
        (rw::SOL_ICMPV6, _) if v6 && raw => {
            if s.protocol() != rw::IPPROTO_ICMPV6 {
                return Err(Errno::EOPNOTSUPP);
            }
            if name != rw::ICMPV6_FILTER {
                return Err(Errno::ENOPROTOOPT);
            }
            let n = (len as usize).min(32);
            let mut b = [0u8; 32];
            ctx.mm().reader(val, n)?.read_exact(&mut b[..n])?;
            s.with_opts(|o| {
                for (i, w) in b[..n].chunks(4).enumerate() {
                    let mut cur = o.icmp6_filter[i].to_ne_bytes();
                    cur[..w.len()].copy_from_slice(w);
                    o.icmp6_filter[i] = u32::from_ne_bytes(cur);
                }
            });
        }
        (rw::SOL_RAW | SOL_IPV6, rw::IPV6_CHECKSUM | rw::IPV6_HDRINCL)
            if v6 && raw && (level == rw::SOL_RAW || name == rw::IPV6_CHECKSUM) =>
        {
            let v = read_int(ctx, val, len)?;
            if name == rw::IPV6_HDRINCL {
                // Accepted and kept (IPv6 header included on send: partial,
                // the header is built regardless).
                s.with_opts(|o| o.ints.insert((SOL_IPV6, name), v));
                return Ok(0);
            }
            if s.protocol() == rw::IPPROTO_ICMPV6 && level == SOL_IPV6 {
                // RFC 3542: not on ICMPv6 sockets at IPPROTO_IPV6.
                return Err(Errno::EINVAL);
            }
            if v > 0 && v & 1 != 0 {
                return Err(Errno::EINVAL);
            }
            s.with_opts(|o| o.checksum = usize::try_from(v).ok());
        }
        (rw::SOL_RAW, _) if v6 && raw => return Err(Errno::ENOPROTOOPT),
        (SOL_IP, _) if !v6 => {
            let v = ip_int(ctx, val, len)?;
            match name {
                rw::IP_HDRINCL => {
                    if !raw {
                        return Err(Errno::ENOPROTOOPT);
                    }
                    s.with_opts(|o| o.hdrincl = v != 0);
                }
                IP_TTL => {
                    if v != -1 && !(1..=255).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.ttl = u8::try_from(v).ok());
                }
                IP_TOS => s.with_opts(|o| o.tos = v as u8),
                IP_RECVTTL => s.with_opts(|o| o.recvttl = v != 0),
                IP_MTU_DISCOVER => {
                    if !(0..=5).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.ints.insert((level, name), v));
                }
                IP_MULTICAST_TTL => {
                    if !(-1..=255).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.ints.insert((level, name), v));
                }
                // Kept; no options ever come with a packet (partial).
                IP_RECVERR | IP_PKTINFO | IP_RECVTOS | IP_MULTICAST_LOOP | IP_RECVOPTS
                | IP_RETOPTS => {
                    s.with_opts(|o| o.ints.insert((level, name), i32::from(v != 0)));
                }
                _ => return Err(Errno::ENOPROTOOPT),
            }
        }
        (SOL_IPV6, _) if v6 => {
            let v = read_int(ctx, val, len)?;
            match name {
                IPV6_UNICAST_HOPS => {
                    if !(-1..=255).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.ttl = u8::try_from(v).ok());
                }
                IPV6_TCLASS => {
                    if !(-1..=255).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.tos = v.max(0) as u8);
                }
                IPV6_RECVHOPLIMIT => s.with_opts(|o| o.recvttl = v != 0),
                IPV6_MTU_DISCOVER => {
                    if !(0..=5).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.ints.insert((level, name), v));
                }
                IPV6_MULTICAST_HOPS => {
                    if !(-1..=255).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    s.with_opts(|o| o.ints.insert((level, name), v));
                }
                IPV6_RECVERR | IPV6_V6ONLY | IPV6_RECVPKTINFO | IPV6_RECVTCLASS
                | IPV6_MULTICAST_LOOP | IPV6_FLOWINFO => {
                    s.with_opts(|o| o.ints.insert((level, name), i32::from(v != 0)));
                }
                _ => return Err(Errno::ENOPROTOOPT),
            }
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

pub fn getsockopt(
    ctx: &Ctx<'_>,
    s: &RawSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len_ptr: UserPtr<u32>,
) -> KResult<u64> {
    let raw = s.kind() == RawKind::Raw;
    let v6 = s.is_v6();
    let room = optlen_room(ctx, len_ptr)?;
    let kept = |l: i32, n: i32| s.with_opts(|o| o.ints.get(&(l, n)).copied().unwrap_or(0));
    let bytes = match (level, name) {
        (SOL_SOCKET, SO_TYPE) => int_bytes(if raw { SOCK_RAW } else { SOCK_DGRAM } as i32),
        (SOL_SOCKET, SO_DOMAIN) => int_bytes(family(s) as i32),
        (SOL_SOCKET, SO_PROTOCOL) => int_bytes(i32::from(s.protocol())),
        (SOL_SOCKET, SO_ERROR) => int_bytes(s.take_error().map_or(0, |e| e as i32)),
        (SOL_SOCKET, SO_SNDBUF) => int_bytes(s.with_opts(|o| o.sndbuf) as i32),
        (SOL_SOCKET, SO_RCVBUF) => int_bytes(s.with_opts(|o| o.rcvbuf) as i32),
        (SOL_SOCKET, SO_BROADCAST) => int_bytes(i32::from(s.with_opts(|o| o.broadcast))),
        (SOL_SOCKET, SO_TIMESTAMP_OLD | SO_TIMESTAMP_NEW) => {
            int_bytes(i32::from(s.with_opts(|o| o.timestamp)))
        }
        (SOL_SOCKET, SO_ACCEPTCONN) => int_bytes(0),
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            let ns = s
                .with_opts(|o| o.timeouts[usize::from(name == SO_SNDTIMEO)])
                .unwrap_or(0);
            kestrel_abi::bytemuck_bytes(&kestrel_abi::time::Timeval::from_ns(ns)).to_vec()
        }
        (
            SOL_SOCKET,
            SO_REUSEADDR | SO_KEEPALIVE | SO_PRIORITY | SO_DEBUG | SO_DONTROUTE | SO_REUSEPORT
            | SO_MARK,
        ) => int_bytes(kept(level, name)),
        (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (rw::SOL_RAW, rw::ICMP_FILTER) if !v6 && raw => {
            if s.protocol() != rw::IPPROTO_ICMP {
                return Err(Errno::EOPNOTSUPP);
            }
            s.with_opts(|o| o.icmp_filter).to_ne_bytes().to_vec()
        }
        (rw::SOL_ICMPV6, rw::ICMPV6_FILTER) if v6 && raw => {
            if s.protocol() != rw::IPPROTO_ICMPV6 {
                return Err(Errno::EOPNOTSUPP);
            }
            let f = s.with_opts(|o| o.icmp6_filter);
            f.iter().flat_map(|w| w.to_ne_bytes()).collect()
        }
        (rw::SOL_RAW | SOL_IPV6, rw::IPV6_CHECKSUM) if v6 && raw => {
            if s.protocol() == rw::IPPROTO_ICMPV6 && level == SOL_IPV6 {
                return Err(Errno::EOPNOTSUPP);
            }
            int_bytes(s.with_opts(|o| o.checksum.map_or(-1, |c| c as i32)))
        }
        (SOL_IP, rw::IP_HDRINCL) if !v6 => {
            if !raw {
                return Err(Errno::ENOPROTOOPT);
            }
            int_bytes(i32::from(s.with_opts(|o| o.hdrincl)))
        }
        (SOL_IP, IP_TTL) if !v6 => int_bytes(s.with_opts(|o| o.ttl).map_or(64, i32::from)),
        (SOL_IP, IP_TOS) if !v6 => int_bytes(i32::from(s.with_opts(|o| o.tos))),
        (SOL_IP, IP_RECVTTL) if !v6 => int_bytes(i32::from(s.with_opts(|o| o.recvttl))),
        (SOL_IP, IP_MULTICAST_TTL) if !v6 => int_bytes(
            s.with_opts(|o| o.ints.get(&(level, name)).copied())
                .filter(|&v| v >= 0)
                .unwrap_or(1),
        ),
        (SOL_IP, IP_MULTICAST_LOOP) if !v6 => int_bytes(
            s.with_opts(|o| o.ints.get(&(level, name)).copied())
                .unwrap_or(1),
        ),
        (
            SOL_IP,
            IP_RECVERR | IP_PKTINFO | IP_RECVTOS | IP_MTU_DISCOVER | IP_RECVOPTS | IP_RETOPTS,
        ) if !v6 => int_bytes(kept(level, name)),
        (SOL_IPV6, IPV6_UNICAST_HOPS) if v6 => {
            int_bytes(s.with_opts(|o| o.ttl).map_or(64, i32::from))
        }
        (SOL_IPV6, IPV6_TCLASS) if v6 => int_bytes(i32::from(s.with_opts(|o| o.tos))),
        (SOL_IPV6, IPV6_RECVHOPLIMIT) if v6 => int_bytes(i32::from(s.with_opts(|o| o.recvttl))),
        (
            SOL_IPV6,
            IPV6_RECVERR | IPV6_V6ONLY | IPV6_RECVPKTINFO | IPV6_RECVTCLASS | IPV6_MTU_DISCOVER
            | IPV6_MULTICAST_HOPS | IPV6_MULTICAST_LOOP | IPV6_FLOWINFO,
        ) if v6 => int_bytes(kept(level, name)),
        _ => return Err(Errno::ENOPROTOOPT),
    };
    // raw_geticmpfilter and the ICMPv6 filter write the length first.
    put_optval(ctx, val, len_ptr, room, &bytes)
}

/// getsockname (the bound address, and the protocol or a ping socket's
/// ident as the port, as inet_getname reports inet_sport) or getpeername
/// (ENOTCONN unless connected with a port, as inet_getname).
pub fn name(
    ctx: &Ctx<'_>,
    s: &RawSocket,
    peer: bool,
    addr: UserPtr<u8>,
    len: UserPtr<u32>,
) -> KResult<u64> {
    let any = if s.is_v6() {
        IpAddress::Ipv6(Ipv6Address::UNSPECIFIED)
    } else {
        IpAddress::Ipv4(Ipv4Address::UNSPECIFIED)
    };
    let bytes = if peer {
        let (p, port) = s.peer_name().ok_or(Errno::ENOTCONN)?;
        sockaddr(s, p, port)
    } else {
        let (local, ident) = s.local();
        let port = if s.kind() == RawKind::Ping {
            ident
        } else {
            u16::from(s.protocol())
        };
        sockaddr(s, local.unwrap_or(any), port)
    };
    write_addr(ctx, &bytes, addr, len)?;
    Ok(0)
}

/// shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR (EINVAL otherwise); ENOTCONN
/// when unconnected, as inet_shutdown for a datagram socket, after marking.
pub fn shutdown(s: &RawSocket, how: u32) -> KResult<u64> {
    if how > 2 {
        return Err(Errno::EINVAL);
    }
    s.shutdown(how != 1);
    if s.peer().is_none() {
        return Err(Errno::ENOTCONN);
    }
    Ok(0)
}
