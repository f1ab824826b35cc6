//! An AF_INET or AF_INET6 socket as the system calls see it.
//!
//! An [`InetSocket`] holds what a program can observe without the stack: its
//! names, its phase (unconnected, listening, connecting, connected, closed),
//! its receive and send queues, its pending error and its options. Every
//! operation here is synchronous and never blocks: it works on these queues
//! and returns EAGAIN when it would have to wait, like the AF_UNIX sockets; the
//! system calls wait on [`InetSocket::wait_queue`] (the one poll, select and
//! epoll use).
//!
//! The protocol work is the stack's ([`super::stack`]): an operation that needs
//! it (connect, listen, data to send, room made in a full receive queue, close)
//! records what it wants here and *kicks* the socket: puts it in the stack's
//! mailbox, once however often it is kicked before the stack looks. The stack
//! moves bytes between these queues and smoltcp's sockets, records what
//! happened (connected, refused, reset, end of file) and wakes the queue with
//! the poll events that changed.
//!
//! The state follows Linux's tcp_poll, tcp_sendmsg and tcp_recvmsg where a
//! program can tell: a fresh TCP socket polls POLLOUT|POLLHUP, a send on an
//! unconnected one is EPIPE, a reset is reported once (ECONNRESET, then end of
//! file), queued data is read before a pending error.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address, Ipv6Address};

use super::Shared;
use super::addr::{Family, Local, SockAddr};
use super::ports::{PortGuard, Proto};

/// The socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SOCK_STREAM: TCP.
    Stream,
    /// SOCK_DGRAM: UDP.
    Dgram,
}

impl Kind {
    pub fn proto(self) -> Proto {
        match self {
            Kind::Stream => Proto::Tcp,
            Kind::Dgram => Proto::Udp,
        }
    }
}

/// Where a socket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Never connected (TCP_CLOSE): possibly bound; a UDP socket stays here
    /// even when it has a default destination.
    Open,
    Listening,
    /// connect(2) started (SYN_SENT).
    Connecting,
    /// Established, and on until the connection is gone (CLOSE_WAIT and the
    /// closing states included).
    Connected,
    /// The connection is over: refused, reset, timed out, or both sides closed.
    Closed,
}

/// Linux's default buffer sizes: tcp_wmem[1], tcp_rmem[1], and the
/// net.core defaults UDP uses.
pub const TCP_SNDBUF: usize = 16 * 1024;
pub const TCP_RCVBUF: usize = 128 * 1024;
pub const UDP_BUF: usize = 212_992;
/// SO_SNDBUF and SO_RCVBUF bounds after doubling (SOCK_MIN_SNDBUF,
/// SOCK_MIN_RCVBUF, and twice net.core.wmem_max/rmem_max).
const MIN_SNDBUF: usize = 4608;
const MIN_RCVBUF: usize = 2304;
const MAX_BUF: usize = 425_984;
/// What a stream may queue to send before the stack has taken it, when the
/// program did not set SO_SNDBUF: Linux's autotuning grows a busy socket's
/// send buffer far beyond tcp_wmem[1]; this is the room a 64 KiB write finds.
pub const TCP_SNDQ_AUTO: usize = 64 * 1024;
/// What one datagram costs in a queue besides its bytes (an skb's overhead,
/// roughly), so that a flood of empty datagrams still fills it.
pub(crate) const DGRAM_OVERHEAD: usize = 256;
/// The largest UDP payload: an IP packet of 65535 bytes less the headers.
pub const UDP_MAX_V4: usize = 65_535 - 20 - 8;
pub const UDP_MAX_V6: usize = 65_535 - 8;

/// One datagram, received (from `peer`) or to send (to `peer`).
#[derive(Debug, Clone)]
pub struct Datagram {
    pub peer: IpEndpoint,
    /// The local address it came to (received) or leaves from (to send).
    pub local: Option<IpAddress>,
    pub data: Vec<u8>,
    /// What the stack saw of a received datagram's packet (the control
    /// messages' values); the defaults for one to send.
    pub info: RxInfo,
    /// To send: the hop limit sendmsg asked for (IP_TTL, IPV6_HOPLIMIT),
    /// instead of the socket's.
    pub hop_limit: Option<u8>,
}

/// What sendmsg's control messages ask of one datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendCtl {
    /// IP_TTL / IPV6_HOPLIMIT.
    pub hop_limit: Option<u8>,
    /// IP_PKTINFO's ipi_spec_dst / IPV6_PKTINFO's address: the source.
    pub src: Option<IpAddress>,
}

/// A received datagram's packet, as recvmsg's control messages report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxInfo {
    /// The interface it arrived on (1 is lo).
    pub ifindex: u32,
    /// The port it was sent to.
    pub port: u16,
    /// The IPv4 TTL or IPv6 hop limit it arrived with.
    pub ttl: u8,
    /// The IPv4 TOS byte or IPv6 traffic class.
    pub tos: u8,
    /// When the stack took it (CLOCK_REALTIME, ns).
    pub stamp_ns: u64,
}

impl Default for RxInfo {
    fn default() -> Self {
        Self {
            ifindex: 0,
            port: 0,
            ttl: 64,
            tos: 0,
            stamp_ns: 0,
        }
    }
}

/// What [`InetSocket::take_dgram`] hands over: the datagram's bytes (all of
/// them, or a copy of the first ones for MSG_PEEK), its length, its sender,
/// and its local address and packet details (None at end of file).
pub type TakenDgram = (
    Vec<u8>,
    usize,
    IpEndpoint,
    Option<(Option<IpAddress>, RxInfo)>,
);

/// What [`InetSocket::recv_dgram_info`] took: bytes copied, the datagram's
/// length, its sender, and its local address and packet details (None at
/// end of file).
pub type DgramGot = (
    usize,
    usize,
    IpEndpoint,
    Option<(Option<IpAddress>, RxInfo)>,
);

/// The receive-side control messages a socket asked for (SO_TIMESTAMP,
/// IP_PKTINFO, IPV6_RECVHOPLIMIT, ...), as bits of [`Opts::cmsg`].
pub mod cmsg {
    /// SO_TIMESTAMP: a struct timeval.
    pub const TIMESTAMP: u16 = 1 << 0;
    /// SO_TIMESTAMPNS: a struct timespec (instead of the timeval).
    pub const TIMESTAMPNS: u16 = 1 << 1;
    /// The _NEW spelling was used (SCM_TIMESTAMP_NEW / SCM_TIMESTAMPNS_NEW).
    pub const TSTAMP_NEW: u16 = 1 << 2;
    /// IP_PKTINFO.
    pub const PKTINFO: u16 = 1 << 3;
    /// IP_RECVTTL.
    pub const RECVTTL: u16 = 1 << 4;
    /// IP_RECVTOS.
    pub const RECVTOS: u16 = 1 << 5;
    /// IP_RECVORIGDSTADDR.
    pub const ORIGDSTADDR: u16 = 1 << 6;
    /// IPV6_RECVPKTINFO.
    pub const V6_PKTINFO: u16 = 1 << 7;
    /// IPV6_RECVHOPLIMIT.
    pub const V6_HOPLIMIT: u16 = 1 << 8;
    /// IPV6_RECVTCLASS.
    pub const V6_TCLASS: u16 = 1 << 9;
    /// IPV6_RECVORIGDSTADDR.
    pub const V6_ORIGDSTADDR: u16 = 1 << 10;
}

/// The options a program can set.
#[derive(Debug, Clone)]
pub struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub nodelay: bool,
    pub broadcast: bool,
    /// SO_LINGER: Some(seconds) when on.
    pub linger: Option<i32>,
    pub sndbuf: usize,
    pub rcvbuf: usize,
    /// Whether the program set SO_SNDBUF (else streams may queue TCP_SNDQ_AUTO).
    pub sndbuf_set: bool,
    pub rcvtimeo: Option<u64>,
    pub sndtimeo: Option<u64>,
    pub v6only: bool,
    /// IP_RECVERR / IPV6_RECVERR: kept and reported; there is no error queue
    /// (MSG_ERRQUEUE reads EAGAIN), so nothing more is delivered.
    pub recverr: bool,
    pub ttl: u8,
    /// The control messages a receive reports ([`cmsg`] bits).
    pub cmsg: u16,
    pub keepidle: u32,
    pub keepintvl: u32,
    pub keepcnt: u32,
    /// SO_OOBINLINE: urgent bytes stay in the stream.
    pub oobinline: bool,
}

/// TCP urgent data (send and recv with MSG_OOB), as Linux's tcp_sock keeps
/// it: one urgent byte at a time, the newest the peer announced.
#[derive(Debug, Default, Clone, Copy)]
pub struct Urgent {
    /// Send: how many bytes at the front of `tx` come before the urgent
    /// pointer, until the stack has moved them and marked it.
    pub snd_up: Option<usize>,
    /// Receive: bytes ever appended to `rx` (the stream offset of its end).
    pub rx_in: u64,
    /// The stream offset of the urgent byte announced last, until the
    /// reader goes past it (Linux's urg_seq while urg_data is set).
    pub pos: Option<u64>,
    /// That byte, once it has arrived (TCP_URG_VALID).
    pub byte: Option<u8>,
    /// recv(MSG_OOB) took it (TCP_URG_READ).
    pub read: bool,
    /// smoltcp's count of announcements, as last seen.
    pub seen: u32,
}

impl Urgent {
    /// The stream offset of the next byte a read returns.
    fn read_pos(&self, rx_len: usize) -> u64 {
        self.rx_in.saturating_sub(rx_len as u64)
    }

    /// Where a read from the front of `rx` must stop or skip: (bytes to skip
    /// first, the most to return). A read stops before the mark; at the
    /// mark the urgent byte is skipped unless it stays inline
    /// (tcp_recvmsg_locked).
    fn cut(&self, rx_len: usize, inline: bool) -> (usize, usize) {
        match self.pos {
            Some(p) if p >= self.read_pos(rx_len) => {
                let off = (p - self.read_pos(rx_len)) as usize;
                if off > 0 {
                    (0, off)
                } else if !inline && rx_len > 0 {
                    (1, usize::MAX)
                } else {
                    (0, usize::MAX)
                }
            }
            _ => (0, usize::MAX),
        }
    }

    /// Whether the next byte a read returns is the urgent one (SIOCATMARK).
    fn at_mark(&self, rx_len: usize) -> bool {
        self.pos == Some(self.read_pos(rx_len))
    }
}

/// The state shared by the system calls and the stack.
pub struct State {
    pub phase: Phase,
    /// The binding: the port is held while this lives.
    pub port: Option<PortGuard>,
    /// The bound address (a wildcard until bind names one).
    pub local: Local,
    /// The local address of a connection or association (what getsockname
    /// reports once connected).
    pub local_addr: Option<IpAddress>,
    /// The peer (TCP), or the default destination (UDP).
    pub remote: Option<IpEndpoint>,
    /// Stream bytes received and not yet read.
    pub rx: VecDeque<u8>,
    /// Stream bytes written and not yet taken by the stack.
    pub tx: VecDeque<u8>,
    /// The stack left received bytes in smoltcp because `rx` was full: a read
    /// that makes room kicks it.
    pub rx_blocked: bool,
    /// Bytes the stack has taken and not yet seen acknowledged (SIOCOUTQ).
    pub in_flight: usize,
    /// shutdown(SHUT_RD) here.
    pub shut_rd: bool,
    /// shutdown(SHUT_WR) here: a FIN goes after the queued bytes.
    pub shut_wr: bool,
    /// The peer's FIN arrived: end of file after the queued bytes.
    pub peer_fin: bool,
    /// The connection's TCP state as Linux numbers it, as the stack last saw
    /// it in smoltcp (None before the stack has a connection for it).
    pub conn_state: Option<u8>,
    /// The connection was reset or aborted: sends are EPIPE.
    pub reset: bool,
    /// SO_ERROR: reported once, by the next call or getsockopt.
    pub error: Option<Errno>,
    /// A listener's backlog and the connections waiting for accept.
    pub backlog: usize,
    pub accept_q: VecDeque<Arc<InetSocket>>,
    /// Datagrams received, and their cost against SO_RCVBUF.
    pub drx: VecDeque<Datagram>,
    pub drx_cost: usize,
    /// Datagrams to send, and their cost against SO_SNDBUF.
    pub dtx: VecDeque<Datagram>,
    pub dtx_cost: usize,
    pub opts: Opts,
    /// Every file of the socket closed (Linux's sock_close): the stack finishes
    /// what is left (lingering data, the FIN) and lets it go.
    pub released: bool,
    /// In the stack's mailbox.
    pub queued: bool,
    /// The stack knows this socket (it has smoltcp sockets for it).
    pub attached: bool,
    /// A connect started and nobody has been told how it ended: the next
    /// connect on an established socket returns 0 (once) rather than EISCONN,
    /// as inet_stream_connect does for a socket still SS_CONNECTING.
    pub connect_unreported: bool,
    /// UDP: a datagram being built by sends with MSG_MORE (corked), sent
    /// whole by the first send without it.
    pub cork: Option<Datagram>,
    /// TCP: the queued bytes were sent with MSG_MORE: the stack leaves them
    /// queued until a send without it, a shutdown or the close.
    pub corked: bool,
    /// TCP: connect(AF_UNSPEC) left a connection the stack must reset and let
    /// go (the socket itself is unconnected already).
    pub disconnect: bool,
    /// bind chose the port, the address (Linux's SOCK_BINDPORT_LOCK,
    /// SOCK_BINDADDR_LOCK): a disconnect keeps them.
    pub bind_port_lock: bool,
    pub bind_addr_lock: bool,
    /// TCP urgent data.
    pub urg: Urgent,
}

/// An internet socket.
pub struct InetSocket {
    id: u64,
    me: Weak<InetSocket>,
    kind: Kind,
    /// AF_INET6 (else AF_INET): IPV6_ADDRFORM may turn an AF_INET6 socket
    /// into an AF_INET one.
    v6: core::sync::atomic::AtomicBool,
    shared: Arc<Shared>,
    state: spin::Mutex<State>,
    wq: WaitQueue,
}

fn events(bits: u16) -> u32 {
    u32::from(bits)
}

const IN: u16 = POLLIN | POLLRDNORM;
/// Linux's TCP_ESTABLISHED, as [`State::conn_state`] numbers it.
const TCP_ESTABLISHED: u8 = 1;
const OUT: u16 = POLLOUT | POLLWRNORM;

impl InetSocket {
    /// A new socket of `kind` in `family`, on the stack `shared`.
    pub fn new(shared: &Arc<Shared>, family: Family, kind: Kind) -> Arc<Self> {
        let (sndbuf, rcvbuf) = match kind {
            Kind::Stream => (TCP_SNDBUF, TCP_RCVBUF),
            Kind::Dgram => (UDP_BUF, UDP_BUF),
        };
        let id = shared.new_id();
        Arc::new_cyclic(|me| {
            shared.register(id, me.clone());
            Self::fresh(shared, id, me, family, kind, sndbuf, rcvbuf)
        })
    }

    fn fresh(
        shared: &Arc<Shared>,
        id: u64,
        me: &Weak<InetSocket>,
        family: Family,
        kind: Kind,
        sndbuf: usize,
        rcvbuf: usize,
    ) -> Self {
        Self {
            id,
            me: me.clone(),
            kind,
            v6: core::sync::atomic::AtomicBool::new(family == Family::V6),
            shared: shared.clone(),
            state: spin::Mutex::new(State {
                phase: Phase::Open,
                port: None,
                local: Local::Any {
                    v4: true,
                    v6: family == Family::V6,
                },
                local_addr: None,
                remote: None,
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                rx_blocked: false,
                in_flight: 0,
                shut_rd: false,
                shut_wr: false,
                peer_fin: false,
                conn_state: None,
                reset: false,
                error: None,
                backlog: 0,
                accept_q: VecDeque::new(),
                drx: VecDeque::new(),
                drx_cost: 0,
                dtx: VecDeque::new(),
                dtx_cost: 0,
                opts: Opts {
                    reuseaddr: false,
                    reuseport: false,
                    keepalive: false,
                    nodelay: false,
                    broadcast: false,
                    linger: None,
                    sndbuf,
                    rcvbuf,
                    sndbuf_set: false,
                    rcvtimeo: None,
                    sndtimeo: None,
                    v6only: false,
                    recverr: false,
                    ttl: 64,
                    cmsg: 0,
                    keepidle: 7200,
                    keepintvl: 75,
                    keepcnt: 9,
                    oobinline: false,
                },
                released: false,
                queued: false,
                attached: false,
                connect_unreported: false,
                cork: None,
                corked: false,
                disconnect: false,
                bind_port_lock: false,
                bind_addr_lock: false,
                urg: Urgent::default(),
            }),
            wq: WaitQueue::new(),
        }
    }

    /// The socket behind an open file, if it is one.
    pub fn of(f: &OpenFile) -> Option<&InetSocket> {
        f.ops().as_any().downcast_ref::<InetSocket>()
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn family(&self) -> Family {
        if self.v6.load(core::sync::atomic::Ordering::Acquire) {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// setsockopt(IPV6_ADDRFORM, AF_INET): an AF_INET6 socket connected to a
    /// v4-mapped address (a TCP connection established, or a UDP socket with a
    /// default destination and nothing corked) becomes an AF_INET socket.
    /// EBUSY with a corked datagram, ENOTCONN unconnected, EADDRNOTAVAIL for an
    /// IPv6 peer or an IPV6_V6ONLY socket.
    pub fn to_ipv4(&self) -> KResult<()> {
        let st = self.state.lock();
        match self.kind {
            Kind::Dgram if st.cork.is_some() => return Err(Errno::EBUSY),
            Kind::Dgram if st.remote.is_none() => return Err(Errno::ENOTCONN),
            Kind::Stream
                if st.phase != Phase::Connected
                    || st.peer_fin
                    || st.reset
                    || st.conn_state.is_some_and(|c| c != TCP_ESTABLISHED) =>
            {
                return Err(Errno::ENOTCONN);
            }
            _ => {}
        }
        if st.opts.v6only || !matches!(st.remote.map(|r| r.addr), Some(IpAddress::Ipv4(_))) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        self.v6.store(false, core::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// connect(AF_UNSPEC) on a stream (Linux's tcp_disconnect): a connection
    /// is reset, a listener stops, and the socket is unconnected again, its
    /// port and address given back unless bind chose them.
    fn disconnect(&self, st: &mut State) {
        // A listener stops when the stack sees it is no longer listening; a
        // connection (or what is left of one) the stack resets.
        // A socket that never connected or listened keeps its binding.
        let was_open = st.phase == Phase::Open;
        if st.phase != Phase::Listening {
            st.disconnect = true;
        }
        st.phase = Phase::Open;
        st.remote = None;
        st.rx.clear();
        st.tx.clear();
        st.rx_blocked = false;
        st.urg = Urgent::default();
        st.in_flight = 0;
        st.shut_rd = false;
        st.shut_wr = false;
        st.peer_fin = false;
        st.conn_state = None;
        st.reset = false;
        st.error = None;
        st.corked = false;
        st.connect_unreported = false;
        if !st.bind_port_lock && !was_open {
            st.port = None;
        }
        if !st.bind_addr_lock && !was_open {
            st.local = self.wildcard(st);
            st.local_addr = None;
        }
        self.kick(st);
    }

    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    /// The state, for the stack.
    pub(crate) fn lock(&self) -> spin::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Wakes whoever waits for any of `bits` (or for everything).
    pub(crate) fn wake(&self, bits: u16) {
        self.wq.wake(events(bits | POLLERR | POLLHUP));
    }

    /// Puts the socket in the stack's mailbox unless it is there already.
    fn kick(&self, st: &mut State) {
        if !st.queued
            && let Some(me) = self.me.upgrade()
        {
            st.queued = true;
            self.shared.post(me);
        }
    }

    /// The bytes a stream may queue to send.
    fn sndq_limit(st: &State) -> usize {
        if st.opts.sndbuf_set {
            st.opts.sndbuf
        } else {
            st.opts.sndbuf.max(TCP_SNDQ_AUTO)
        }
    }

    fn wildcard(&self, st: &State) -> Local {
        Local::Any {
            v4: self.family() == Family::V4 || !st.opts.v6only,
            v6: self.family() == Family::V6,
        }
    }

    /// Whether `addr` is one this socket's family can use (an IPv6 address
    /// on an AF_INET socket never reaches here: it does not parse).
    fn check_family(&self, st: &State, addr: IpAddress) -> KResult<()> {
        if self.family() == Family::V6 && st.opts.v6only && matches!(addr, IpAddress::Ipv4(_)) {
            return Err(Errno::ENETUNREACH);
        }
        Ok(())
    }

    /// bind(2). Port 0 takes an ephemeral port; a wildcard address binds every
    /// address of the family; another address must be one of this host's
    /// (EADDRNOTAVAIL).
    pub fn bind(&self, addr: SockAddr) -> KResult<()> {
        let mut st = self.state.lock();
        let (ip, port) = match addr {
            // inet_bind accepts AF_UNSPEC as INADDR_ANY (for old programs)...
            SockAddr::Unspec if self.family() == Family::V4 => {
                (IpAddress::Ipv4(Ipv4Address::UNSPECIFIED), 0)
            }
            SockAddr::Unspec => return Err(Errno::EAFNOSUPPORT),
            SockAddr::Inet(ip, port) => (ip, port),
        };
        if st.port.is_some() || st.phase != Phase::Open && st.phase != Phase::Closed {
            return Err(Errno::EINVAL);
        }
        let local = if ip.is_unspecified() {
            match ip {
                // An AF_INET6 socket bound to 0.0.0.0 (::ffff:0.0.0.0) takes
                // IPv4 only.
                IpAddress::Ipv4(_) if self.family() == Family::V6 => {
                    if st.opts.v6only {
                        return Err(Errno::EINVAL);
                    }
                    Local::Any {
                        v4: true,
                        v6: false,
                    }
                }
                _ => self.wildcard(&st),
            }
        } else {
            self.check_family(&st, ip)
                .map_err(|_| Errno::EADDRNOTAVAIL)?;
            if !self.shared.is_local(ip) {
                return Err(Errno::EADDRNOTAVAIL);
            }
            Local::Addr(ip)
        };
        let guard = self
            .shared
            .ports
            .bind(self.kind.proto(), local, port, st.opts.reuseaddr)?;
        st.local = local;
        st.local_addr = local.addr();
        st.port = Some(guard);
        st.bind_port_lock = port != 0;
        st.bind_addr_lock = !ip.is_unspecified();
        if self.kind == Kind::Dgram {
            // The stack binds smoltcp sockets so datagrams can arrive.
            self.kick(&mut st);
        }
        Ok(())
    }

    /// Binds an ephemeral port at the wildcard, if not bound yet (what
    /// connect, listen and a first sendto do: inet_autobind).
    fn autobind(&self, st: &mut State) -> KResult<()> {
        if st.port.is_none() {
            let local = self.wildcard(st);
            let g = self
                .shared
                .ports
                .bind(self.kind.proto(), local, 0, st.opts.reuseaddr)?;
            st.local = local;
            st.port = Some(g);
        }
        Ok(())
    }

    pub fn is_bound(&self) -> bool {
        self.state.lock().port.is_some()
    }

    /// listen(2): EOPNOTSUPP for UDP, EINVAL once connected; an unbound
    /// socket gets an ephemeral port; listening again only changes the backlog.
    pub fn listen(&self, backlog: usize) -> KResult<()> {
        if self.kind != Kind::Stream {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.state.lock();
        match st.phase {
            Phase::Open => {}
            Phase::Listening => {
                st.backlog = backlog.min(SOMAXCONN);
                return Ok(());
            }
            _ => return Err(Errno::EINVAL),
        }
        if st.shut_rd && st.shut_wr {
            return Err(Errno::EINVAL);
        }
        self.autobind(&mut st)?;
        if let Some(g) = &st.port {
            g.listen()?;
        }
        st.backlog = backlog.min(SOMAXCONN);
        st.phase = Phase::Listening;
        self.kick(&mut st);
        Ok(())
    }

    pub fn is_listening(&self) -> bool {
        self.state.lock().phase == Phase::Listening
    }

    /// accept(2): the first connection waiting (EAGAIN if none, EINVAL if not
    /// listening).
    pub fn accept(&self) -> KResult<Arc<InetSocket>> {
        if self.kind != Kind::Stream {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.state.lock();
        if st.phase != Phase::Listening {
            return Err(Errno::EINVAL);
        }
        let c = st.accept_q.pop_front().ok_or(Errno::EAGAIN)?;
        // Room in the backlog again: the stack may take a waiting SYN.
        self.kick(&mut st);
        Ok(c)
    }

    /// A connection the stack accepted for this listener: connected, named
    /// `local`, talking to `remote`, holding `port` (the listener's port).
    pub(crate) fn accepted(
        listener: &InetSocket,
        local: IpEndpoint,
        remote: IpEndpoint,
        port: PortGuard,
    ) -> Arc<Self> {
        let s = Self::new(&listener.shared, listener.family(), Kind::Stream);
        {
            let l = listener.state.lock();
            let mut st = s.state.lock();
            st.phase = Phase::Connected;
            st.local = Local::Addr(local.addr);
            st.local_addr = Some(local.addr);
            st.remote = Some(remote);
            st.port = Some(port);
            // Options a connection inherits from its listener, and what its
            // bind chose (sk_userlocks).
            st.opts = l.opts.clone();
            st.bind_port_lock = l.bind_port_lock;
            st.bind_addr_lock = l.bind_addr_lock;
            st.attached = true;
        }
        s
    }

    /// connect(2) on a stream: starts the handshake (EINPROGRESS: the caller
    /// waits for [`InetSocket::connect_result`] unless non-blocking), or says
    /// why not (EISCONN, EALREADY, ENETUNREACH, EADDRNOTAVAIL, ECONNREFUSED
    /// for a refusal not yet reported).
    pub fn connect(&self, addr: SockAddr) -> KResult<()> {
        let mut st = self.state.lock();
        if self.kind == Kind::Dgram {
            return self.connect_dgram(&mut st, addr);
        }
        if addr == SockAddr::Unspec {
            self.disconnect(&mut st);
            drop(st);
            self.wake(IN | OUT);
            return Ok(());
        }
        match st.phase {
            Phase::Connected if st.connect_unreported => {
                st.connect_unreported = false;
                return Ok(());
            }
            Phase::Connected => return Err(Errno::EISCONN),
            Phase::Connecting => return Err(Errno::EALREADY),
            Phase::Listening => return Err(Errno::EINVAL),
            Phase::Closed => {
                // The outcome of a non-blocking connect that failed is reported
                // by the next connect (inet_stream_connect reads sk_err).
                st.connect_unreported = false;
                if let Some(e) = st.error.take() {
                    return Err(e);
                }
                if st.reset || st.peer_fin {
                    return Err(Errno::EISCONN);
                }
            }
            Phase::Open => {}
        }
        let (ip, port) = match addr {
            SockAddr::Unspec => return Err(Errno::EAFNOSUPPORT),
            SockAddr::Inet(ip, port) => (ip, port),
        };
        self.check_family(&st, ip)?;
        // Connecting to the unspecified address reaches this host.
        let ip = if ip.is_unspecified() {
            loopback_of(ip)
        } else {
            ip
        };
        if port == 0 {
            return Err(Errno::ECONNREFUSED);
        }
        let (_, src) = self
            .shared
            .route(ip, st.local.addr())
            .ok_or(Errno::ENETUNREACH)?;
        if st.port.is_none() {
            let g = self
                .shared
                .ports
                .bind(Proto::Tcp, Local::Addr(src), 0, st.opts.reuseaddr)?;
            st.local = Local::Addr(src);
            st.port = Some(g);
        }
        st.local_addr = Some(st.local.addr().unwrap_or(src));
        st.remote = Some(IpEndpoint::new(ip, port));
        st.phase = Phase::Connecting;
        st.error = None;
        st.connect_unreported = true;
        self.kick(&mut st);
        Err(Errno::EINPROGRESS)
    }

    /// Once a connect has started: None while it goes on, then its outcome
    /// (the error is taken: it is reported once).
    pub fn connect_result(&self) -> Option<KResult<()>> {
        let mut st = self.state.lock();
        if st.phase != Phase::Connecting {
            st.connect_unreported = false;
        }
        match st.phase {
            Phase::Connecting => None,
            Phase::Connected if st.error.is_none() => Some(Ok(())),
            _ => Some(Err(st.error.take().unwrap_or(Errno::ECONNREFUSED))),
        }
    }

    fn connect_dgram(&self, st: &mut State, addr: SockAddr) -> KResult<()> {
        let (ip, port) = match addr {
            // AF_UNSPEC dissolves the association (udp_disconnect); the port
            // stays unless it was bound implicitly by connect... Linux keeps
            // it when bound; so does this.
            SockAddr::Unspec => {
                st.remote = None;
                if !matches!(st.local, Local::Addr(_)) {
                    st.local_addr = None;
                }
                return Ok(());
            }
            SockAddr::Inet(ip, port) => (ip, port),
        };
        self.check_family(st, ip)?;
        let ip = if ip.is_unspecified() {
            loopback_of(ip)
        } else {
            ip
        };
        let (_, src) = self
            .shared
            .route(ip, st.local.addr())
            .ok_or(Errno::ENETUNREACH)?;
        self.autobind(st)?;
        st.local_addr = Some(st.local.addr().unwrap_or(src));
        st.remote = Some(IpEndpoint::new(ip, port));
        st.error = None;
        self.kick(st);
        Ok(())
    }

    pub fn is_connected(&self) -> bool {
        let st = self.state.lock();
        match self.kind {
            Kind::Stream => st.phase == Phase::Connected,
            Kind::Dgram => st.remote.is_some(),
        }
    }

    /// Sends stream bytes: queues as many as there is room for. EPIPE when
    /// this side shut down or the connection is gone (the caller raises
    /// SIGPIPE), EAGAIN when full or still connecting, a pending error first.
    pub fn send_stream(&self, data: &[u8]) -> KResult<usize> {
        self.send_stream_more(data, false)
    }

    /// [`InetSocket::send_stream`] with MSG_MORE: the bytes are queued but the
    /// stack is not told (unless the queue is full), so they leave with the
    /// next send without MSG_MORE or whatever else the stack does for the
    /// socket first, as Linux's corked push holds a short segment.
    pub fn send_stream_more(&self, data: &[u8], more: bool) -> KResult<usize> {
        self.send_stream_flags(data, more, false)
    }

    /// [`InetSocket::send_stream_more`], with MSG_OOB when `oob`: the end of
    /// what this call queues becomes the urgent pointer (tcp_mark_urg; a
    /// later one moves it, as on Linux).
    pub fn send_stream_flags(&self, data: &[u8], more: bool, oob: bool) -> KResult<usize> {
        let mut st = self.state.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        match st.phase {
            Phase::Connecting => return Err(Errno::EAGAIN),
            Phase::Connected if !st.shut_wr && !st.reset => {}
            // tcp_sendmsg on a socket that never connected: EPIPE
            // (sk_stream_wait_connect), as after a shutdown or a reset.
            _ => return Err(Errno::EPIPE),
        }
        let room = Self::sndq_limit(&st).saturating_sub(st.tx.len());
        if room == 0 {
            return Err(Errno::EAGAIN);
        }
        let n = room.min(data.len());
        if !kestrel_vfs::may_hold(n) {
            return Err(Errno::ENOBUFS);
        }
        st.tx.extend(&data[..n]);
        if n > 0 {
            if oob {
                st.urg.snd_up = Some(st.tx.len());
            }
            st.corked = more && st.tx.len() < Self::sndq_limit(&st);
            if !st.corked {
                self.kick(&mut st);
            }
        }
        Ok(n)
    }

    /// Receives stream bytes into `buf` (MSG_PEEK leaves them). Queued bytes
    /// come first, then a pending error (once), then end of file; ENOTCONN
    /// before a connection, EAGAIN while there is nothing yet.
    pub fn recv_stream(&self, buf: &mut [u8], peek: bool) -> KResult<usize> {
        let mut st = self.state.lock();
        if matches!(st.phase, Phase::Open | Phase::Listening) {
            return Err(Errno::ENOTCONN);
        }
        // Urgent data: stop before the mark, skip the urgent byte at it.
        let (skip, most) = st.urg.cut(st.rx.len(), st.opts.oobinline);
        if st.rx.len() > skip {
            let n = buf.len().min(st.rx.len() - skip).min(most);
            let (a, b) = st.rx.as_slices();
            let (a, b) = if skip <= a.len() {
                (&a[skip..], b)
            } else {
                (&[][..], &b[skip - a.len()..])
            };
            let k = n.min(a.len());
            buf[..k].copy_from_slice(&a[..k]);
            buf[k..n].copy_from_slice(&b[..n - k]);
            if !peek {
                st.rx.drain(..skip + n);
                if st.urg.pos.is_some_and(|p| p < st.urg.read_pos(st.rx.len())) {
                    // Past the mark: no urgent data any more.
                    st.urg.pos = None;
                    st.urg.byte = None;
                    st.urg.read = false;
                }
                if st.rx.is_empty() && st.rx.capacity() > 64 * 1024 {
                    st.rx.shrink_to(16 * 1024);
                }
                if st.rx_blocked {
                    st.rx_blocked = false;
                    self.kick(&mut st);
                }
            }
            return Ok(n);
        }
        if skip > 0 && !peek {
            // Only the urgent byte was there: it leaves the stream.
            st.rx.drain(..skip);
            st.urg.pos = None;
            st.urg.byte = None;
            st.urg.read = false;
        }
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if st.peer_fin || st.shut_rd || st.reset || st.phase == Phase::Closed {
            return Ok(0);
        }
        Err(Errno::EAGAIN)
    }

    /// recv(MSG_OOB) (Linux's tcp_recv_urg): the urgent byte, `None` at end
    /// of file. ENOTCONN on a listener; EINVAL with SO_OOBINLINE, without
    /// urgent data or once it was taken; EAGAIN while it is announced but
    /// has not arrived. Never waits.
    pub fn recv_oob(&self, peek: bool) -> KResult<Option<u8>> {
        let mut st = self.state.lock();
        if st.phase == Phase::Listening {
            return Err(Errno::ENOTCONN);
        }
        if st.opts.oobinline || st.urg.pos.is_none() || st.urg.read {
            return Err(Errno::EINVAL);
        }
        if let Some(b) = st.urg.byte {
            if !peek {
                st.urg.read = true;
            }
            return Ok(Some(b));
        }
        if st.phase == Phase::Closed || st.shut_rd || st.peer_fin || st.reset {
            return Ok(None);
        }
        Err(Errno::EAGAIN)
    }

    /// Whether the next byte read is the urgent byte (SIOCATMARK): a read
    /// stops there.
    pub fn at_mark(&self) -> bool {
        let st = self.state.lock();
        st.urg.at_mark(st.rx.len())
    }

    /// Whether a read would find end of file (or an error) rather than wait.
    pub fn read_done(&self) -> bool {
        let st = self.state.lock();
        st.rx.is_empty() && (st.peer_fin || st.shut_rd || st.reset || st.error.is_some())
    }

    /// Sends one datagram to `to` (or the default destination). EDESTADDRREQ
    /// without either, EMSGSIZE beyond what UDP carries, EAGAIN when the send
    /// queue is full; an unbound socket gets an ephemeral port.
    pub fn send_dgram(&self, data: &[u8], to: Option<SockAddr>) -> KResult<usize> {
        self.send_dgram_more(data, to, false)
    }

    /// [`InetSocket::send_dgram`] with MSG_MORE: the bytes are added to a
    /// corked datagram (whose destination the first of its sends chose, as
    /// udp_sendmsg's pending frame), sent whole by the first send without it.
    pub fn send_dgram_more(&self, data: &[u8], to: Option<SockAddr>, more: bool) -> KResult<usize> {
        self.send_dgram_ctl(data, to, more, SendCtl::default())
    }

    /// [`InetSocket::send_dgram_more`] with what sendmsg's control messages
    /// ask (a datagram being corked keeps what its first piece asked). A
    /// source address not of this host is ENETUNREACH for IPv4 (EINVAL if
    /// multicast or broadcast: ip_route_output_key_hash_rcu), EINVAL for
    /// IPv6 (ip6_datagram_send_ctl).
    pub fn send_dgram_ctl(
        &self,
        data: &[u8],
        to: Option<SockAddr>,
        more: bool,
        ctl: SendCtl,
    ) -> KResult<usize> {
        let mut st = self.state.lock();
        let max = match self.family() {
            Family::V4 => UDP_MAX_V4,
            Family::V6 => UDP_MAX_V6,
        };
        let corked = st.cork.as_ref().map_or(0, |c| c.data.len());
        if data.len() + corked > max {
            st.cork = None;
            return Err(Errno::EMSGSIZE);
        }
        if st.cork.is_some() && !more && st.dtx_cost >= st.opts.sndbuf {
            // Wait for room with the corked datagram kept as it is.
            return Err(Errno::EAGAIN);
        }
        if let Some(c) = st.cork.as_mut() {
            if !kestrel_vfs::may_hold(data.len()) {
                return Err(Errno::ENOBUFS);
            }
            c.data.extend_from_slice(data);
            if more {
                return Ok(data.len());
            }
            let d = st.cork.take().expect("just used");
            let n = data.len();
            return self.queue_dgram(&mut st, d).map(|_| n);
        }
        let peer = match to {
            Some(SockAddr::Inet(ip, port)) => {
                self.check_family(&st, ip)?;
                if port == 0 {
                    return Err(Errno::EINVAL);
                }
                let ip = if ip.is_unspecified() {
                    loopback_of(ip)
                } else {
                    ip
                };
                IpEndpoint::new(ip, port)
            }
            Some(SockAddr::Unspec) if st.remote.is_none() => return Err(Errno::EDESTADDRREQ),
            _ => st.remote.ok_or(Errno::EDESTADDRREQ)?,
        };
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if st.shut_wr {
            return Err(Errno::EPIPE);
        }
        if is_broadcast(peer.addr) && !st.opts.broadcast {
            return Err(Errno::EACCES);
        }
        let (_, src) = self
            .shared
            .route(peer.addr, st.local.addr())
            .ok_or(Errno::ENETUNREACH)?;
        if !kestrel_vfs::may_hold(data.len() + DGRAM_OVERHEAD) {
            return Err(Errno::ENOBUFS);
        }
        if let Some(a) = ctl.src
            && !self.shared.is_local(a)
        {
            return Err(match a {
                IpAddress::Ipv4(v4) if !v4.is_multicast() && !v4.is_broadcast() => {
                    Errno::ENETUNREACH
                }
                _ => Errno::EINVAL,
            });
        }
        self.autobind(&mut st)?;
        let local = ctl.src.or(st.local.addr()).or(Some(src));
        let d = Datagram {
            peer,
            local,
            data: data.to_vec(),
            info: RxInfo::default(),
            hop_limit: ctl.hop_limit,
        };
        if more {
            st.cork = Some(d);
            return Ok(data.len());
        }
        self.queue_dgram(&mut st, d).map(|_| data.len())
    }

    /// Puts a whole datagram in the send queue for the stack.
    fn queue_dgram(&self, st: &mut State, d: Datagram) -> KResult<()> {
        // As sock_alloc_send_pskb: a datagram goes while the queue is below
        // SO_SNDBUF, whatever its size (so the queue holds at most one
        // datagram more than that), which is also what POLLOUT says.
        if st.dtx_cost >= st.opts.sndbuf {
            return Err(Errno::EAGAIN);
        }
        st.dtx_cost += d.data.len() + DGRAM_OVERHEAD;
        st.dtx.push_back(d);
        self.kick(st);
        Ok(())
    }

    /// Receives one datagram into `buf`: (bytes copied, the datagram's length,
    /// its sender). MSG_PEEK leaves it queued; a pending error comes first.
    pub fn recv_dgram(&self, buf: &mut [u8], peek: bool) -> KResult<(usize, usize, IpEndpoint)> {
        self.recv_dgram_info(buf, peek)
            .map(|(n, full, from, _)| (n, full, from))
    }

    /// [`InetSocket::recv_dgram`], with the datagram's local address and
    /// packet details for the control messages (None at end of file).
    pub fn recv_dgram_info(&self, buf: &mut [u8], peek: bool) -> KResult<DgramGot> {
        let (data, full, from, info) = self.take_dgram(peek, buf.len())?;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, full, from, info))
    }

    /// Takes the next datagram, for a reader that copies out of it itself: its
    /// bytes, its length, its sender, and its local address and packet details
    /// (None at end of file, with no bytes). A datagram taken is handed over
    /// whole, not copied (the reader copies the `max` bytes it has room for);
    /// MSG_PEEK leaves it queued and hands over a copy of its first `max` bytes
    /// (ENOMEM if that copy cannot be made). A pending error comes first.
    pub fn take_dgram(&self, peek: bool, max: usize) -> KResult<TakenDgram> {
        let mut st = self.state.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        let Some(d) = st.drx.front() else {
            if st.shut_rd {
                let nobody = IpEndpoint::new(unspecified_of(self.family()), 0);
                return Ok((Vec::new(), 0, nobody, None));
            }
            return Err(Errno::EAGAIN);
        };
        let (full, from) = (d.data.len(), d.peer);
        let info = Some((d.local, d.info));
        if peek {
            let n = max.min(full);
            let mut copy = Vec::new();
            copy.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
            copy.extend_from_slice(&d.data[..n]);
            return Ok((copy, full, from, info));
        }
        let d = st
            .drx
            .pop_front()
            .expect("the front was there under the lock");
        st.drx_cost = st.drx_cost.saturating_sub(full + DGRAM_OVERHEAD);
        if st.rx_blocked {
            st.rx_blocked = false;
            self.kick(&mut st);
        }
        Ok((d.data, full, from, info))
    }

    /// shutdown(2). ENOTCONN on a socket that is not connected (a listener
    /// shut down for reading stops listening, as Linux's tcp_disconnect does
    /// to it); SHUT_WR sends a FIN after the queued bytes.
    pub fn shutdown(&self, how: u32) -> KResult<()> {
        if how > SHUT_RDWR {
            return Err(Errno::EINVAL);
        }
        let rd = how == SHUT_RD || how == SHUT_RDWR;
        let wr = how == SHUT_WR || how == SHUT_RDWR;
        let mut st = self.state.lock();
        match (self.kind, st.phase) {
            (Kind::Stream, Phase::Connected | Phase::Connecting) => {}
            (Kind::Stream, Phase::Listening) if rd => {
                // inet_shutdown on a listener: tcp_disconnect closes it.
                st.phase = Phase::Open;
                st.shut_rd = true;
                self.kick(&mut st);
                drop(st);
                self.wake(IN | OUT);
                return Ok(());
            }
            (Kind::Dgram, _) if st.remote.is_some() => {}
            _ => return Err(Errno::ENOTCONN),
        }
        st.shut_rd |= rd;
        st.shut_wr |= wr;
        self.kick(&mut st);
        drop(st);
        self.wake(IN | OUT | POLLRDHUP);
        Ok(())
    }

    /// The last file closed: the stack delivers what is queued (or resets the
    /// connection when unread data is thrown away, or SO_LINGER is 0) and
    /// frees the socket.
    pub fn release(&self) {
        let pending = {
            let mut st = self.state.lock();
            st.released = true;
            // Connections never accepted die with their listener.
            core::mem::take(&mut st.accept_q)
        };
        for c in pending {
            c.release();
        }
        let mut st = self.state.lock();
        // A listener's port is free when close returns, as on Linux (iperf3's
        // server binds it again at once): nothing of a listener lingers, and
        // the stack, which stops it listening when it sees the release, has the
        // port it listened on in its own table. A connection keeps its port
        // until the stack is done with it (FIN answered, TIME-WAIT over).
        let freed = if st.phase == Phase::Listening {
            st.port.take()
        } else {
            None
        };
        if st.attached || st.phase != Phase::Open || !st.dtx.is_empty() {
            self.kick(&mut st);
        } else {
            // The stack never heard of it: the port goes now.
            st.port = None;
        }
        drop(st);
        drop(freed);
    }

    /// getsockname: the bound or connected local address and port.
    pub fn local_name(&self) -> Vec<u8> {
        let st = self.state.lock();
        let port = st.port.as_ref().map_or(0, PortGuard::port);
        let addr = st
            .local_addr
            .or(st.local.addr())
            .unwrap_or_else(|| match st.local {
                Local::Any { v6: true, .. } => IpAddress::Ipv6(Ipv6Address::UNSPECIFIED),
                _ => IpAddress::Ipv4(Ipv4Address::UNSPECIFIED),
            });
        super::addr::to_sockaddr(self.family(), addr, port)
    }

    /// getpeername: ENOTCONN unless connected (a stream that was connected
    /// keeps its peer's name until the socket goes).
    pub fn peer_name(&self) -> KResult<Vec<u8>> {
        let st = self.state.lock();
        let ok = match self.kind {
            Kind::Stream => matches!(st.phase, Phase::Connected),
            Kind::Dgram => true,
        };
        match st.remote {
            Some(r) if ok => Ok(super::addr::endpoint_sockaddr(self.family(), r)),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// The connection's state as Linux numbers it (/proc/net/tcp's st; see
    /// [`linux_tcp_state`]), from the connection the stack runs for it once
    /// there is one: after the close handshake it shows TIME_WAIT (6), LAST_ACK
    /// (9) and the rest as ss and netstat expect. Before that, and for UDP
    /// sockets (CLOSE, or ESTABLISHED when connected, as udp_poll's sk_state),
    /// from the socket's own phase.
    pub fn tcp_state(&self) -> u8 {
        let st = self.state.lock();
        if self.kind == Kind::Stream
            && !matches!(st.phase, Phase::Listening | Phase::Connecting)
            && let Some(c) = st.conn_state
        {
            return c;
        }
        match (self.kind, st.phase) {
            (Kind::Dgram, _) if st.remote.is_some() => 1,
            (Kind::Dgram, _) => 7,
            (_, Phase::Listening) => 10,
            (_, Phase::Connecting) => 2,
            (_, Phase::Connected) if st.peer_fin => 8,
            (_, Phase::Connected) if st.shut_wr => 4,
            (_, Phase::Connected) => 1,
            _ => 7,
        }
    }

    /// TCP_INFO's tcpi_state: [`InetSocket::tcp_state`], except that a socket
    /// whose connection is in TIME_WAIT is CLOSE (7), as on Linux, where the
    /// connection then lives on in a timewait entry of its own.
    pub fn tcpi_state(&self) -> u8 {
        match self.tcp_state() {
            6 => 7,
            s => s,
        }
    }

    /// The local and remote endpoints and the queue lengths (tx, rx), for
    /// /proc/net: (local address or None for a wildcard, local port, remote).
    pub fn snapshot(&self) -> (Option<IpAddress>, u16, Option<IpEndpoint>, usize, usize) {
        let st = self.state.lock();
        let port = st.port.as_ref().map_or(0, PortGuard::port);
        let rxq = match self.kind {
            Kind::Stream => st.rx.len(),
            Kind::Dgram => st.drx_cost,
        };
        let txq = match self.kind {
            Kind::Stream => st.tx.len() + st.in_flight,
            Kind::Dgram => st.dtx_cost,
        };
        (st.local_addr.or(st.local.addr()), port, st.remote, txq, rxq)
    }

    /// SO_ERROR: the pending error, taken.
    pub fn take_error(&self) -> Option<Errno> {
        self.state.lock().error.take()
    }

    /// The options, to read or change. Changes that matter to the stack
    /// (TCP_NODELAY, SO_KEEPALIVE) are passed on by [`InetSocket::options_changed`].
    pub fn with_opts<R>(&self, f: impl FnOnce(&mut Opts) -> R) -> R {
        f(&mut self.state.lock().opts)
    }

    /// Tells the stack the options changed.
    pub fn options_changed(&self) {
        let mut st = self.state.lock();
        if st.attached {
            self.kick(&mut st);
        }
    }

    /// SO_SNDBUF/SO_RCVBUF: doubled and clamped as Linux's sock_setsockopt.
    pub fn set_buf(&self, send: bool, val: usize) {
        let v = val.min(MAX_BUF / 2) * 2;
        let mut st = self.state.lock();
        if send {
            st.opts.sndbuf = v.max(MIN_SNDBUF);
            st.opts.sndbuf_set = true;
        } else {
            st.opts.rcvbuf = v.max(MIN_RCVBUF);
        }
    }

    pub fn timeout(&self, send: bool) -> Option<u64> {
        let st = self.state.lock();
        if send {
            st.opts.sndtimeo
        } else {
            st.opts.rcvtimeo
        }
    }

    /// Bytes a read would find (FIONREAD): queued stream bytes, or the size of
    /// the next datagram.
    pub fn inq(&self) -> KResult<usize> {
        let st = self.state.lock();
        match self.kind {
            Kind::Stream if st.phase == Phase::Listening => Err(Errno::EINVAL),
            // Urgent data that arrived, not inline: the bytes before the
            // mark (tcp_inq), which may be none while more are queued.
            Kind::Stream => Ok(match st.urg.pos {
                Some(p)
                    if !st.opts.oobinline
                        && p >= st.urg.read_pos(st.rx.len())
                        && p < st.urg.rx_in =>
                {
                    (p - st.urg.read_pos(st.rx.len())) as usize
                }
                _ => st.rx.len(),
            }),
            Kind::Dgram => Ok(st.drx.front().map_or(0, |d| d.data.len())),
        }
    }

    /// Bytes sent and not yet acknowledged, or not yet sent (SIOCOUTQ).
    pub fn outq(&self) -> KResult<usize> {
        let st = self.state.lock();
        match self.kind {
            Kind::Stream if st.phase == Phase::Listening => Err(Errno::EINVAL),
            Kind::Stream => Ok(st.tx.len() + st.in_flight),
            Kind::Dgram => Ok(st.dtx.iter().map(|d| d.data.len()).sum()),
        }
    }

    /// The poll mask, as Linux's tcp_poll and udp_poll compute it.
    pub fn poll_mask(&self) -> u16 {
        let st = self.state.lock();
        let mut m = 0;
        if st.error.is_some() {
            m |= POLLERR;
        }
        match self.kind {
            Kind::Stream => {
                if st.phase == Phase::Listening {
                    return if st.accept_q.is_empty() { 0 } else { IN };
                }
                let rcv_shut = st.shut_rd || st.peer_fin || st.reset;
                let snd_shut = st.shut_wr || st.reset;
                if (rcv_shut && snd_shut) || matches!(st.phase, Phase::Open | Phase::Closed) {
                    m |= POLLHUP;
                }
                if rcv_shut {
                    m |= IN | POLLRDHUP;
                }
                if st.phase != Phase::Connecting {
                    // The urgent byte at the mark is not data to read
                    // (tcp_poll's target++), but it is priority data.
                    let urgent_next = st.urg.at_mark(st.rx.len()) && !st.opts.oobinline;
                    if st.rx.len() > usize::from(urgent_next) {
                        m |= IN;
                    }
                    if st.urg.pos.is_some() && st.urg.byte.is_some() && !st.urg.read {
                        m |= POLLPRI;
                    }
                    if snd_shut || st.tx.len() < Self::sndq_limit(&st) {
                        m |= OUT;
                    }
                }
            }
            Kind::Dgram => {
                if !st.drx.is_empty() {
                    m |= IN;
                }
                if st.shut_rd {
                    m |= IN | POLLRDHUP;
                }
                if st.shut_rd && st.shut_wr {
                    m |= POLLHUP;
                }
                if st.dtx_cost < st.opts.sndbuf {
                    m |= OUT | POLLWRBAND;
                }
            }
        }
        m
    }
}

/// The loopback address of `ip`'s version (connecting to 0.0.0.0 or ::
/// reaches this host).
fn loopback_of(ip: IpAddress) -> IpAddress {
    match ip {
        IpAddress::Ipv4(_) => IpAddress::Ipv4(Ipv4Address::LOCALHOST),
        IpAddress::Ipv6(_) => IpAddress::Ipv6(Ipv6Address::LOCALHOST),
    }
}

fn unspecified_of(f: Family) -> IpAddress {
    super::addr::unspecified(f)
}

fn is_broadcast(ip: IpAddress) -> bool {
    matches!(ip, IpAddress::Ipv4(a) if a.is_broadcast())
}

impl Drop for InetSocket {
    fn drop(&mut self) {
        self.shared.unregister(self.id);
    }
}

impl FileOps for InetSocket {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        match self.kind {
            Kind::Stream => self.recv_stream(buf, false),
            Kind::Dgram => self.recv_dgram(buf, false).map(|(n, _, _)| n),
        }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        match self.kind {
            Kind::Stream => self.send_stream(data),
            Kind::Dgram => self.send_dgram(data, None),
        }
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
        if super::ifreq::is_ifreq(cmd) {
            return super::ifreq::ioctl(&self.shared, cmd, arg, mem);
        }
        let n = match cmd {
            SIOCINQ => self.inq()?,
            SIOCOUTQ => self.outq()?,
            SIOCATMARK if self.kind == Kind::Stream => usize::from(self.at_mark()),
            _ => return Err(Errno::ENOTTY),
        };
        kestrel_vfs::UserPtr::<i32>::new(arg).write(mem, &(n.min(i32::MAX as usize) as i32))?;
        Ok(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// smoltcp's TCP state as Linux numbers it (include/net/tcp_states.h).
pub(crate) fn linux_tcp_state(s: smoltcp::socket::tcp::State) -> u8 {
    use smoltcp::socket::tcp::State as S;
    match s {
        S::Established => 1,
        S::SynSent => 2,
        S::SynReceived => 3,
        S::FinWait1 => 4,
        S::FinWait2 => 5,
        S::TimeWait => 6,
        S::Closed => 7,
        S::CloseWait => 8,
        S::LastAck => 9,
        S::Listen => 10,
        S::Closing => 11,
    }
}
