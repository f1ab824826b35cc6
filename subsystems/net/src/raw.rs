//! Raw IP sockets (raw(7)) and ICMP datagram ("ping") sockets.
//!
//! * `socket(AF_INET, SOCK_RAW, proto)`: every IPv4 packet for this host
//!   with that protocol, header included; a send gets an IP header built
//!   unless IP_HDRINCL (implied for IPPROTO_RAW). `AF_INET6`: the payload
//!   only, and the kernel sums ICMPv6 (and, with IPV6_CHECKSUM, others).
//! * `socket(AF_INET{,6}, SOCK_DGRAM, IPPROTO_ICMP{V6})`: sends only echo
//!   requests, whose identifier the kernel sets to the socket's "port" (its
//!   ident) and whose checksum it computes; receives the echo replies
//!   carrying that identifier, without the IP header.
//!
//! The stack hands each IP packet an interface receives (lo's included, so
//! the packets this host sends itself) to [`RawSocks::input`] before smoltcp
//! sees it, as Linux's ip_local_deliver gives raw sockets their copy before
//! the protocol. A send builds the whole packet here; [`Shared::ip_xmit`]
//! puts it in lo's receive queue, or hands it to the actor, which sends it
//! through a smoltcp raw socket (smoltcp resolves the neighbor).
//!
//! Packets wait in a per-socket queue bounded by SO_RCVBUF (past it they are
//! dropped). Missing: fragments (a fragmented packet is not delivered and a
//! send past the interface's MTU is EMSGSIZE), IP options, the error queue
//! (IP_RECVERR's messages), IPv6 extension headers on send.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicUsize, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};

use crate::inet::Shared;

pub const SOL_RAW: i32 = 255;
pub const SOL_ICMPV6: i32 = 58;
/// SOL_RAW: struct icmp_filter (a 32-bit mask of ICMP types to drop).
pub const ICMP_FILTER: i32 = 1;
/// SOL_ICMPV6: struct icmp6_filter (256 bits, a set bit blocks the type).
pub const ICMPV6_FILTER: i32 = 1;
/// SOL_IPV6 or SOL_RAW: where the checksum goes (-1: none).
pub const IPV6_CHECKSUM: i32 = 7;
pub const IP_HDRINCL: i32 = 3;
pub const IPV6_HDRINCL: i32 = 36;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_RAW: u8 = 255;

const ICMP_ECHO: u8 = 8;
const ICMP_ECHOREPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// Default and bounds of SO_RCVBUF/SO_SNDBUF (as packet sockets).
pub const DEFAULT_BUF: usize = 212_992;
const MAX_BUF: usize = 425_984;
const MIN_RCVBUF: usize = 2304;
const MIN_SNDBUF: usize = 4608;
/// What a queued packet costs besides its bytes (an skb's truesize).
const OVERHEAD: usize = 576;
/// The largest message a send takes (raw_sendmsg, ping_common_sendmsg).
pub const MAX_SEND: usize = 0xffff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// SOCK_RAW.
    Raw,
    /// SOCK_DGRAM with IPPROTO_ICMP / IPPROTO_ICMPV6.
    Ping,
}

/// The options a raw or ping socket keeps.
#[derive(Clone, Debug)]
pub struct Options {
    pub hdrincl: bool,
    /// IP_TTL / IPV6_UNICAST_HOPS (None: the default, 64).
    pub ttl: Option<u8>,
    pub tos: u8,
    pub broadcast: bool,
    /// SO_TIMESTAMP: an SCM_TIMESTAMP with each message.
    pub timestamp: bool,
    /// IP_RECVTTL / IPV6_RECVHOPLIMIT.
    pub recvttl: bool,
    /// ICMP_FILTER: types (below 32) not to deliver.
    pub icmp_filter: u32,
    /// ICMPV6_FILTER: a set bit blocks the type.
    pub icmp6_filter: [u32; 8],
    /// IPV6_CHECKSUM's offset (None: off).
    pub checksum: Option<usize>,
    /// Other integer options, kept for getsockopt.
    pub ints: BTreeMap<(i32, i32), i32>,
    pub rcvbuf: usize,
    pub sndbuf: usize,
    pub timeouts: [Option<u64>; 2],
}

/// A received packet, as the socket will hand it out.
struct Pkt {
    data: Vec<u8>,
    from: IpAddress,
    ifindex: u32,
    ttl: u8,
    stamp_ns: u64,
}

/// What a receive hands out.
pub struct Received {
    pub data: Vec<u8>,
    pub full_len: usize,
    pub from: IpAddress,
    pub ifindex: u32,
    pub ttl: u8,
    pub stamp_ns: u64,
}

struct State {
    opts: Options,
    /// bind(2)'s address (the packets' destination must be it).
    local: Option<IpAddress>,
    /// connect(2)'s address (the packets' source must be it) and port.
    peer: Option<IpAddress>,
    peer_port: u16,
    /// A ping socket's identifier (0: not bound yet).
    ident: u16,
    queue: VecDeque<Pkt>,
    queued: usize,
    drops: u64,
    error: Option<Errno>,
    filter: Option<Vec<crate::bpf::Insn>>,
    shut_rd: bool,
    released: bool,
}

pub struct RawSocket {
    v6: bool,
    kind: RawKind,
    protocol: u8,
    shared: Option<Arc<Shared>>,
    st: spin::Mutex<State>,
    wq: WaitQueue,
}

impl RawSocket {
    /// A socket of `family` (v6 or not), `kind` and `protocol` on `shared`'s
    /// interfaces (the caller checked the arguments and the permission).
    pub fn new(v6: bool, kind: RawKind, protocol: u8, shared: Option<Arc<Shared>>) -> Arc<Self> {
        let ipv6_icmp = v6 && protocol == IPPROTO_ICMPV6 && kind == RawKind::Raw;
        let s = Arc::new(RawSocket {
            v6,
            kind,
            protocol,
            shared,
            st: spin::Mutex::new(State {
                opts: Options {
                    hdrincl: kind == RawKind::Raw && protocol == IPPROTO_RAW,
                    ttl: None,
                    tos: 0,
                    broadcast: false,
                    timestamp: false,
                    recvttl: false,
                    icmp_filter: 0,
                    icmp6_filter: [0; 8],
                    // rawv6_init_sk: ICMPv6 is summed at offset 2.
                    checksum: ipv6_icmp.then_some(2),
                    ints: BTreeMap::new(),
                    rcvbuf: DEFAULT_BUF,
                    sndbuf: DEFAULT_BUF,
                    timeouts: [None, None],
                },
                local: None,
                peer: None,
                peer_port: 0,
                ident: 0,
                queue: VecDeque::new(),
                queued: 0,
                drops: 0,
                error: None,
                filter: None,
                shut_rd: false,
                released: false,
            }),
            wq: WaitQueue::new(),
        });
        if let Some(sh) = &s.shared {
            sh.raws.add(Arc::downgrade(&s));
        }
        s
    }

    pub fn of(file: &OpenFile) -> Option<&RawSocket> {
        file.ops().as_any().downcast_ref()
    }

    pub fn is_v6(&self) -> bool {
        self.v6
    }

    pub fn kind(&self) -> RawKind {
        self.kind
    }

    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref()
    }

    pub fn with_opts<R>(&self, f: impl FnOnce(&mut Options) -> R) -> R {
        f(&mut self.st.lock().opts)
    }

    /// Whether `msg` starts with what a ping socket may send: an ICMP (or
    /// ICMPv6) echo request of code 0, its header whole (ping_common_sendmsg).
    pub fn is_echo_request(&self, msg: &[u8]) -> bool {
        let ty = if self.v6 {
            ICMPV6_ECHO_REQUEST
        } else {
            ICMP_ECHO
        };
        msg.len() >= 8 && msg[0] == ty && msg[1] == 0
    }

    /// The address and ident (ping) the socket is bound to.
    pub fn local(&self) -> (Option<IpAddress>, u16) {
        let st = self.st.lock();
        (st.local, st.ident)
    }

    pub fn peer(&self) -> Option<IpAddress> {
        self.st.lock().peer
    }

    /// getpeername's answer: the peer and the port connect(2) named (none
    /// when unconnected or connected without a port, as inet_getname).
    pub fn peer_name(&self) -> Option<(IpAddress, u16)> {
        let st = self.st.lock();
        st.peer
            .filter(|_| st.peer_port != 0)
            .map(|p| (p, st.peer_port))
    }

    /// bind(2) to `addr` (None: the wildcard), which must be this host's
    /// (EADDRNOTAVAIL; multicast and broadcast too for raw sockets). A ping
    /// socket takes `ident` (0: a free one; ping sockets may share one, as
    /// their INET_PROTOSW_REUSE lets them) and binds once (EINVAL).
    pub fn bind(&self, addr: Option<IpAddress>, ident: u16) -> KResult<()> {
        let shared = self.shared.as_ref().ok_or(Errno::EADDRNOTAVAIL)?;
        if let Some(a) = addr
            && !shared.is_local(a)
            && !(self.kind == RawKind::Raw && (a.is_multicast() || shared.is_broadcast(a)))
        {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let mut st = self.st.lock();
        if self.kind == RawKind::Ping {
            if st.ident != 0 {
                return Err(Errno::EINVAL);
            }
            st.ident = shared.raws.take_ident(self.v6, ident)?;
        }
        st.local = addr;
        Ok(())
    }

    /// A ping socket's ident, taking a free one if it has none (inet_autobind:
    /// EAGAIN when none is free).
    pub fn autobind(&self) -> KResult<u16> {
        let mut st = self.st.lock();
        if self.kind != RawKind::Ping || st.ident != 0 {
            return Ok(st.ident);
        }
        let shared = self.shared.as_ref().ok_or(Errno::EAGAIN)?;
        st.ident = shared
            .raws
            .take_ident(self.v6, 0)
            .map_err(|_| Errno::EAGAIN)?;
        Ok(st.ident)
    }

    /// connect(2): the packets' destination from now on and the only source
    /// they are taken from (None: AF_UNSPEC, unconnected again).
    pub fn connect(&self, peer: Option<(IpAddress, u16)>) -> KResult<()> {
        if let Some((p, _)) = peer {
            let shared = self.shared.as_ref().ok_or(Errno::ENETUNREACH)?;
            let local = self.st.lock().local;
            shared.route(p, local).ok_or(Errno::ENETUNREACH)?;
            if shared.is_broadcast(p) && !self.st.lock().opts.broadcast {
                return Err(Errno::EACCES);
            }
        }
        let mut st = self.st.lock();
        st.peer = peer.map(|p| p.0);
        st.peer_port = peer.map_or(0, |p| p.1);
        Ok(())
    }

    /// shutdown(2): after SHUT_RD a receive finds end of file (0) rather
    /// than waiting; SHUT_WR changes nothing for a datagram socket here.
    pub fn shutdown(&self, rd: bool) {
        let mut st = self.st.lock();
        st.shut_rd |= rd;
        drop(st);
        self.wq.wake(u32::from(POLLIN | POLLOUT | POLLRDHUP));
    }

    /// Takes a packet if it is for this socket: `ip` is the whole packet,
    /// `payload` what follows its headers, `proto` the upper protocol.
    fn deliver(&self, p: &Parsed<'_>) {
        if self.v6 != p.v6 {
            return;
        }
        let mut st = self.st.lock();
        if st.released || st.shut_rd {
            return;
        }
        if st.peer.is_some_and(|a| a != p.src) || st.local.is_some_and(|a| a != p.dst) {
            return;
        }
        let data: &[u8] = match self.kind {
            RawKind::Raw => {
                if p.proto != self.protocol {
                    return;
                }
                if let Some(&ty) = p.payload.first() {
                    if !self.v6 && self.protocol == IPPROTO_ICMP {
                        if ty < 32 && st.opts.icmp_filter & (1 << ty) != 0 {
                            return;
                        }
                    } else if self.v6
                        && self.protocol == IPPROTO_ICMPV6
                        && st.opts.icmp6_filter[usize::from(ty >> 5)] & (1 << (ty & 31)) != 0
                    {
                        return;
                    }
                }
                if self.v6 { p.payload } else { p.ip }
            }
            RawKind::Ping => {
                let (want_proto, reply) = if self.v6 {
                    (IPPROTO_ICMPV6, ICMPV6_ECHO_REPLY)
                } else {
                    (IPPROTO_ICMP, ICMP_ECHOREPLY)
                };
                let pl = p.payload;
                if p.proto != want_proto
                    || pl.len() < 8
                    || pl[0] != reply
                    || st.ident == 0
                    || u16::from_be_bytes([pl[4], pl[5]]) != st.ident
                {
                    return;
                }
                pl
            }
        };
        let keep = match &st.filter {
            None => data.len(),
            Some(prog) => {
                let meta = crate::bpf::Meta {
                    protocol: if self.v6 { 0x86dd } else { 0x0800 },
                    pkttype: 0,
                    ifindex: p.ifindex,
                    hatype: 1,
                    net_off: 0,
                    mac_off: -14,
                };
                crate::bpf::run(prog, data, &meta) as usize
            }
        };
        if keep == 0 {
            return;
        }
        let data = &data[..keep.min(data.len())];
        // sock_queue_rcv_skb: dropped once what waits reaches SO_RCVBUF.
        if st.queued >= st.opts.rcvbuf || !kestrel_vfs::may_hold(data.len()) {
            st.drops += 1;
            return;
        }
        let mut v = Vec::new();
        if v.try_reserve_exact(data.len()).is_err() {
            st.drops += 1;
            return;
        }
        v.extend_from_slice(data);
        st.queued += v.len() + OVERHEAD;
        st.queue.push_back(Pkt {
            data: v,
            from: p.src,
            ifindex: p.ifindex,
            ttl: p.ttl,
            stamp_ns: crate::packet::now_ns(),
        });
        drop(st);
        self.wq.wake(u32::from(POLLIN | POLLRDNORM));
    }

    /// The next packet, cut to `len` bytes (EAGAIN when there is none; the
    /// socket's pending error first).
    pub fn recv(&self, len: usize, peek: bool) -> KResult<Received> {
        let mut st = self.st.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        let p = if peek {
            let p = st.queue.front().ok_or(Errno::EAGAIN)?;
            Pkt {
                data: p.data.clone(),
                from: p.from,
                ifindex: p.ifindex,
                ttl: p.ttl,
                stamp_ns: p.stamp_ns,
            }
        } else {
            let p = match st.queue.pop_front() {
                Some(p) => p,
                // Shut down for reading: end of file rather than a wait.
                None if st.shut_rd => {
                    return Ok(Received {
                        data: Vec::new(),
                        full_len: 0,
                        from: p_any(self.v6),
                        ifindex: 0,
                        ttl: 0,
                        stamp_ns: 0,
                    });
                }
                None => return Err(Errno::EAGAIN),
            };
            st.queued = st.queued.saturating_sub(p.data.len() + OVERHEAD);
            p
        };
        drop(st);
        let full_len = p.data.len();
        let mut data = p.data;
        data.truncate(len);
        Ok(Received {
            data,
            full_len,
            from: p.from,
            ifindex: p.ifindex,
            ttl: p.ttl,
            stamp_ns: p.stamp_ns,
        })
    }

    /// The length of the next packet (SIOCINQ), 0 if none.
    pub fn next_len(&self) -> usize {
        self.st.lock().queue.front().map_or(0, |p| p.data.len())
    }

    /// Packets dropped for want of room.
    pub fn drops(&self) -> u64 {
        self.st.lock().drops
    }

    /// Sends `data` to `dst` (None: the connected peer; EDESTADDRREQ).
    /// Raw: `data` is the payload, or with IP_HDRINCL the whole IPv4 packet
    /// (its checksum, length, zero source and zero id filled in). Ping:
    /// `data` is an ICMP echo request (EINVAL otherwise) whose identifier
    /// and checksum are set here. `proto` overrides the IPv6 next header
    /// (sin6_port of a raw IPv6 socket).
    pub fn send(&self, data: &[u8], dst: Option<IpAddress>, proto: Option<u8>) -> KResult<usize> {
        // shutdown(SHUT_WR) stops nothing here, as raw_sendmsg does not look.
        let (opts, local, peer) = {
            let st = self.st.lock();
            (st.opts.clone(), st.local, st.peer)
        };
        let dst = dst.or(peer).ok_or(Errno::EDESTADDRREQ)?;
        if matches!(dst, IpAddress::Ipv4(_)) == self.v6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let shared = self.shared.as_ref().ok_or(Errno::ENETUNREACH)?;
        // A multicast or broadcast bound address is not a source (raw_bind).
        let bound = local.filter(|a| !a.is_multicast() && !shared.is_broadcast(*a));
        let (iface, src) = shared.route(dst, bound).ok_or(Errno::ENETUNREACH)?;
        if shared.is_broadcast(dst) && !opts.broadcast {
            return Err(Errno::EACCES);
        }
        let mtu = shared
            .interfaces()
            .get(iface)
            .map_or(1500, |f| f.mtu.min(65535));
        let ttl = opts.ttl.unwrap_or(if dst.is_multicast() { 1 } else { 64 });
        let proto = proto.unwrap_or(self.protocol);
        let mut payload;
        let packet = match self.kind {
            RawKind::Ping => {
                if !self.is_echo_request(data) {
                    return Err(Errno::EINVAL);
                }
                let ident = self.autobind()?;
                payload = copy(data)?;
                payload[4..6].copy_from_slice(&ident.to_be_bytes());
                payload[2..4].copy_from_slice(&[0, 0]);
                let sum = if self.v6 {
                    pseudo_sum(src, dst, IPPROTO_ICMPV6, &payload)
                } else {
                    checksum(0, &payload)
                };
                payload[2..4].copy_from_slice(&sum.to_be_bytes());
                if self.v6 {
                    build_v6(src, dst, IPPROTO_ICMPV6, ttl, opts.tos, &payload)?
                } else {
                    build_v4(
                        src,
                        dst,
                        IPPROTO_ICMP,
                        ttl,
                        opts.tos,
                        shared.next_ip_id(),
                        &payload,
                    )?
                }
            }
            RawKind::Raw if !self.v6 && opts.hdrincl => {
                let mut p = copy(data)?;
                if p.len() < 20 {
                    return Err(Errno::EINVAL);
                }
                let ihl = usize::from(p[0] & 0xf) * 4;
                if ihl > p.len() {
                    return Err(Errno::EINVAL);
                }
                if ihl >= 20 {
                    if p[12..16] == [0; 4]
                        && let IpAddress::Ipv4(s) = src
                    {
                        p[12..16].copy_from_slice(&s.octets());
                    }
                    let len = p.len() as u16;
                    p[2..4].copy_from_slice(&len.to_be_bytes());
                    if p[4..6] == [0, 0] {
                        p[4..6].copy_from_slice(&shared.next_ip_id().to_be_bytes());
                    }
                    p[10..12].copy_from_slice(&[0, 0]);
                    let sum = checksum(0, &p[..ihl]);
                    p[10..12].copy_from_slice(&sum.to_be_bytes());
                }
                p
            }
            RawKind::Raw if !self.v6 => {
                build_v4(src, dst, proto, ttl, opts.tos, shared.next_ip_id(), data)?
            }
            RawKind::Raw => {
                payload = copy(data)?;
                if let Some(off) = opts.checksum {
                    if off + 2 > payload.len() {
                        return Err(Errno::EINVAL);
                    }
                    payload[off..off + 2].copy_from_slice(&[0, 0]);
                    let sum = pseudo_sum(src, dst, proto, &payload);
                    payload[off..off + 2].copy_from_slice(&sum.to_be_bytes());
                }
                build_v6(src, dst, proto, ttl, opts.tos, &payload)?
            }
        };
        if packet.len() > mtu {
            return Err(Errno::EMSGSIZE);
        }
        shared.ip_xmit(iface, packet)?;
        Ok(data.len())
    }

    pub fn poll_mask(&self) -> u16 {
        let st = self.st.lock();
        let mut m = POLLOUT | POLLWRNORM;
        if !st.queue.is_empty() || st.shut_rd {
            m |= POLLIN | POLLRDNORM;
        }
        if st.shut_rd {
            m |= POLLRDHUP;
        }
        if st.error.is_some() {
            m |= POLLERR;
        }
        m
    }

    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    pub fn take_error(&self) -> Option<Errno> {
        self.st.lock().error.take()
    }

    /// SO_SNDBUF/SO_RCVBUF: doubled, within Linux's bounds (`force`: past
    /// the maximum).
    pub fn set_buf(&self, send: bool, v: usize, force: bool) {
        let v = if force { v } else { v.min(MAX_BUF / 2) };
        let v = v.saturating_mul(2).min(i32::MAX as usize);
        let mut st = self.st.lock();
        if send {
            st.opts.sndbuf = v.max(MIN_SNDBUF);
        } else {
            st.opts.rcvbuf = v.max(MIN_RCVBUF);
        }
    }

    /// SO_ATTACH_FILTER (a checked program) or SO_DETACH_FILTER (None;
    /// ENOENT if there was none).
    pub fn set_filter(&self, prog: Option<Vec<crate::bpf::Insn>>) -> KResult<()> {
        let mut st = self.st.lock();
        if prog.is_none() && st.filter.is_none() {
            return Err(Errno::ENOENT);
        }
        st.filter = prog;
        Ok(())
    }

    /// The last file closed: no more packets, the ident free again.
    pub fn release(&self) {
        let mut st = self.st.lock();
        st.released = true;
        st.queue.clear();
        st.queued = 0;
        let ident = core::mem::take(&mut st.ident);
        drop(st);
        if ident != 0
            && let Some(sh) = &self.shared
        {
            sh.raws.put_ident(self.v6, ident);
        }
    }
}

fn p_any(v6: bool) -> IpAddress {
    if v6 {
        IpAddress::Ipv6(Ipv6Address::UNSPECIFIED)
    } else {
        IpAddress::Ipv4(Ipv4Address::UNSPECIFIED)
    }
}

fn copy(data: &[u8]) -> KResult<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(data.len())
        .map_err(|_| Errno::ENOBUFS)?;
    v.extend_from_slice(data);
    Ok(v)
}

/// The Internet checksum of `b`, starting from the partial sum `start`.
pub fn checksum(start: u32, b: &[u8]) -> u16 {
    let mut sum = start;
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [x] = chunks.remainder() {
        sum += u32::from(*x) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of an upper-layer message with the pseudo-header of
/// `src`, `dst`, `proto` (IPv4's or IPv6's, as the addresses are).
pub fn pseudo_sum(src: IpAddress, dst: IpAddress, proto: u8, msg: &[u8]) -> u16 {
    let mut ph = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => {
            ph.extend_from_slice(&s.octets());
            ph.extend_from_slice(&d.octets());
            ph.extend_from_slice(&(msg.len() as u32).to_be_bytes());
            ph.extend_from_slice(&[0, 0, 0, proto]);
        }
        (IpAddress::Ipv4(s), IpAddress::Ipv4(d)) => {
            ph.extend_from_slice(&s.octets());
            ph.extend_from_slice(&d.octets());
            ph.extend_from_slice(&[0, proto]);
            ph.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        }
        _ => {}
    }
    let partial = !checksum(0, &ph);
    checksum(u32::from(partial), msg)
}

/// An IPv4 packet of `payload` (no options, DF set as Linux's path MTU
/// discovery sets it).
fn build_v4(
    src: IpAddress,
    dst: IpAddress,
    proto: u8,
    ttl: u8,
    tos: u8,
    id: u16,
    payload: &[u8],
) -> KResult<Vec<u8>> {
    let (IpAddress::Ipv4(s), IpAddress::Ipv4(d)) = (src, dst) else {
        return Err(Errno::EAFNOSUPPORT);
    };
    let total = 20 + payload.len();
    if total > 0xffff {
        return Err(Errno::EMSGSIZE);
    }
    let mut p = Vec::new();
    p.try_reserve_exact(total).map_err(|_| Errno::ENOBUFS)?;
    p.extend_from_slice(&[0x45, tos]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, ttl, proto, 0, 0]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let sum = checksum(0, &p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    Ok(p)
}

/// An IPv6 packet of `payload` (no extension headers).
fn build_v6(
    src: IpAddress,
    dst: IpAddress,
    proto: u8,
    hops: u8,
    tclass: u8,
    payload: &[u8],
) -> KResult<Vec<u8>> {
    let (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) = (src, dst) else {
        return Err(Errno::EAFNOSUPPORT);
    };
    if payload.len() > 0xffff {
        return Err(Errno::EMSGSIZE);
    }
    let mut p = Vec::new();
    p.try_reserve_exact(40 + payload.len())
        .map_err(|_| Errno::ENOBUFS)?;
    let word = (6u32 << 28) | (u32::from(tclass) << 20);
    p.extend_from_slice(&word.to_be_bytes());
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto, hops]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    p.extend_from_slice(payload);
    Ok(p)
}

/// A received IP packet, as far as the raw sockets look at it.
struct Parsed<'a> {
    v6: bool,
    ifindex: u32,
    ip: &'a [u8],
    payload: &'a [u8],
    proto: u8,
    src: IpAddress,
    dst: IpAddress,
    ttl: u8,
}

/// Parses an IPv4 or IPv6 packet (None: malformed, or a fragment).
fn parse(ifindex: u32, ip: &[u8]) -> Option<Parsed<'_>> {
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            if ihl < 20 || total < ihl || total > ip.len() {
                return None;
            }
            // More fragments, or an offset: not reassembled here.
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return None;
            }
            let a = |at: usize| {
                let b: [u8; 4] = ip[at..at + 4].try_into().unwrap_or([0; 4]);
                IpAddress::Ipv4(Ipv4Address::from(b))
            };
            Some(Parsed {
                v6: false,
                ifindex,
                ip: &ip[..total],
                payload: &ip[ihl..total],
                proto: ip[9],
                src: a(12),
                dst: a(16),
                ttl: ip[8],
            })
        }
        6 => {
            if ip.len() < 40 {
                return None;
            }
            let end = (40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))).min(ip.len());
            let a = |at: usize| {
                let b: [u8; 16] = ip[at..at + 16].try_into().unwrap_or([0; 16]);
                IpAddress::Ipv6(Ipv6Address::from(b))
            };
            // Hop-by-hop, routing and destination options are skipped;
            // a fragment is not reassembled.
            let (mut next, mut at) = (ip[6], 40);
            while matches!(next, 0 | 43 | 60) {
                let h = ip.get(at..at + 2)?;
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            if next == 44 || at > end {
                return None;
            }
            Some(Parsed {
                v6: true,
                ifindex,
                ip: &ip[..end],
                payload: &ip[at..end],
                proto: next,
                src: a(8),
                dst: a(24),
                ttl: ip[7],
            })
        }
        _ => None,
    }
}

/// The raw and ping sockets of one stack, and the ping sockets' idents.
#[derive(Default)]
pub struct RawSocks {
    list: spin::Mutex<Vec<Weak<RawSocket>>>,
    count: AtomicUsize,
    /// (IPv6, ident) of the bound ping sockets, and how many have it.
    idents: spin::Mutex<BTreeMap<(bool, u16), usize>>,
    next_ident: AtomicUsize,
}

impl RawSocks {
    pub fn add(&self, s: Weak<RawSocket>) {
        let mut l = self.list.lock();
        l.retain(|w| w.strong_count() > 0);
        l.push(s);
        self.count.store(l.len(), Ordering::Release);
    }

    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Takes `want` (shared with any socket that has it), or with 0 the
    /// next ident no socket has after the last one given, as ping_get_port
    /// (EADDRINUSE when none is free).
    fn take_ident(&self, v6: bool, want: u16) -> KResult<u16> {
        let mut ids = self.idents.lock();
        if want != 0 {
            *ids.entry((v6, want)).or_insert(0) += 1;
            return Ok(want);
        }
        for _ in 0..=u16::MAX as usize {
            let n = self.next_ident.fetch_add(1, Ordering::Relaxed) as u16;
            if n != 0 && !ids.contains_key(&(v6, n)) {
                ids.insert((v6, n), 1);
                return Ok(n);
            }
        }
        Err(Errno::EADDRINUSE)
    }

    fn put_ident(&self, v6: bool, ident: u16) {
        let mut ids = self.idents.lock();
        if let Some(n) = ids.get_mut(&(v6, ident)) {
            *n -= 1;
            if *n == 0 {
                ids.remove(&(v6, ident));
            }
        }
    }

    /// Gives an IP packet interface `ifindex` received (for this host) to
    /// each raw and ping socket that wants it. Returns whether a raw socket
    /// took it (for a protocol the stack does not know, no "protocol
    /// unreachable" is then sent).
    pub fn input(&self, ifindex: u32, ip: &[u8]) -> bool {
        if !self.any() {
            return false;
        }
        let Some(p) = parse(ifindex, ip) else {
            return false;
        };
        let socks: Vec<Arc<RawSocket>> = {
            let mut l = self.list.lock();
            l.retain(|w| w.strong_count() > 0);
            self.count.store(l.len(), Ordering::Release);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        let mut raw = false;
        for s in socks {
            if s.kind == RawKind::Raw && s.protocol == p.proto && s.v6 == p.v6 {
                raw = true;
            }
            s.deliver(&p);
        }
        raw
    }
}

impl FileOps for RawSocket {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let r = self.recv(buf.len(), false)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        // Sends go through the kernel's socket path.
        Err(Errno::EOPNOTSUPP)
    }

    fn poll(&self) -> u16 {
        self.poll_mask()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.wq)
    }

    fn ioctl(
        &self,
        _: &OpenFile,
        cmd: u32,
        arg: u64,
        mem: &dyn kestrel_vfs::UserSpace,
    ) -> KResult<u64> {
        crate::packet::queue_ioctl(self.shared.as_ref(), || self.next_len(), cmd, arg, mem)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums() {
        // An echo request with id 1 seq 1 and no data sums to 0xf7fd.
        let m = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(0, &m), 0xf7fd);
        let p = build_v4(
            IpAddress::v4(127, 0, 0, 1),
            IpAddress::v4(127, 0, 0, 1),
            1,
            64,
            0,
            7,
            &m,
        )
        .unwrap();
        assert_eq!(checksum(0, &p[..20]), 0);
        let q = parse(1, &p).unwrap();
        assert_eq!(q.proto, 1);
        assert_eq!(q.payload, &m);
    }
}
