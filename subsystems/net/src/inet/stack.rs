//! The network actor's state: smoltcp's interfaces and socket sets, and the
//! stack's side of every socket.
//!
//! One [`Stack`] serves every interface, and one task owns it: nothing here is
//! shared, so smoltcp is never locked. Each interface has its own smoltcp
//! `Interface` and `SocketSet`, because smoltcp sends whatever a socket set
//! has to send through the interface being polled: with one set for `lo` and
//! `eth0`, `eth0`'s default route would carry loopback traffic. A socket bound
//! to a wildcard therefore has a smoltcp socket in each set it may use.
//!
//! [`Stack::poll`] is one round of the actor: the mailbox (sockets that want
//! something), then each interface's received frames one at a time (smoltcp's
//! `poll_ingress_single`), the sockets smoltcp woke, and what there is to send
//! (`poll_egress`). [`Stack::poll_at`] says when smoltcp next needs a poll
//! (a retransmission, a delayed ACK, TIME-WAIT ending) if nothing else comes.
//!
//! **Listening.** smoltcp has no backlog: a listening smoltcp socket becomes
//! the connection when a SYN arrives. Before each frame reaches smoltcp the
//! stack looks at it: a SYN for a port one of our sockets listens on gets a
//! fresh listening smoltcp socket (a *slot*) for its destination address, if
//! the listener's backlog has room; otherwise it is dropped, as Linux drops a
//! SYN when the accept queue is full, and the client retries. A SYN for a port
//! nobody listens on reaches smoltcp, which answers with a reset
//! (ECONNREFUSED). So an idle listener costs no smoltcp socket and no buffer,
//! and a burst of SYNs is taken whole. A slot that completes its handshake
//! becomes a new [`InetSocket`] in the listener's accept queue.
//!
//! **Closing.** A socket whose files are all closed stays with the stack while
//! it has bytes to deliver: they go, then the FIN, and the smoltcp socket is
//! removed when the connection is over (TIME-WAIT included). Closing with
//! unread received data, or with SO_LINGER set to 0, resets the connection
//! instead, as Linux's tcp_close does.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::task::Waker;

use kestrel_abi::Errno;
use kestrel_abi::fs::*;
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::{raw, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, HardwareAddress, IpAddress, IpCidr,
    IpEndpoint, IpListenEndpoint, IpProtocol, Ipv4Address, Ipv4Packet, Ipv6Address, Ipv6Packet,
    TcpPacket,
};

use super::addr::Local;
use super::socket::{DGRAM_OVERHEAD, Datagram, InetSocket, Kind, Phase, RxInfo};
use super::{IfaceInfo, Link, Shared};

/// smoltcp's buffers for one TCP connection, at most. The socket's own queues
/// hold more (SO_RCVBUF, the send queue); these only need to keep the window
/// open between two rounds of the actor. The window scale in the SYN is chosen
/// for TCP_RX_BUF (with 64 KiB it scales, by one).
pub const TCP_RX_BUF: usize = 64 * 1024;
pub const TCP_TX_BUF: usize = 64 * 1024;
/// What a connection starts with: an idle connection, or one that trades small
/// messages, keeps these (a heap block of 2 KiB each, no page); one that moves
/// more than they hold gets the full size ([`grow_buffers`]), as Linux's
/// buffers grow with what is queued. Linux's idle connection costs a few KiB;
/// with 64 KiB each from the start, one cost 130 KiB and 10,000 did not fit in
/// a 1 GiB machine.
pub const TCP_BUF_INITIAL: usize = 2048;
/// What one connection costs the stack before any data: the two initial
/// buffers and smoltcp's socket (about 1 KiB, boxed in the set).
const TCP_CONN_COST: usize = 2 * TCP_BUF_INITIAL + 2048;
/// smoltcp's UDP buffers: room for a few of the largest datagrams.
const UDP_BUF_BYTES: usize = 2 * 65_536;
const UDP_BUF_PACKETS: usize = 64;
/// How long a connection attempt may go unanswered (Linux gives up after
/// six SYN retransmissions, about 127 s), and an established connection may
/// go without an acknowledgement of data in flight, before ETIMEDOUT.
pub const CONNECT_TIMEOUT_MS: u64 = 75_000;
pub const DATA_TIMEOUT_MS: u64 = 120_000;
/// Frames one round takes from one interface before the others get a turn.
const FRAMES_PER_ROUND: usize = 256;
/// Sockets one round takes from the mailbox.
const MAIL_PER_ROUND: usize = 1024;
/// Sockets one egress pass dispatches: the round can stop between passes
/// (`Stack::poll_within`) however many sockets have something to send.
const EGRESS_PER_PASS: usize = 256;
/// Frames loopback holds before smoltcp must wait to send more.
const LO_QUEUE: usize = 4096;

/// How the kernel describes an interface to [`Stack::new`].
pub struct IfaceConfig {
    pub name: alloc::string::String,
    /// None for loopback (raw IP, no link layer).
    pub mac: Option<[u8; 6]>,
    pub mtu: usize,
    pub addrs: Vec<IpCidr>,
    pub gateway4: Option<smoltcp::wire::Ipv4Address>,
    pub gateway6: Option<smoltcp::wire::Ipv6Address>,
    pub link: Arc<Link>,
}

/// The device smoltcp polls: the one frame the actor hands it next, and the
/// frames it sends, collected for the actor to pass on.
struct Port {
    medium: Medium,
    mtu: usize,
    loopback: bool,
    staged: Option<Vec<u8>>,
    out: Vec<Vec<u8>>,
    /// Frames smoltcp may still send this round.
    room: usize,
}

struct RxTok(Vec<u8>);
struct TxTok<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxTok {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl phy::Device for Port {
    type RxToken<'a> = RxTok;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxTok, TxTok<'_>)> {
        let f = self.staged.take()?;
        Some((RxTok(f), TxTok(&mut self.out)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxTok<'_>> {
        if self.room == 0 {
            return None;
        }
        self.room -= 1;
        Some(TxTok(&mut self.out))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = self.medium;
        c.max_transmission_unit = self.mtu;
        if self.loopback {
            // Nothing corrupts a packet between two of our own sockets: no
            // checksums checked, as Linux's loopback (CHECKSUM_UNNECESSARY).
            // The IP header's and ICMP's are still filled in: a raw socket
            // sees them (ping checks its reply's), and they cost little.
            c.checksum = ChecksumCapabilities::ignored();
            c.checksum.ipv4 = Checksum::Tx;
            c.checksum.icmpv4 = Checksum::Tx;
            c.checksum.icmpv6 = Checksum::Tx;
        }
        c
    }
}

struct Iface {
    iface: Interface,
    set: SocketSet<'static>,
    dev: Port,
    link: Arc<Link>,
    /// Administratively up ([`IfaceInfo::up`]).
    up: bool,
}

/// The waker smoltcp holds for a socket: marks it dirty and wakes the actor.
struct DirtyWaker {
    id: u64,
    shared: Weak<Shared>,
}

impl alloc::task::Wake for DirtyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(s) = self.shared.upgrade() {
            s.mark_dirty(self.id);
            s.notify.notify();
        }
    }
}

/// The stack's side of one socket.
struct Entry {
    sock: Arc<InetSocket>,
    waker: Waker,
    /// A TCP connection: (interface, smoltcp socket).
    tcp: Option<(usize, SocketHandle)>,
    /// A UDP socket's smoltcp sockets, one per interface it is bound on.
    udp: Vec<(usize, SocketHandle)>,
    /// A listener's slots: listening or handshaking smoltcp sockets.
    slots: Vec<(usize, SocketHandle)>,
    /// The listener is in [`Stack::listeners`].
    listening_on: Option<u16>,
    /// The TCP state seen at the last sync.
    seen: tcp::State,
    fin_sent: bool,
    /// When the connection attempt started, and when data last moved (to
    /// tell a timeout from a reset).
    started: u64,
    progress: u64,
}

/// Which smoltcp socket each TCP connection of an interface is, by its
/// (local, remote) endpoints: the actor names it to smoltcp before handing it
/// a segment ([`SocketSet::set_tcp_hint`]), so that a segment costs one
/// lookup here rather than a look at every socket of the set. An entry may go
/// stale (smoltcp checks the hint); it goes when its socket leaves the set.
#[derive(Default)]
struct ConnIndex {
    by_tuple: BTreeMap<(usize, IpEndpoint, IpEndpoint), SocketHandle>,
    by_handle: BTreeMap<(usize, SocketHandle), (IpEndpoint, IpEndpoint)>,
}

impl ConnIndex {
    fn insert(&mut self, i: usize, h: SocketHandle, local: IpEndpoint, remote: IpEndpoint) {
        if let Some((l, r)) = self.by_handle.insert((i, h), (local, remote))
            && self.by_tuple.get(&(i, l, r)) == Some(&h)
        {
            self.by_tuple.remove(&(i, l, r));
        }
        self.by_tuple.insert((i, local, remote), h);
    }

    fn get(&self, i: usize, local: IpEndpoint, remote: IpEndpoint) -> Option<SocketHandle> {
        self.by_tuple.get(&(i, local, remote)).copied()
    }

    /// Socket `h` of interface `i` left the set.
    fn forget(&mut self, i: usize, h: SocketHandle) {
        if let Some((l, r)) = self.by_handle.remove(&(i, h))
            && self.by_tuple.get(&(i, l, r)) == Some(&h)
        {
            self.by_tuple.remove(&(i, l, r));
        }
    }
}

/// Counters for /proc/net/snmp-like reports and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct StackStats {
    pub syn_dropped: u64,
    pub slots_made: u64,
    pub accepted: u64,
}

/// The actor's state.
pub struct Stack {
    shared: Arc<Shared>,
    ifaces: Vec<Iface>,
    socks: BTreeMap<u64, Entry>,
    /// TCP port → the listeners on it.
    listeners: BTreeMap<u16, Vec<u64>>,
    index: ConnIndex,
    pub stats: StackStats,
    /// The configuration generation last applied ([`Shared::config_gen`]).
    config_seen: u64,
    /// The IP headers of the latest UDP packets received, oldest first, until
    /// their datagrams reach their sockets (smoltcp keeps no TTL or TOS).
    udp_seen: VecDeque<SeenUdp>,
    /// Each interface's smoltcp raw socket, made for the first packet a raw
    /// socket sends through it (smoltcp's raw sockets only send here).
    raw_tx: Vec<Option<SocketHandle>>,
    /// The ids [`Stack::sync_dirty`] works through, swapped with the shared
    /// list each round, so that neither list loses its capacity (a socket's
    /// wake used to allocate the list again at every round).
    dirty_ids: Vec<u64>,
}

/// A received UDP packet's addresses and IP header fields.
#[derive(Debug, Clone, Copy)]
struct SeenUdp {
    iface: usize,
    src: IpEndpoint,
    dst: IpEndpoint,
    ttl: u8,
    tos: u8,
}

/// The hop limit smoltcp gets for a socket's IP_TTL / IPV6_UNICAST_HOPS:
/// smoltcp refuses 0 (an IPv6 hop limit Linux allows, for local delivery),
/// which takes the default instead.
fn hop_limit(ttl: u8) -> Option<u8> {
    Some(ttl).filter(|&t| t != 0)
}

/// How many UDP headers [`Stack::udp_seen`] keeps (a datagram smoltcp
/// dropped leaves its header until newer ones push it out).
const UDP_SEEN_MAX: usize = 128;

/// A UDP packet's source and destination and its TTL (hop limit) and TOS
/// (traffic class), from its IP header.
fn udp_header_of(ip: &[u8]) -> Option<(IpEndpoint, IpEndpoint, u8, u8)> {
    let port = |b: &[u8], at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Udp || p.frag_offset() != 0 {
                return None;
            }
            let hl = usize::from(p.header_len());
            let (src, dst) = (IpAddress::Ipv4(p.src_addr()), IpAddress::Ipv4(p.dst_addr()));
            Some((
                IpEndpoint::new(src, port(ip, hl)?),
                IpEndpoint::new(dst, port(ip, hl + 2)?),
                p.hop_limit(),
                *ip.get(1)?,
            ))
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Udp {
                return None;
            }
            let (src, dst) = (IpAddress::Ipv6(p.src_addr()), IpAddress::Ipv6(p.dst_addr()));
            Some((
                IpEndpoint::new(src, port(ip, 40)?),
                IpEndpoint::new(dst, port(ip, 42)?),
                p.hop_limit(),
                p.traffic_class(),
            ))
        }
        _ => None,
    }
}

fn instant(ns: u64) -> Instant {
    Instant::from_micros((ns / 1000) as i64)
}

impl Stack {
    /// A stack over `ifaces` (`lo` first) with `seed` for smoltcp's initial
    /// sequence numbers and ports. Returns the stack (for the actor) and what
    /// the sockets share.
    pub fn new(ifaces: Vec<IfaceConfig>, seed: u64, now_ns: u64) -> (Stack, Arc<Shared>) {
        let infos = ifaces
            .iter()
            .enumerate()
            .map(|(i, c)| IfaceInfo {
                name: c.name.clone(),
                index: i as u32 + 1,
                mac: c.mac,
                mtu: c.mtu,
                max_mtu: c.mtu,
                addrs: c.addrs.clone(),
                gateway4: c.gateway4,
                gateway6: c.gateway6,
                routes: Vec::new(),
                up: true,
                link: c.link.clone(),
            })
            .collect::<Vec<_>>();
        let all_addrs: Vec<IpCidr> = ifaces.iter().flat_map(|c| c.addrs.clone()).collect();
        let shared = Shared::new(infos);
        let mut out = Vec::new();
        for (i, c) in ifaces.into_iter().enumerate() {
            let loopback = c.mac.is_none();
            let (medium, hw) = match c.mac {
                None => (Medium::Ip, HardwareAddress::Ip),
                Some(m) => (
                    Medium::Ethernet,
                    HardwareAddress::Ethernet(EthernetAddress(m)),
                ),
            };
            let mut dev = Port {
                medium,
                mtu: if loopback { c.mtu } else { c.mtu + 14 },
                loopback,
                staged: None,
                out: Vec::new(),
                room: 0,
            };
            let mut cfg = Config::new(hw);
            cfg.random_seed = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut iface = Interface::new(cfg, &mut dev, instant(now_ns));
            iface.update_ip_addrs(|a| {
                let list = if loopback { &all_addrs } else { &c.addrs };
                for cidr in list {
                    // smoltcp holds a few addresses per interface; the rest are
                    // still this host's (lo takes every packet, below).
                    let _ = a.push(*cidr);
                }
            });
            if loopback {
                // Everything on lo is for this host: any 127.x, and the other
                // interfaces' addresses (Linux routes them through lo).
                iface.set_any_ip(true);
            }
            if let Some(gw) = c.gateway4 {
                let _ = iface.routes_mut().add_default_ipv4_route(gw);
            }
            if let Some(gw) = c.gateway6 {
                let _ = iface.routes_mut().add_default_ipv6_route(gw);
            }
            out.push(Iface {
                iface,
                set: {
                    let mut set = SocketSet::new(Vec::new());
                    set.set_egress_budget(EGRESS_PER_PASS);
                    set
                },
                dev,
                link: c.link,
                up: true,
            });
        }
        (
            Stack {
                shared: shared.clone(),
                ifaces: out,
                socks: BTreeMap::new(),
                listeners: BTreeMap::new(),
                index: ConnIndex::default(),
                stats: StackStats::default(),
                config_seen: 0,
                udp_seen: VecDeque::new(),
                raw_tx: Vec::new(),
                dirty_ids: Vec::new(),
            },
            shared,
        )
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Sockets the stack works for (connections, listeners, orphans).
    pub fn socket_count(&self) -> usize {
        self.socks.len()
    }

    /// Whether smoltcp's interface `i` holds the address `a`.
    pub fn has_addr(&self, i: usize, a: IpAddress) -> bool {
        self.ifaces[i].iface.has_ip_addr(a)
    }

    /// The routes smoltcp's interface `i` has (its default routes included).
    pub fn route_count(&mut self, i: usize) -> usize {
        let mut n = 0;
        self.ifaces[i].iface.routes_mut().update(|r| n = r.len());
        n
    }

    /// Whether interface `i` is up as the actor sees it.
    pub fn is_up(&self, i: usize) -> bool {
        self.ifaces[i].up
    }

    /// The sizes of smoltcp's receive and send buffers for socket `id`'s
    /// connection, if it has one.
    pub fn tcp_buffers(&mut self, id: u64) -> Option<(usize, usize)> {
        let (i, h) = self.socks.get(&id)?.tcp?;
        let t = f_socket(&mut self.ifaces, i, h);
        Some((t.recv_capacity(), t.send_capacity()))
    }

    /// smoltcp sockets in all sets.
    pub fn smoltcp_socket_count(&self) -> usize {
        self.ifaces.iter().map(|f| f.set.iter().count()).sum()
    }

    /// One round of the actor at time `now_ns`. Returns whether there is more
    /// to do at once (frames or mail left over): the caller yields and calls
    /// again rather than sleeping.
    pub fn poll(&mut self, now_ns: u64) -> bool {
        self.poll_within(now_ns, &|| false)
    }

    /// [`Stack::poll`], ending the round early, with more left to do, once
    /// `over()` says the round has had its time: the actor shares its CPU
    /// with every other task, and a round that takes all the mail and frames
    /// of thousands of connections at once kept it for tens of milliseconds.
    /// At least one mail and one frame of each interface are taken.
    pub fn poll_within(&mut self, now_ns: u64, over: &dyn Fn() -> bool) -> bool {
        let ts = instant(now_ns);
        let mut more = false;
        self.apply_config();
        for n in 0..MAIL_PER_ROUND {
            if n > 0 && over() {
                break;
            }
            let Some(s) = self.shared.take_mail() else {
                break;
            };
            self.sync(&s, now_ns);
        }
        self.sync_dirty(now_ns);
        self.raw_output();
        for i in 0..self.ifaces.len() {
            for n in 0..FRAMES_PER_ROUND {
                if n > 0 && over() {
                    break;
                }
                let Some(frame) = self.ifaces[i].link.pop_rx() else {
                    break;
                };
                if !self.ifaces[i].up {
                    use core::sync::atomic::Ordering::Relaxed;
                    self.ifaces[i].link.rx_dropped.fetch_add(1, Relaxed);
                    continue;
                }
                self.tap(i, &frame, false);
                if self.raw_input(i, &frame) {
                    continue;
                }
                if !self.admit(i, &frame, now_ns) {
                    continue;
                }
                let f = &mut self.ifaces[i];
                f.dev.staged = Some(frame);
                let r = f.iface.poll_ingress_single(ts, &mut f.dev, &mut f.set);
                f.dev.staged = None;
                // A reply smoltcp made while receiving (an RST, an ACK) is in `out`.
                self.flush(i);
                if r == PollIngressSingleResult::SocketStateChanged {
                    self.sync_dirty(now_ns);
                }
            }
            more |= self.egress(i, ts, over);
        }
        self.sync_dirty(now_ns);
        for i in 0..self.ifaces.len() {
            more |= self.egress(i, ts, over);
        }
        more || self.shared.mail_pending() || self.ifaces.iter().any(|f| f.link.rx_pending())
    }

    /// Gives smoltcp's interfaces the configuration the interfaces now have
    /// (netlink and the interface ioctls change [`Shared`]'s copy): their
    /// addresses, lo holding every address of the host, and their routes.
    fn apply_config(&mut self) {
        let now = self
            .shared
            .config_gen
            .load(core::sync::atomic::Ordering::Acquire);
        if now == self.config_seen {
            return;
        }
        self.config_seen = now;
        let infos = self.shared.interfaces();
        let all: Vec<IpCidr> = infos.iter().flat_map(|f| f.addrs.clone()).collect();
        for (f, info) in self.ifaces.iter_mut().zip(&infos) {
            f.up = info.up;
            if !f.dev.loopback {
                f.dev.mtu = info.mtu + 14;
            }
            let list = if f.dev.loopback { &all } else { &info.addrs };
            f.iface.update_ip_addrs(|a| {
                a.clear();
                for cidr in list {
                    // Beyond smoltcp's room an address is still this host's
                    // (lo takes every packet).
                    let _ = a.push(*cidr);
                }
            });
            let routes = f.iface.routes_mut();
            routes.update(|r| r.clear());
            if let Some(gw) = info.gateway4 {
                let _ = routes.add_default_ipv4_route(gw);
            }
            if let Some(gw) = info.gateway6 {
                let _ = routes.add_default_ipv6_route(gw);
            }
            routes.update(|r| {
                for rt in &info.routes {
                    if let Some(gw) = rt.gateway {
                        let _ = r.push(smoltcp::iface::Route {
                            cidr: rt.dst,
                            via_router: gw,
                            preferred_until: None,
                            expires_at: None,
                        });
                    }
                }
            });
        }
    }

    /// When smoltcp wants the next poll if nothing else happens (ns), or None.
    pub fn poll_at(&mut self, now_ns: u64) -> Option<u64> {
        let ts = instant(now_ns);
        self.ifaces
            .iter_mut()
            .filter_map(|f| f.iface.poll_at(ts, &f.set))
            .map(|t| (t.total_micros().max(0) as u64).saturating_mul(1000))
            .min()
    }

    /// Lets smoltcp send what its sockets have, within the room the link has.
    /// Each pass over the set sends at most one segment of each socket, and
    /// costs a look at every socket: passes go on while they send, up to 64,
    /// or until `over()`; then true says there may be more to send.
    fn egress(&mut self, i: usize, ts: Instant, over: &dyn Fn() -> bool) -> bool {
        for _ in 0..64 {
            let f = &mut self.ifaces[i];
            f.dev.room = if f.dev.loopback {
                LO_QUEUE.saturating_sub(f.link.rx.lock().len())
            } else {
                super::LINK_QUEUE.saturating_sub(f.link.tx.lock().len())
            };
            let r = f.iface.poll_egress(ts, &mut f.dev, &mut f.set);
            self.flush(i);
            if r == PollResult::None {
                return false;
            }
            if over() {
                break;
            }
        }
        true
    }

    /// Passes the frames smoltcp sent on: back into lo's receive queue, or to
    /// the device's transmit queue.
    fn flush(&mut self, i: usize) {
        let f = &mut self.ifaces[i];
        if !f.up {
            // Down: what smoltcp sends goes nowhere (it retransmits later).
            f.dev.out.clear();
            return;
        }
        if self.shared.taps.any() {
            let out = core::mem::take(&mut self.ifaces[i].dev.out);
            for frame in &out {
                self.tap(i, frame, true);
            }
            self.ifaces[i].dev.out = out;
        }
        let f = &mut self.ifaces[i];
        for frame in f.dev.out.drain(..) {
            if f.dev.loopback {
                use core::sync::atomic::Ordering::Relaxed;
                let len = frame.len() as u64;
                f.link.rx_frames.fetch_add(1, Relaxed);
                f.link.rx_bytes.fetch_add(len, Relaxed);
                f.link.tx_frames.fetch_add(1, Relaxed);
                f.link.tx_bytes.fetch_add(len, Relaxed);
                f.link.rx.lock().push_back(frame);
            } else {
                f.link.push_tx(frame);
            }
        }
    }

    /// Gives a frame interface `i` received to the raw and ping sockets if
    /// it is an IP packet for this host. True: a raw socket took a packet
    /// of a protocol smoltcp does not know, which smoltcp then need not see
    /// (it would answer "protocol unreachable"; Linux does not when a raw
    /// socket took it).
    fn raw_input(&self, i: usize, frame: &[u8]) -> bool {
        let raws = &self.shared.raws;
        if !raws.any() {
            return false;
        }
        let ip: &[u8] = if self.ifaces[i].dev.loopback {
            frame
        } else {
            let Ok(eth) = EthernetFrame::new_checked(frame) else {
                return false;
            };
            match eth.ethertype() {
                EthernetProtocol::Ipv4 | EthernetProtocol::Ipv6 => {}
                _ => return false,
            }
            let ip = &frame[14..];
            // Only what is for this host (its addresses, broadcast,
            // multicast), not what passes by.
            let dst = match ip.first().map(|b| b >> 4) {
                Some(4) => Ipv4Packet::new_checked(ip).map(|p| IpAddress::Ipv4(p.dst_addr())),
                Some(6) => Ipv6Packet::new_checked(ip).map(|p| IpAddress::Ipv6(p.dst_addr())),
                _ => return false,
            };
            let Ok(dst) = dst else {
                return false;
            };
            if !(dst.is_multicast() || self.shared.is_local(dst) || self.shared.is_broadcast(dst)) {
                return false;
            }
            ip
        };
        let took = raws.input(i as u32 + 1, ip);
        let proto = match ip.first().map(|b| b >> 4) {
            Some(4) => ip.get(9).copied(),
            Some(6) => ip.get(6).copied(),
            _ => None,
        };
        // ICMP, TCP, UDP, ICMPv6, and IPv6's extension headers: smoltcp's.
        took && !matches!(proto, Some(0 | 1 | 6 | 17 | 43 | 44 | 58 | 60))
    }

    /// Hands the packets raw sockets sent through a NIC to that interface's
    /// smoltcp raw socket, for the egress pass to send. One that does not
    /// fit is dropped (as a full device queue drops).
    fn raw_output(&mut self) {
        const RAW_TX_PACKETS: usize = 64;
        const RAW_TX_BYTES: usize = 256 * 1024;
        let out = self.shared.take_raw_out();
        for (i, packet) in out {
            if i >= self.ifaces.len() || !self.ifaces[i].up {
                continue;
            }
            if self.raw_tx.len() < self.ifaces.len() {
                self.raw_tx.resize(self.ifaces.len(), None);
            }
            let h = match self.raw_tx[i] {
                Some(h) => h,
                None => {
                    let rx =
                        raw::PacketBuffer::new(vec![raw::PacketMetadata::EMPTY; 1], vec![0u8; 0]);
                    let tx = raw::PacketBuffer::new(
                        vec![raw::PacketMetadata::EMPTY; RAW_TX_PACKETS],
                        vec![0u8; RAW_TX_BYTES],
                    );
                    let sock = raw::Socket::new(None, None, rx, tx);
                    let Some(h) = self.ifaces[i].set.try_add(sock) else {
                        continue;
                    };
                    self.raw_tx[i] = Some(h);
                    h
                }
            };
            let r = self.ifaces[i].set.get_mut::<raw::Socket>(h);
            let _ = r.send_slice(&packet);
        }
    }

    /// Shows a frame interface `i` received or sent to the packet sockets.
    fn tap(&self, i: usize, frame: &[u8], outgoing: bool) {
        let taps = &self.shared.taps;
        if !taps.any() {
            return;
        }
        let f = &self.ifaces[i];
        // smoltcp's hardware_addr() asserts an Ethernet medium: lo has none.
        let mac = if f.dev.loopback {
            None
        } else {
            match f.iface.hardware_addr() {
                HardwareAddress::Ethernet(m) => Some(m.0),
                _ => None,
            }
        };
        let at = crate::packet::TapPoint {
            ifindex: i as u32 + 1,
            mac,
            outgoing,
            sender: 0,
        };
        if f.dev.loopback {
            taps.tap_ip(&at, frame);
        } else {
            taps.tap(&at, frame);
        }
    }

    fn sync_dirty(&mut self, now: u64) {
        let mut ids = core::mem::take(&mut self.dirty_ids);
        loop {
            ids.clear();
            self.shared.swap_dirty(&mut ids);
            if ids.is_empty() {
                break;
            }
            for &id in &ids {
                if let Some(s) = self.socks.get(&id).map(|e| e.sock.clone()) {
                    self.sync(&s, now);
                }
            }
        }
        self.dirty_ids = ids;
    }

    /// Looks at a received frame before smoltcp does: false drops it. A SYN
    /// for one of our listeners gets a listening slot (or is dropped when the
    /// backlog is full).
    fn admit(&mut self, i: usize, frame: &[u8], now: u64) -> bool {
        // Nothing said about an earlier frame may apply to this one.
        self.ifaces[i].set.set_tcp_hint(None);
        let ip: &[u8] = if self.ifaces[i].dev.loopback {
            frame
        } else {
            let Ok(eth) = EthernetFrame::new_checked(frame) else {
                return true;
            };
            match eth.ethertype() {
                EthernetProtocol::Ipv4 | EthernetProtocol::Ipv6 => {}
                _ => return true,
            }
            &frame[14..]
        };
        if let Some((src, dst, ttl, tos)) = udp_header_of(ip) {
            if self.udp_seen.len() >= UDP_SEEN_MAX {
                self.udp_seen.pop_front();
            }
            self.udp_seen.push_back(SeenUdp {
                iface: i,
                src,
                dst,
                ttl,
                tos,
            });
            return true;
        }
        if let Some((dst, sport, dport)) = port_unreachable_of(ip) {
            self.udp_refused(IpEndpoint::new(dst, dport), sport);
            return true;
        }
        let Some((src, dst, tcp)) = tcp_of(ip) else {
            return true;
        };
        let Ok(t) = TcpPacket::new_checked(tcp) else {
            return true;
        };
        let port = t.dst_port();
        let remote = IpEndpoint::new(src, t.src_port());
        let hint = self.index.get(i, IpEndpoint::new(dst, port), remote);
        if t.ack() || t.rst() {
            // Every connection is in the index, and a segment with an ACK or
            // a reset is not for a listening socket: no socket but the
            // indexed one takes it, and smoltcp need not look at each when
            // that one does not (the ACKs and resets of connections closed or
            // gone, thousands when many close at once).
            self.ifaces[i].set.set_tcp_hint_only(hint);
        } else {
            self.ifaces[i].set.set_tcp_hint(hint);
        }
        if !t.syn() || t.ack() || t.rst() {
            return true;
        }
        let Some(lid) = self.listener_for(port, dst) else {
            return true;
        };
        let Some(e) = self.socks.get_mut(&lid) else {
            return true;
        };
        // A slot already listening here, or handshaking with this peer (a
        // retransmitted SYN), takes it.
        let mut handshakes = 0;
        for &(si, h) in &e.slots {
            let s = f_socket(&mut self.ifaces, si, h);
            match s.state() {
                tcp::State::Listen if si == i && s.listen_endpoint().addr == Some(dst) => {
                    return true;
                }
                tcp::State::Listen => {}
                _ => {
                    if s.remote_endpoint() == Some(remote) {
                        return true;
                    }
                    handshakes += 1;
                }
            }
        }
        let (backlog, queued, opts) = {
            let st = e.sock.lock();
            (st.backlog, st.accept_q.len(), st.opts.clone())
        };
        // Linux's sk_acceptq_is_full: more than `backlog` waiting; and a
        // connection's buffers must fit in the memory user data may use.
        if handshakes + queued > backlog || !kestrel_vfs::may_hold(TCP_CONN_COST) {
            self.stats.syn_dropped += 1;
            return false;
        }
        let mut s = new_tcp();
        if s.listen(IpListenEndpoint {
            addr: Some(dst),
            port,
        })
        .is_err()
        {
            return true;
        }
        s.set_nagle_enabled(!opts.nodelay);
        s.set_timeout(Some(Duration::from_millis(CONNECT_TIMEOUT_MS)));
        s.register_recv_waker(&e.waker);
        s.register_send_waker(&e.waker);
        // The set cannot grow (out of memory): the SYN is dropped, as when
        // the backlog is full.
        let Some(h) = self.ifaces[i].set.try_add(s) else {
            self.stats.syn_dropped += 1;
            return false;
        };
        // The SYN goes to this slot, which becomes the connection.
        self.index.insert(i, h, IpEndpoint::new(dst, port), remote);
        self.ifaces[i].set.set_tcp_hint(Some(h));
        e.slots.push((i, h));
        e.progress = now;
        self.stats.slots_made += 1;
        true
    }

    /// An ICMP "port unreachable" came back for a datagram from our `port` to
    /// `remote`: a UDP socket connected there gets ECONNREFUSED (as Linux's
    /// __udp4_lib_err; unconnected ones hear nothing without IP_RECVERR).
    fn udp_refused(&mut self, remote: IpEndpoint, port: u16) {
        for e in self.socks.values() {
            if e.udp.is_empty() {
                continue;
            }
            let mut st = e.sock.lock();
            if st.remote == Some(remote) && st.port.as_ref().map(|g| g.port()) == Some(port) {
                st.error = Some(Errno::ECONNREFUSED);
                drop(st);
                e.sock.wake(POLLERR);
                return;
            }
        }
    }

    /// The listener on `port` that a SYN to `dst` reaches: one bound to `dst`
    /// itself before a wildcard.
    fn listener_for(&self, port: u16, dst: IpAddress) -> Option<u64> {
        let ids = self.listeners.get(&port)?;
        let mut wild = None;
        for id in ids {
            let Some(e) = self.socks.get(id) else {
                continue;
            };
            let st = e.sock.lock();
            if st.phase != Phase::Listening || st.released {
                continue;
            }
            match st.local {
                Local::Addr(a) if a == dst => return Some(*id),
                l @ Local::Any { .. } if l.matches(dst) => wild = wild.or(Some(*id)),
                _ => {}
            }
        }
        wild
    }

    fn entry(&mut self, s: &Arc<InetSocket>, now: u64) -> &mut Entry {
        let shared = Arc::downgrade(&self.shared);
        self.socks.entry(s.id()).or_insert_with(|| Entry {
            sock: s.clone(),
            waker: Waker::from(Arc::new(DirtyWaker { id: s.id(), shared })),
            tcp: None,
            udp: Vec::new(),
            slots: Vec::new(),
            listening_on: None,
            seen: tcp::State::Closed,
            fin_sent: false,
            started: now,
            progress: now,
        })
    }

    /// Brings the stack's side of `s` in line with what the socket wants, and
    /// the socket in line with what happened.
    fn sync(&mut self, s: &Arc<InetSocket>, now: u64) {
        s.lock().queued = false;
        match s.kind() {
            Kind::Stream => {
                if core::mem::take(&mut s.lock().disconnect) {
                    self.disconnect(s, now);
                }
                let phase = s.lock().phase;
                if phase == Phase::Listening
                    || self
                        .socks
                        .get(&s.id())
                        .is_some_and(|e| e.listening_on.is_some())
                {
                    self.sync_listener(s, now);
                } else {
                    self.sync_tcp(s, now);
                }
            }
            Kind::Dgram => self.sync_udp(s, now),
        }
    }

    /// connect(AF_UNSPEC) unconnected `s`: its connection, if the stack has
    /// one, is reset (an orphan sends the RST) and `s` is an ordinary
    /// unconnected socket again, which the stack no longer holds.
    fn disconnect(&mut self, s: &Arc<InetSocket>, now: u64) {
        let id = s.id();
        let Some(e) = self.socks.get_mut(&id) else {
            return;
        };
        let conn = e.tcp.take();
        let listening = e.listening_on.is_some() || !e.slots.is_empty();
        if let Some((i, h)) = conn {
            let t = f_socket(&mut self.ifaces, i, h);
            t.abort();
            if t.local_endpoint().is_none() {
                self.ifaces[i].set.remove(h);
                self.index.forget(i, h);
            } else {
                self.orphan_slot(s, i, h, now);
            }
        }
        if !listening {
            self.socks.remove(&id);
            s.lock().attached = false;
        }
    }

    fn sync_listener(&mut self, s: &Arc<InetSocket>, now: u64) {
        let (phase, released, port) = {
            let mut st = s.lock();
            st.attached = true;
            (st.phase, st.released, st.port.as_ref().map(|g| g.port()))
        };
        let id = s.id();
        self.entry(s, now);
        let e = self.socks.get_mut(&id).expect("just made");
        if e.listening_on.is_none()
            && phase == Phase::Listening
            && !released
            && let Some(p) = port
        {
            e.listening_on = Some(p);
            self.listeners.entry(p).or_default().push(id);
        }
        let stop = released || phase != Phase::Listening;
        // Slots: promote the established, forget the dead.
        let mut promoted = Vec::new();
        let e = self.socks.get_mut(&id).expect("present");
        let mut keep = Vec::new();
        for (i, h) in core::mem::take(&mut e.slots) {
            let t = f_socket(&mut self.ifaces, i, h);
            match t.state() {
                _ if stop => {
                    t.abort();
                    promoted.push((i, h, false));
                }
                tcp::State::Listen | tcp::State::SynReceived => {
                    t.register_recv_waker(&e.waker);
                    t.register_send_waker(&e.waker);
                    keep.push((i, h));
                }
                tcp::State::Closed | tcp::State::TimeWait => promoted.push((i, h, false)),
                _ => promoted.push((i, h, true)),
            }
        }
        e.slots = keep;
        for (i, h, live) in promoted {
            if !live {
                // Aborted slots go after their RST (an orphan-like entry would
                // be overkill: smoltcp sends it at the next egress, and a slot
                // that was only listening has nobody to tell).
                let t = f_socket(&mut self.ifaces, i, h);
                if t.local_endpoint().is_none() {
                    self.ifaces[i].set.remove(h);
                    self.index.forget(i, h);
                } else {
                    self.orphan_slot(s, i, h, now);
                }
                continue;
            }
            self.promote(s, i, h, now);
        }
        if stop {
            let left = core::mem::take(&mut s.lock().accept_q);
            for c in left {
                c.release();
            }
            if let Some(p) = self.socks.get_mut(&id).and_then(|e| e.listening_on.take())
                && let Some(list) = self.listeners.get_mut(&p)
            {
                list.retain(|x| *x != id);
                if list.is_empty() {
                    self.listeners.remove(&p);
                }
            }
            let e = self.socks.get(&id).expect("present");
            if e.slots.is_empty() && released {
                self.socks.remove(&id);
            } else if !released {
                // shutdown(SHUT_RD) stopped it listening: it is an ordinary
                // unconnected socket again.
                self.socks.remove(&id);
                s.lock().attached = false;
            }
        }
        s.wake(POLLIN | POLLRDNORM);
    }

    /// A slot aborted with an RST still to send: kept as an orphan of its own
    /// until smoltcp has sent it.
    fn orphan_slot(&mut self, listener: &Arc<InetSocket>, i: usize, h: SocketHandle, now: u64) {
        let t = f_socket(&mut self.ifaces, i, h);
        let (Some(l), Some(r)) = (t.local_endpoint(), t.remote_endpoint()) else {
            self.ifaces[i].set.remove(h);
            self.index.forget(i, h);
            return;
        };
        let Some(port) = self.shared.ports.bind_shared(
            super::ports::Proto::Tcp,
            Local::Addr(l.addr),
            l.port,
            true,
        ) else {
            self.ifaces[i].set.remove(h);
            self.index.forget(i, h);
            return;
        };
        let c = InetSocket::accepted(listener, l, r, port);
        c.release();
        let e = self.entry(&c, now);
        e.tcp = Some((i, h));
        e.seen = tcp::State::Closed;
        e.fin_sent = true;
    }

    /// A slot's handshake completed: it becomes a connection in the
    /// listener's accept queue.
    fn promote(&mut self, listener: &Arc<InetSocket>, i: usize, h: SocketHandle, now: u64) {
        let t = f_socket(&mut self.ifaces, i, h);
        let (Some(l), Some(r)) = (t.local_endpoint(), t.remote_endpoint()) else {
            self.ifaces[i].set.remove(h);
            self.index.forget(i, h);
            return;
        };
        // The connection holds a binding of the listener's port (shared: it
        // never conflicts with the listener itself).
        let reuse = listener.lock().opts.reuseaddr;
        let guard = match self.shared.ports.bind_shared(
            super::ports::Proto::Tcp,
            Local::Addr(l.addr),
            l.port,
            reuse,
        ) {
            Some(g) => g,
            None => {
                f_socket(&mut self.ifaces, i, h).abort();
                return;
            }
        };
        let c = InetSocket::accepted(listener, l, r, guard);
        let e = self.entry(&c, now);
        e.tcp = Some((i, h));
        e.seen = tcp::State::Established;
        self.stats.accepted += 1;
        // Bytes (or a FIN) that came with the handshake move now.
        self.sync_tcp(&c, now);
        listener.lock().accept_q.push_back(c);
        listener.wake(POLLIN | POLLRDNORM);
    }

    fn sync_tcp(&mut self, s: &Arc<InetSocket>, now: u64) {
        let id = s.id();
        let wants_stack = {
            let st = s.lock();
            st.phase == Phase::Connecting || st.attached
        };
        if !wants_stack {
            return;
        }
        self.entry(s, now);
        let e = self.socks.get_mut(&id).expect("just made");
        let mut st = s.lock();
        st.attached = true;
        let mut wake = 0u16;
        if e.tcp.is_none() && st.phase == Phase::Connecting && !st.released {
            let remote = st.remote.expect("connect sets the peer");
            let local = IpListenEndpoint {
                addr: st.local_addr,
                port: st.port.as_ref().map_or(0, |g| g.port()),
            };
            match self.shared.route(remote.addr, st.local_addr) {
                Some(_) if !kestrel_vfs::may_hold(TCP_CONN_COST) => {
                    st.phase = Phase::Closed;
                    st.error = Some(Errno::ENOBUFS);
                    wake |= POLLOUT | POLLERR;
                }
                Some((i, _)) => {
                    let mut t = new_tcp();
                    t.set_nagle_enabled(!st.opts.nodelay);
                    t.set_hop_limit(hop_limit(st.opts.ttl));
                    t.set_timeout(Some(Duration::from_millis(CONNECT_TIMEOUT_MS)));
                    let f = &mut self.ifaces[i];
                    let connected = t.connect(f.iface.context(), remote, local);
                    let tuple = t.local_endpoint();
                    match connected.map(|()| f.set.try_add(t)) {
                        Ok(None) => {
                            st.phase = Phase::Closed;
                            st.error = Some(Errno::ENOBUFS);
                            wake |= POLLOUT | POLLERR;
                        }
                        Ok(Some(h)) => {
                            if let Some(l) = tuple {
                                self.index.insert(i, h, l, remote);
                            }
                            e.tcp = Some((i, h));
                            e.seen = tcp::State::SynSent;
                            e.started = now;
                            e.progress = now;
                        }
                        Err(_) => {
                            st.phase = Phase::Closed;
                            st.error = Some(Errno::EADDRNOTAVAIL);
                            wake |= POLLOUT | POLLERR;
                        }
                    }
                }
                None => {
                    st.phase = Phase::Closed;
                    st.error = Some(Errno::ENETUNREACH);
                    wake |= POLLOUT | POLLERR;
                }
            }
        }
        let mut remove = false;
        let mut sigurg = false;
        if let Some((i, h)) = e.tcp {
            let t = f_socket(&mut self.ifaces, i, h);
            t.set_nagle_enabled(!st.opts.nodelay);
            t.set_hop_limit(hop_limit(st.opts.ttl));
            t.set_keep_alive(
                st.opts
                    .keepalive
                    .then(|| Duration::from_secs(u64::from(st.opts.keepidle.max(1)))),
            );
            // Send: the queue into smoltcp's buffer, the full-size one once
            // the small one cannot take what is queued.
            if st.tx.len() > t.send_capacity() - t.send_queue() {
                grow_buffers(t, false);
            }
            let mut moved = false;
            let hold = st.corked && !st.released && !st.shut_wr;
            while !hold && !st.tx.is_empty() && t.can_send() {
                let (a, _) = st.tx.as_slices();
                // Up to the urgent pointer first, then mark it.
                let a = &a[..a.len().min(st.urg.snd_up.unwrap_or(usize::MAX))];
                match t.send_slice(a) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        st.tx.drain(..n);
                        moved = true;
                        if let Some(up) = st.urg.snd_up {
                            if up == n {
                                t.mark_urgent();
                                st.urg.snd_up = None;
                            } else {
                                st.urg.snd_up = Some(up - n);
                            }
                        }
                    }
                }
            }
            if moved {
                e.progress = now;
                wake |= POLLOUT | POLLWRNORM;
            }
            let inflight = t.send_queue();
            if inflight < st.in_flight {
                e.progress = now;
            }
            st.in_flight = inflight;
            // Closing.
            if st.released && !e.fin_sent {
                let unread = !st.rx.is_empty() || t.recv_queue() > 0;
                if unread || st.opts.linger == Some(0) {
                    t.abort();
                    st.tx.clear();
                    e.fin_sent = true;
                }
            }
            if (st.shut_wr || st.released) && st.tx.is_empty() && !e.fin_sent {
                t.close();
                e.fin_sent = true;
            }
            if st.released && e.fin_sent && t.recv_queue() > 0 && t.state() != tcp::State::Closed {
                // Data for a socket nobody can read any more: the peer is
                // reset, as Linux's tcp_rcv_state_process does to an orphan.
                t.abort();
            }
            // Receive: smoltcp's buffer into the queue, as far as SO_RCVBUF goes.
            // A peer that half filled the small buffer (its window) in one
            // round is sending more than small messages: the full-size buffer
            // opens the window (smoltcp announces it in its next segment).
            let busy_rx = 2 * t.recv_queue() >= t.recv_capacity();
            let before = st.rx.len();
            let mut room = st.opts.rcvbuf.saturating_sub(st.rx.len());
            // Short of memory for user data: the bytes wait in smoltcp (its
            // window closes) until a later round finds room.
            if !kestrel_vfs::may_hold(room.min(t.recv_queue())) {
                room = 0;
            }
            // A new urgent pointer from the peer (its offset counts from
            // what smoltcp holds, which starts where `rx` ends).
            let (urgent_at, announced) = t.recv_urgent();
            if announced != st.urg.seen {
                st.urg.seen = announced;
                if let Some(off) = urgent_at {
                    sigurg = true;
                    st.urg.pos = Some(st.urg.rx_in + off as u64);
                    st.urg.byte = None;
                    st.urg.read = false;
                }
            }
            let mut left = room;
            while left > 0 {
                let got = t.recv(|buf| {
                    let n = buf.len().min(left);
                    st.rx.extend(&buf[..n]);
                    (n, n)
                });
                match got {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        left -= n;
                        st.urg.rx_in += n as u64;
                    }
                }
            }
            // The urgent byte arrived: priority data (tcp_urg).
            if let Some(p) = st.urg.pos
                && st.urg.byte.is_none()
                && p < st.urg.rx_in
            {
                let back = (st.urg.rx_in - p) as usize;
                st.urg.byte = st
                    .rx
                    .len()
                    .checked_sub(back)
                    .and_then(|at| st.rx.get(at).copied());
                wake |= POLLPRI | POLLRDBAND;
            }
            if st.released {
                // Nobody will read: what arrives after the close is dropped.
                st.rx.clear();
            }
            st.rx_blocked = t.recv_queue() > 0;
            if busy_rx && !st.rx_blocked {
                grow_buffers(t, true);
            }
            if st.rx.len() > before {
                e.progress = now;
                wake |= POLLIN | POLLRDNORM;
            }
            // State.
            let new = t.state();
            st.conn_state = Some(super::socket::linux_tcp_state(new));
            use tcp::State as S;
            if st.phase == Phase::Connecting && !matches!(new, S::SynSent | S::Closed) {
                st.phase = Phase::Connected;
                if let Some(l) = t.local_endpoint() {
                    st.local_addr = Some(l.addr);
                }
                wake |= POLLOUT | POLLWRNORM;
            }
            // The peer's FIN comes after its data: end of file only once
            // smoltcp holds none of it (a reader slower than the sender
            // would otherwise see end of file with bytes still to move).
            if matches!(new, S::CloseWait | S::LastAck | S::Closing | S::TimeWait)
                && !st.peer_fin
                && t.recv_queue() == 0
            {
                st.peer_fin = true;
                wake |= POLLIN | POLLRDNORM | POLLRDHUP;
            }
            if new == S::Closed && e.seen != S::Closed {
                let timed_out =
                    |limit: u64| now.saturating_sub(e.progress) / 1_000_000 >= limit - 1000;
                if st.phase == Phase::Connecting {
                    st.error = Some(if timed_out(CONNECT_TIMEOUT_MS) {
                        Errno::ETIMEDOUT
                    } else {
                        Errno::ECONNREFUSED
                    });
                    st.phase = Phase::Closed;
                    st.reset = true;
                    wake |= POLLOUT | POLLERR | POLLHUP;
                } else if !(matches!(e.seen, S::LastAck | S::TimeWait | S::Closing)
                    || (e.fin_sent && st.released))
                {
                    // Reset by the peer (or given up on): ECONNRESET once; the
                    // queued bytes can still be read before it.
                    // tcp_reset: a reset after the peer's FIN (CLOSE_WAIT) is
                    // EPIPE, else ECONNRESET.
                    st.error = Some(if timed_out(DATA_TIMEOUT_MS) {
                        Errno::ETIMEDOUT
                    } else if e.seen == S::CloseWait {
                        Errno::EPIPE
                    } else {
                        Errno::ECONNRESET
                    });
                    st.reset = true;
                    st.tx.clear();
                    wake |= POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP;
                }
            }
            e.seen = new;
            if new == S::Closed && t.local_endpoint().is_none() {
                remove = true;
            } else {
                t.register_recv_waker(&e.waker);
                t.register_send_waker(&e.waker);
            }
            if remove {
                self.ifaces[i].set.remove(h);
                self.index.forget(i, h);
                e.tcp = None;
                if st.phase == Phase::Connected && !st.released {
                    // Both sides closed, TIME-WAIT over.
                    st.peer_fin = true;
                }
            }
        }
        let done = st.released && e.tcp.is_none();
        drop(st);
        if wake != 0 {
            s.wake(wake);
        }
        if sigurg && let Some(hook) = super::URGENT_HOOK.get() {
            hook(s);
        }
        if done {
            // Dropping the entry drops the stack's Arc (and with the socket, its
            // port).
            self.socks.remove(&id);
        }
    }

    fn sync_udp(&mut self, s: &Arc<InetSocket>, now: u64) {
        let id = s.id();
        self.entry(s, now);
        let e = self.socks.get_mut(&id).expect("just made");
        let mut st = s.lock();
        st.attached = true;
        // Bind smoltcp sockets where the socket may receive.
        if e.udp.is_empty()
            && let Some(port) = st.port.as_ref().map(|g| g.port())
            && kestrel_vfs::may_hold(2 * UDP_BUF_BYTES * self.ifaces.len())
        {
            let addr = st.local.addr();
            for i in 0..self.ifaces.len() {
                let wanted = match addr {
                    None => true,
                    // An address of this host arrives through lo too.
                    Some(a) => i == 0 || self.ifaces[i].iface.has_ip_addr(a),
                };
                if !wanted {
                    continue;
                }
                let mut u = udp::Socket::new(udp_buffer(), udp_buffer());
                if u.bind(IpListenEndpoint { addr, port }).is_ok() {
                    u.register_recv_waker(&e.waker);
                    u.register_send_waker(&e.waker);
                    // Out of memory for the set: not bound there (its
                    // datagrams are dropped, as under memory pressure).
                    if let Some(h) = self.ifaces[i].set.try_add(u) {
                        e.udp.push((i, h));
                    }
                }
            }
        }
        let mut wake = 0u16;
        // Send.
        while let Some(d) = st.dtx.pop_front() {
            let cost = d.data.len() + DGRAM_OVERHEAD;
            let handle = self
                .shared
                .route(d.peer.addr, st.local.addr())
                .and_then(|(i, _)| e.udp.iter().find(|(j, _)| *j == i).copied());
            let Some((i, h)) = handle else {
                // No route (any more), or not bound where the route goes: the
                // datagram is lost, as an unroutable one is on Linux.
                st.dtx_cost = st.dtx_cost.saturating_sub(cost);
                continue;
            };
            let u = self.ifaces[i].set.get_mut::<udp::Socket>(h);
            // IP_TTL / IPV6_UNICAST_HOPS as the datagram leaves.
            u.set_hop_limit(hop_limit(st.opts.ttl));
            let meta = udp::UdpMetadata {
                endpoint: d.peer,
                local_address: d.local,
                meta: Default::default(),
                hop_limit: d.hop_limit,
            };
            if let Err(udp::SendError::BufferFull) = u.send_slice(&d.data, meta) {
                st.dtx.push_front(d);
                break;
            }
            st.dtx_cost = st.dtx_cost.saturating_sub(cost);
            wake |= POLLOUT | POLLWRNORM;
        }
        // Receive.
        let v4only = s.family() == super::Family::V4;
        let v6only = st.opts.v6only;
        st.rx_blocked = false;
        for &(i, h) in &e.udp {
            let u = self.ifaces[i].set.get_mut::<udp::Socket>(h);
            loop {
                let full = st.drx_cost >= st.opts.rcvbuf;
                if !u.can_recv() {
                    break;
                }
                if full {
                    st.rx_blocked = true;
                    break;
                }
                let Ok((data, meta)) = u.recv() else {
                    break;
                };
                let from = meta.endpoint;
                let wrong_family = match from.addr {
                    IpAddress::Ipv4(_) => s.family() == super::Family::V6 && v6only,
                    IpAddress::Ipv6(_) => v4only,
                };
                // A connected socket takes only its peer's datagrams.
                let stranger = st.remote.is_some_and(|r| r != from);
                // Short of memory for user data, the datagram is dropped (as
                // Linux drops under memory pressure).
                if wrong_family || stranger || st.shut_rd || !kestrel_vfs::may_hold(data.len()) {
                    continue;
                }
                st.drx_cost += data.len() + DGRAM_OVERHEAD;
                let port = st.port.as_ref().map_or(0, |g| g.port());
                // The oldest header of this flow that no datagram took yet.
                let seen = self.udp_seen.iter().position(|h| {
                    h.iface == i
                        && h.src == from
                        && h.dst.port == port
                        && meta.local_address.is_none_or(|a| a == h.dst.addr)
                });
                let (ttl, tos) = seen
                    .and_then(|k| self.udp_seen.remove(k))
                    .map_or((64, 0), |h| (h.ttl, h.tos));
                st.drx.push_back(Datagram {
                    peer: from,
                    local: meta.local_address,
                    data: data.to_vec(),
                    info: RxInfo {
                        ifindex: i as u32 + 1,
                        port,
                        ttl,
                        tos,
                        stamp_ns: crate::packet::now_ns(),
                    },
                    hop_limit: None,
                });
                wake |= POLLIN | POLLRDNORM;
            }
            u.register_recv_waker(&e.waker);
            u.register_send_waker(&e.waker);
        }
        let done = st.released && st.dtx.is_empty();
        drop(st);
        if wake != 0 {
            s.wake(wake);
        }
        if done {
            let e = self.socks.remove(&id).expect("present");
            // Datagrams handed to smoltcp go out before their socket goes
            // (a program that sends and exits at once still sent them).
            for &(i, _) in &e.udp {
                self.egress(i, instant(now), &|| false);
            }
            for (i, h) in e.udp {
                self.ifaces[i].set.remove(h);
                self.index.forget(i, h);
            }
        }
    }
}

fn f_socket(ifaces: &mut [Iface], i: usize, h: SocketHandle) -> &mut tcp::Socket<'static> {
    ifaces[i].set.get_mut::<tcp::Socket>(h)
}

fn new_tcp() -> tcp::Socket<'static> {
    let mut t = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; TCP_BUF_INITIAL]),
        tcp::SocketBuffer::new(vec![0u8; TCP_BUF_INITIAL]),
    );
    // The window scale is chosen for the buffer it may grow to.
    t.set_recv_capacity_max(TCP_RX_BUF);
    // No delayed ACKs: with Nagle on the other side, a delayed ACK holds a
    // request-response exchange for the whole delay (smoltcp has none of
    // Linux's quick-ACK heuristics); the stack acknowledges at once instead.
    t.set_ack_delay(None);
    t
}

/// Gives a connection's receive (`rx`) or send buffer its full size, if it
/// has not got it yet and memory allows; else it keeps the one it has (and
/// the connection goes on, slower).
fn grow_buffers(t: &mut tcp::Socket<'static>, rx: bool) {
    let (have, want) = if rx {
        (t.recv_capacity(), TCP_RX_BUF)
    } else {
        (t.send_capacity(), TCP_TX_BUF)
    };
    if have >= want || !kestrel_vfs::may_hold(want) {
        return;
    }
    let mut buf = Vec::new();
    if buf.try_reserve_exact(want).is_err() {
        return;
    }
    buf.resize(want, 0u8);
    let buf = tcp::SocketBuffer::new(buf);
    // Refused while out-of-order segments wait in the receive buffer: a later
    // round tries again.
    let _ = if rx {
        t.replace_recv_buffer(buf)
    } else {
        t.replace_send_buffer(buf)
    };
}

fn udp_buffer() -> udp::PacketBuffer<'static> {
    udp::PacketBuffer::new(
        vec![udp::PacketMetadata::EMPTY; UDP_BUF_PACKETS],
        vec![0u8; UDP_BUF_BYTES],
    )
}

/// What an ICMP or ICMPv6 "port unreachable" quotes of the UDP datagram that
/// caused it: (its destination address, its source port, its destination
/// port). None for any other packet.
fn port_unreachable_of(ip: &[u8]) -> Option<(IpAddress, u16, u16)> {
    let port = |b: &[u8], at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Icmp {
                return None;
            }
            let icmp = ip.get(usize::from(p.header_len())..)?;
            // Type 3 (destination unreachable), code 3 (port).
            if icmp.get(..2)? != [3, 3] {
                return None;
            }
            let orig = icmp.get(8..)?;
            let hl = usize::from(orig.first()? & 0xf) * 4;
            if *orig.get(9)? != 17 || hl < 20 {
                return None;
            }
            let dst: [u8; 4] = orig.get(16..20)?.try_into().ok()?;
            let dst = Ipv4Address::from(dst);
            Some((IpAddress::Ipv4(dst), port(orig, hl)?, port(orig, hl + 2)?))
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Icmpv6 {
                return None;
            }
            let icmp = ip.get(40..)?;
            // Type 1 (destination unreachable), code 4 (port).
            if icmp.get(..2)? != [1, 4] {
                return None;
            }
            let orig = icmp.get(8..)?;
            if *orig.get(6)? != 17 {
                return None;
            }
            let dst: [u8; 16] = orig.get(24..40)?.try_into().ok()?;
            let dst = super::addr::unmap(Ipv6Address::from(dst));
            Some((dst, port(orig, 40)?, port(orig, 42)?))
        }
        _ => None,
    }
}

/// (source, destination, TCP segment) of an IP packet carrying TCP.
fn tcp_of(ip: &[u8]) -> Option<(IpAddress, IpAddress, &[u8])> {
    match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Tcp || p.frag_offset() != 0 {
                return None;
            }
            let hl = usize::from(p.header_len());
            let total = usize::from(p.total_len()).min(ip.len());
            Some((
                IpAddress::Ipv4(p.src_addr()),
                IpAddress::Ipv4(p.dst_addr()),
                ip.get(hl..total)?,
            ))
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Tcp {
                return None;
            }
            let end = (40 + usize::from(p.payload_len())).min(ip.len());
            Some((
                IpAddress::Ipv6(p.src_addr()),
                IpAddress::Ipv6(p.dst_addr()),
                ip.get(40..end)?,
            ))
        }
        _ => None,
    }
}
