//! AF_UNIX sockets (unix(7)).
//!
//! A [`UnixSocket`] is one endpoint. Connection-oriented sockets (stream and
//! seqpacket) are connected in pairs: each holds a weak reference to its peer and
//! writes into the peer's receive queue. `connect` to a listening socket creates
//! the server-side endpoint at once, paired with the client, and queues it on the
//! listener until `accept` takes it (Linux completes AF_UNIX connects the same
//! way). Datagram sockets send each message into the receive queue of the socket
//! an address names, or of the one they are connected to.
//!
//! A receive queue holds segments: the bytes of one write (or one datagram), the
//! descriptors passed with it (SCM_RIGHTS), the sender's credentials, and the
//! sender's address. Stream reads cross segment boundaries but never across a
//! segment that carries descriptors, so descriptors arrive with their bytes.
//! Every queued byte is charged to its sender (`wmem`) until it is read: that is
//! what bounds a sender (SO_SNDBUF) and what its POLLOUT reports, as in Linux.
//!
//! Names: a path (the kernel creates the socket file and registers the socket
//! under the file's identity), an abstract name (a leading NUL byte, no file),
//! or none. Both kinds of names are in one registry, [`lookup`].
//!
//! Nothing blocks here; see the crate documentation.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};

/// Default send and receive buffer sizes (Linux's net.core.wmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// Datagrams a socket's queue holds before senders wait (net.unix.max_dgram_qlen).
pub const MAX_DGRAM_QLEN: usize = 10;
/// Smallest and largest buffer SO_SNDBUF/SO_RCVBUF may set (after doubling).
const MIN_BUF: usize = 4608;
pub const MAX_BUF: usize = 425_984;

/// The socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Dgram,
    SeqPacket,
}

impl Kind {
    /// From a socket(2) type (without the flag bits).
    pub fn from_type(ty: u32) -> Option<Kind> {
        match ty {
            SOCK_STREAM => Some(Kind::Stream),
            SOCK_DGRAM => Some(Kind::Dgram),
            SOCK_SEQPACKET => Some(Kind::SeqPacket),
            _ => None,
        }
    }

    /// The SOCK_* number.
    pub fn to_type(self) -> u32 {
        match self {
            Kind::Stream => SOCK_STREAM,
            Kind::Dgram => SOCK_DGRAM,
            Kind::SeqPacket => SOCK_SEQPACKET,
        }
    }

    fn connection_oriented(self) -> bool {
        self != Kind::Dgram
    }
}

/// A socket's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Addr {
    /// No name: what getsockname reports as just the family.
    Unnamed,
    /// A file system path, as it was given to bind.
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL.
    Abstract(Vec<u8>),
}

/// What a `sockaddr_un` (of `len` bytes) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Only the family: autobind for bind, EINVAL elsewhere.
    FamilyOnly,
    Addr(Addr),
}

impl Addr {
    /// Parses `sockaddr_un` bytes (EINVAL for a short or long length, another
    /// family, or an empty path), as Linux's unix_validate_addr and unix_mkname.
    pub fn parse(raw: &[u8]) -> KResult<Parsed> {
        if raw.len() < 2 || raw.len() > 2 + UNIX_PATH_MAX {
            return Err(Errno::EINVAL);
        }
        if u32::from(u16::from_ne_bytes([raw[0], raw[1]])) != AF_UNIX {
            return Err(Errno::EINVAL);
        }
        let path = &raw[2..];
        if path.is_empty() {
            return Ok(Parsed::FamilyOnly);
        }
        if path[0] == 0 {
            return Ok(Parsed::Addr(Addr::Abstract(path[1..].to_vec())));
        }
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Ok(Parsed::Addr(Addr::Path(path[..end].to_vec())))
    }

    /// The `sockaddr_un` bytes getsockname and friends return (the family, then
    /// the path with its NUL, or the NUL and the abstract name).
    pub fn to_sockaddr(&self) -> Vec<u8> {
        let mut out = (AF_UNIX as u16).to_ne_bytes().to_vec();
        match self {
            Addr::Unnamed => {}
            Addr::Path(p) => {
                out.extend_from_slice(p);
                out.push(0);
            }
            Addr::Abstract(n) => {
                out.push(0);
                out.extend_from_slice(n);
            }
        }
        out
    }
}

/// The key a name is registered under: an abstract name, or the (device, inode)
/// of the socket file a path names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameKey {
    Abstract(Vec<u8>),
    File(u64, u64),
}

static NAMES: spin::Mutex<BTreeMap<NameKey, Weak<UnixSocket>>> = spin::Mutex::new(BTreeMap::new());
static AUTOBIND: AtomicU32 = AtomicU32::new(0);

/// The live socket bound to `key`.
pub fn lookup(key: &NameKey) -> Option<Arc<UnixSocket>> {
    NAMES.lock().get(key).and_then(Weak::upgrade)
}

/// A process's credentials as sockets pass them (SO_PEERCRED, SCM_CREDENTIALS).
pub type Cred = Ucred;

/// Descriptors passed with a message (SCM_RIGHTS).
pub type Rights = Vec<Arc<OpenFile>>;

/// One write or datagram in a receive queue.
struct Segment {
    data: Vec<u8>,
    /// Bytes of `data` already read (stream sockets read segments partly).
    read: usize,
    rights: Option<Rights>,
    cred: Cred,
    from: Addr,
    sender: Weak<UnixSocket>,
}

/// What a receive got.
#[derive(Default)]
pub struct Received {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The whole datagram's length (for MSG_TRUNC); `len` for streams.
    pub full_len: usize,
    /// The datagram did not fit (MSG_TRUNC in msg_flags).
    pub truncated: bool,
    pub rights: Option<Rights>,
    pub cred: Option<Cred>,
    pub from: Option<Addr>,
}

struct Listen {
    backlog: usize,
    pending: VecDeque<Arc<UnixSocket>>,
}

struct State {
    addr: Option<Addr>,
    key: Option<NameKey>,
    listen: Option<Listen>,
    peer: Option<Weak<UnixSocket>>,
    /// Was connected (so a vanished peer is EPIPE, not ENOTCONN).
    connected: bool,
    rx: VecDeque<Segment>,
    rx_bytes: usize,
    /// Bytes this socket has queued at receivers and not yet read.
    wmem: usize,
    /// The peer shut down writing or closed: reads see end-of-file.
    rcv_shutdown: bool,
    /// The peer closed.
    peer_closed: bool,
    shut_rd: bool,
    shut_wr: bool,
    passcred: bool,
    peercred: Option<Cred>,
    sndbuf: usize,
    rcvbuf: usize,
    rcvtimeo: Option<u64>,
    sndtimeo: Option<u64>,
    /// SO_ERROR: a pending error, reported once.
    error: Option<Errno>,
}

/// An AF_UNIX socket.
pub struct UnixSocket {
    kind: Kind,
    me: Weak<UnixSocket>,
    /// Who created it (its credentials at socket() or at listen()).
    owner: spin::Mutex<Cred>,
    state: spin::Mutex<State>,
    wq: WaitQueue,
}

fn ev(bits: u16) -> u32 {
    u32::from(bits)
}

impl UnixSocket {
    /// A new, unnamed, unconnected socket created by `owner`.
    pub fn new(kind: Kind, owner: Cred) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            kind,
            me: me.clone(),
            owner: spin::Mutex::new(owner),
            state: spin::Mutex::new(State {
                addr: None,
                key: None,
                listen: None,
                peer: None,
                connected: false,
                rx: VecDeque::new(),
                rx_bytes: 0,
                wmem: 0,
                rcv_shutdown: false,
                peer_closed: false,
                shut_rd: false,
                shut_wr: false,
                passcred: false,
                peercred: None,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                rcvtimeo: None,
                sndtimeo: None,
                error: None,
            }),
            wq: WaitQueue::new(),
        })
    }

    /// socketpair(2): two connected sockets.
    pub fn pair(kind: Kind, owner: Cred) -> (Arc<Self>, Arc<Self>) {
        let a = Self::new(kind, owner);
        let b = Self::new(kind, owner);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut s = x.state.lock();
            s.peer = Some(Arc::downgrade(y));
            s.connected = true;
            s.peercred = Some(owner);
        }
        (a, b)
    }

    /// The socket behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&UnixSocket> {
        file.ops().as_any().downcast_ref::<UnixSocket>()
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn peer(&self) -> Option<Arc<UnixSocket>> {
        self.state.lock().peer.as_ref().and_then(Weak::upgrade)
    }

    /// Binds to `addr` under `key` (the kernel made the socket file for a path).
    /// EINVAL if already bound, EADDRINUSE if the name is taken.
    pub fn bind(&self, addr: Addr, key: NameKey) -> KResult<()> {
        let mut names = NAMES.lock();
        if self.state.lock().addr.is_some() {
            return Err(Errno::EINVAL);
        }
        if names.get(&key).is_some_and(|w| w.strong_count() > 0) {
            return Err(Errno::EADDRINUSE);
        }
        names.insert(key.clone(), self.me.clone());
        let mut s = self.state.lock();
        s.addr = Some(addr);
        s.key = Some(key);
        Ok(())
    }

    /// Binds to a fresh abstract name of five hex digits (Linux's autobind), if
    /// unbound.
    pub fn autobind(&self) -> KResult<()> {
        if self.state.lock().addr.is_some() {
            return Ok(());
        }
        for _ in 0..0x10_0000 {
            let n = AUTOBIND.fetch_add(1, Ordering::Relaxed) & 0xf_ffff;
            let name = alloc::format!("{n:05x}").into_bytes();
            match self.bind(Addr::Abstract(name.clone()), NameKey::Abstract(name)) {
                Err(Errno::EADDRINUSE) => continue,
                r => return r,
            }
        }
        Err(Errno::ENOSPC)
    }

    /// Whether bound (bind on a path name needs this checked before the file is
    /// created).
    pub fn is_bound(&self) -> bool {
        self.state.lock().addr.is_some()
    }

    /// listen(2). Autobinds an unnamed socket; the listener's credentials become
    /// what its clients see as SO_PEERCRED.
    pub fn listen(&self, backlog: usize, owner: Cred) -> KResult<()> {
        if self.kind == Kind::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.state.lock().connected {
            return Err(Errno::EINVAL);
        }
        self.autobind()?;
        *self.owner.lock() = owner;
        let mut s = self.state.lock();
        let backlog = backlog.min(4096);
        match &mut s.listen {
            Some(l) => l.backlog = backlog,
            None => {
                s.listen = Some(Listen {
                    backlog,
                    pending: VecDeque::new(),
                })
            }
        }
        Ok(())
    }

    /// Whether a listener has room for one more pending connection.
    pub fn accept_room(&self) -> bool {
        self.state
            .lock()
            .listen
            .as_ref()
            .is_some_and(|l| l.pending.len() <= l.backlog)
    }

    /// Whether a datagram receiver's queue has room for one more message.
    pub fn has_dgram_room(&self) -> bool {
        self.state.lock().rx.len() < MAX_DGRAM_QLEN
    }

    /// Whether listening (SO_ACCEPTCONN).
    pub fn is_listening(&self) -> bool {
        self.state.lock().listen.is_some()
    }

    /// connect(2) of a stream or seqpacket socket to the listener `target`, by a
    /// process with credentials `cred`. EAGAIN while the backlog is full.
    pub fn connect(&self, target: &Arc<UnixSocket>, cred: Cred) -> KResult<()> {
        if self.kind == Kind::Dgram {
            let mut s = self.state.lock();
            s.peer = Some(Arc::downgrade(target));
            return Ok(());
        }
        {
            let s = self.state.lock();
            if s.listen.is_some() {
                return Err(Errno::EINVAL);
            }
            if s.connected {
                return Err(Errno::EISCONN);
            }
        }
        if target.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        let server = UnixSocket::new(self.kind, *target.owner.lock());
        {
            let mut t = target.state.lock();
            let addr = t.addr.clone();
            let Some(l) = t.listen.as_mut() else {
                return Err(Errno::ECONNREFUSED);
            };
            if l.pending.len() > l.backlog {
                return Err(Errno::EAGAIN);
            }
            let mut ss = server.state.lock();
            ss.addr = addr;
            ss.peer = Some(self.me.clone());
            ss.connected = true;
            ss.peercred = Some(cred);
            drop(ss);
            l.pending.push_back(server.clone());
        }
        {
            let mut s = self.state.lock();
            s.peer = Some(Arc::downgrade(&server));
            s.connected = true;
            s.peercred = Some(*target.owner.lock());
        }
        target.wq.wake(ev(POLLIN | POLLRDNORM));
        Ok(())
    }

    /// Disconnects a datagram socket (connect with AF_UNSPEC).
    pub fn disconnect(&self) {
        if self.kind == Kind::Dgram {
            self.state.lock().peer = None;
        }
    }

    /// accept(2): the next connected socket, EAGAIN if none, EINVAL if not
    /// listening.
    pub fn accept(&self) -> KResult<Arc<UnixSocket>> {
        let mut s = self.state.lock();
        let l = s.listen.as_mut().ok_or(Errno::EINVAL)?;
        l.pending.pop_front().ok_or(Errno::EAGAIN)
    }

    /// The bound name (Unnamed when none).
    pub fn local_addr(&self) -> Addr {
        self.state.lock().addr.clone().unwrap_or(Addr::Unnamed)
    }

    /// The peer's name (ENOTCONN without a peer).
    pub fn peer_addr(&self) -> KResult<Addr> {
        let peer = self.peer().ok_or(Errno::ENOTCONN)?;
        Ok(peer.local_addr())
    }

    /// Sends `data` (with `rights`) from a process with credentials `cred`: to the
    /// peer, or to `to` (datagram sockets). Stream sockets may send part of it;
    /// EAGAIN when there is no room at all.
    pub fn send(
        &self,
        data: &[u8],
        rights: Option<Rights>,
        cred: Cred,
        to: Option<Arc<UnixSocket>>,
    ) -> KResult<usize> {
        let (target, sndbuf, wmem) = {
            let mut s = self.state.lock();
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.shut_wr {
                return Err(Errno::EPIPE);
            }
            let peer = s.peer.as_ref().and_then(Weak::upgrade);
            let target = match (self.kind, to, peer) {
                (Kind::Dgram, Some(t), _) => t,
                (Kind::Dgram, None, Some(p)) => p,
                (Kind::Dgram, None, None) => {
                    return Err(if s.peer.is_some() {
                        Errno::ECONNREFUSED
                    } else {
                        Errno::ENOTCONN
                    });
                }
                (_, Some(_), _) if !s.connected => return Err(Errno::EOPNOTSUPP),
                (_, _, Some(p)) => p,
                (_, _, None) => {
                    return Err(if s.connected {
                        Errno::EPIPE
                    } else {
                        Errno::ENOTCONN
                    });
                }
            };
            (target, s.sndbuf, s.wmem)
        };
        let from = self.local_addr();
        let n = match self.kind {
            Kind::Stream => {
                if data.is_empty() {
                    return Ok(0); // nothing to queue: an empty write is not end-of-file
                }
                let room = sndbuf.saturating_sub(wmem);
                if room == 0 {
                    return Err(Errno::EAGAIN);
                }
                data.len().min(room)
            }
            Kind::Dgram | Kind::SeqPacket => {
                if data.len() > sndbuf.saturating_sub(32) {
                    return Err(Errno::EMSGSIZE);
                }
                if wmem + data.len() > sndbuf {
                    return Err(Errno::EAGAIN);
                }
                data.len()
            }
        };
        {
            let mut t = target.state.lock();
            if self.kind == Kind::Dgram {
                // A connected datagram socket only takes its peer's messages.
                if let Some(tp) = t.peer.as_ref()
                    && !core::ptr::eq(tp.as_ptr(), self.me.as_ptr())
                    && tp.strong_count() > 0
                {
                    return Err(Errno::EPERM);
                }
                if t.rx.len() >= MAX_DGRAM_QLEN {
                    return Err(Errno::EAGAIN);
                }
            } else if t.shut_rd {
                return Err(Errno::EPIPE);
            }
            t.rx.push_back(Segment {
                data: data[..n].to_vec(),
                read: 0,
                rights,
                cred,
                from,
                sender: self.me.clone(),
            });
            t.rx_bytes += n;
        }
        self.state.lock().wmem += n;
        target.wq.wake(ev(POLLIN | POLLRDNORM));
        Ok(n)
    }

    /// Receives into `buf`; `peek` leaves the data queued. Stream sockets read
    /// across writes (not past one carrying descriptors); others take one message.
    /// `Ok(len 0)` at end-of-file; EAGAIN when nothing is there yet.
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> KResult<Received> {
        let mut out = Received::default();
        let mut released: Vec<(Weak<UnixSocket>, usize)> = Vec::new();
        {
            let mut s = self.state.lock();
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.rx.is_empty() {
                if s.listen.is_some() {
                    return Err(Errno::EINVAL);
                }
                if s.rcv_shutdown || s.shut_rd {
                    return Ok(out);
                }
                if self.kind.connection_oriented() && !s.connected {
                    return Err(Errno::EINVAL);
                }
                return Err(Errno::EAGAIN);
            }
            match self.kind {
                Kind::Stream => {
                    let mut i = 0;
                    while out.len < buf.len() && i < s.rx.len() {
                        let seg = &mut s.rx[i];
                        if out.len > 0 && (seg.rights.is_some() || Some(seg.cred) != out.cred) {
                            break; // descriptors and other writers' bytes start a new read
                        }
                        if out.len == 0 {
                            out.cred = Some(seg.cred);
                            out.from = Some(seg.from.clone());
                            if !peek {
                                out.rights = seg.rights.take();
                            }
                        }
                        let avail = &seg.data[seg.read..];
                        let n = avail.len().min(buf.len() - out.len);
                        buf[out.len..out.len + n].copy_from_slice(&avail[..n]);
                        out.len += n;
                        if !peek {
                            seg.read += n;
                            released.push((seg.sender.clone(), n));
                        }
                        i += 1;
                    }
                    if !peek {
                        s.rx_bytes -= out.len;
                        while s.rx.front().is_some_and(|seg| seg.read == seg.data.len()) {
                            s.rx.pop_front();
                        }
                    }
                    out.full_len = out.len;
                }
                Kind::Dgram | Kind::SeqPacket => {
                    let seg = if peek { None } else { s.rx.pop_front() };
                    let seg_ref = match &seg {
                        Some(x) => x,
                        None => s.rx.front().expect("queue not empty"),
                    };
                    let n = seg_ref.data.len().min(buf.len());
                    buf[..n].copy_from_slice(&seg_ref.data[..n]);
                    out.len = n;
                    out.full_len = seg_ref.data.len();
                    out.truncated = n < seg_ref.data.len();
                    out.cred = Some(seg_ref.cred);
                    out.from = Some(seg_ref.from.clone());
                    if let Some(mut seg) = seg {
                        out.rights = seg.rights.take();
                        s.rx_bytes -= seg.data.len();
                        released.push((seg.sender.clone(), seg.data.len()));
                    }
                }
            }
        }
        for (sender, n) in released {
            if let Some(sender) = sender.upgrade() {
                {
                    let mut ss = sender.state.lock();
                    ss.wmem = ss.wmem.saturating_sub(n);
                }
                sender.wq.wake(ev(POLLOUT | POLLWRNORM));
            }
        }
        Ok(out)
    }

    /// shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.
    pub fn shutdown(&self, how: u32) -> KResult<()> {
        if how > SHUT_RDWR {
            return Err(Errno::EINVAL);
        }
        let peer = {
            let mut s = self.state.lock();
            if self.kind.connection_oriented() && !s.connected {
                return Err(Errno::ENOTCONN);
            }
            if how != SHUT_WR {
                s.shut_rd = true;
            }
            if how != SHUT_RD {
                s.shut_wr = true;
            }
            s.peer.as_ref().and_then(Weak::upgrade)
        };
        self.wq.wake_all();
        if let Some(p) = peer
            && self.kind.connection_oriented()
        {
            {
                let mut ps = p.state.lock();
                if how != SHUT_RD {
                    ps.rcv_shutdown = true;
                }
            }
            p.wq.wake_all();
        }
        Ok(())
    }

    /// SO_PASSCRED.
    pub fn set_passcred(&self, on: bool) {
        self.state.lock().passcred = on;
    }
    pub fn passcred(&self) -> bool {
        self.state.lock().passcred
    }
    /// SO_PEERCRED (ENODATA-free: Linux reports -1s for an unconnected socket).
    pub fn peercred(&self) -> Option<Cred> {
        self.state.lock().peercred
    }
    /// SO_SNDBUF / SO_RCVBUF as set (doubled, clamped, as Linux).
    pub fn set_buf(&self, send: bool, val: usize) {
        let v = val.saturating_mul(2).clamp(MIN_BUF, MAX_BUF);
        let mut s = self.state.lock();
        if send {
            s.sndbuf = v;
        } else {
            s.rcvbuf = v;
        }
        drop(s);
        self.wq.wake_all();
    }
    pub fn buf(&self, send: bool) -> usize {
        let s = self.state.lock();
        if send { s.sndbuf } else { s.rcvbuf }
    }
    /// SO_RCVTIMEO / SO_SNDTIMEO in ns (None: wait forever).
    pub fn set_timeout(&self, send: bool, ns: Option<u64>) {
        let mut s = self.state.lock();
        if send {
            s.sndtimeo = ns;
        } else {
            s.rcvtimeo = ns;
        }
    }
    pub fn timeout(&self, send: bool) -> Option<u64> {
        let s = self.state.lock();
        if send { s.sndtimeo } else { s.rcvtimeo }
    }
    /// SO_ERROR: takes the pending error.
    pub fn take_error(&self) -> Option<Errno> {
        self.state.lock().error.take()
    }
    /// The credentials that created (or listen()ed on) the socket.
    pub fn owner(&self) -> Cred {
        *self.owner.lock()
    }
    /// Woken on every change of readiness.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let s = self.state.get_mut();
        if let Some(key) = s.key.take() {
            let mut names = NAMES.lock();
            if names.get(&key).is_some_and(|w| {
                core::ptr::eq(w.as_ptr(), self.me.as_ptr()) || w.strong_count() == 0
            }) {
                names.remove(&key);
            }
        }
        // Pending connections die with their listener (their clients see ECONNRESET).
        let pending = s.listen.take().map(|l| l.pending).unwrap_or_default();
        let unread = !s.rx.is_empty();
        let peer = s.peer.take().and_then(|w| w.upgrade());
        // Queued bytes no longer count against their senders.
        let queued: Vec<(Weak<UnixSocket>, usize)> =
            s.rx.drain(..)
                .map(|seg| (seg.sender, seg.data.len() - seg.read))
                .collect();
        if let Some(p) = peer
            && self.kind.connection_oriented()
        {
            {
                let mut ps = p.state.lock();
                ps.rcv_shutdown = true;
                ps.peer_closed = true;
                if unread {
                    ps.error = Some(Errno::ECONNRESET);
                }
            }
            p.wq.wake_all();
        }
        for (sender, n) in queued {
            if let Some(sender) = sender.upgrade() {
                {
                    let mut ss = sender.state.lock();
                    ss.wmem = ss.wmem.saturating_sub(n);
                }
                sender.wq.wake_all();
            }
        }
        for c in pending {
            c.state.lock().error = Some(Errno::ECONNRESET);
            drop(c);
        }
    }
}

impl FileOps for UnixSocket {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        self.recv(buf, false).map(|r| r.len)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        self.send(data, None, self.owner(), None)
    }

    fn poll(&self) -> u16 {
        let s = self.state.lock();
        let mut m = 0;
        if let Some(l) = &s.listen {
            if !l.pending.is_empty() {
                m |= POLLIN | POLLRDNORM;
            }
            return m;
        }
        if !s.rx.is_empty() {
            m |= POLLIN | POLLRDNORM;
        }
        if s.error.is_some() {
            m |= POLLERR;
        }
        if s.rcv_shutdown || s.shut_rd {
            m |= POLLIN | POLLRDNORM | POLLRDHUP;
        }
        if (s.rcv_shutdown || s.shut_rd) && (s.shut_wr || s.peer_closed) {
            m |= POLLHUP;
        }
        if self.kind.connection_oriented() && !s.connected {
            m |= POLLHUP;
        }
        // Writable while what it has queued is under a quarter of its buffer.
        let writable = match self.kind {
            Kind::Dgram => s.wmem * 4 <= s.sndbuf,
            _ => s.connected && !s.peer_closed && !s.shut_wr && s.wmem * 4 <= s.sndbuf,
        };
        if writable {
            m |= POLLOUT | POLLWRNORM;
        }
        m
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
        if cmd == kestrel_abi::tty::FIONREAD {
            let s = self.state.lock();
            let n = match self.kind {
                Kind::Stream => s.rx_bytes,
                _ => s.rx.front().map_or(0, |seg| seg.data.len()),
            };
            drop(s);
            kestrel_vfs::UserPtr::<i32>::new(arg).write(mem, &(n.min(i32::MAX as usize) as i32))?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Cred = Ucred {
        pid: 1,
        uid: 0,
        gid: 0,
    };

    fn recv(s: &UnixSocket, n: usize) -> KResult<Vec<u8>> {
        let mut b = alloc::vec![0u8; n];
        let r = s.recv(&mut b, false)?;
        b.truncate(r.len);
        Ok(b)
    }

    #[test]
    fn a_stream_pair_carries_bytes_both_ways_and_ends_with_eof() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        assert_eq!(a.send(b"hello", None, ME, None), Ok(5));
        assert_eq!(recv(&b, 3).unwrap(), b"hel");
        assert_eq!(recv(&b, 10).unwrap(), b"lo");
        assert_eq!(recv(&b, 10).err(), Some(Errno::EAGAIN));
        b.send(b"back", None, ME, None).unwrap();
        assert_eq!(recv(&a, 10).unwrap(), b"back");
        drop(a);
        assert_eq!(recv(&b, 10).unwrap(), b"", "end-of-file");
        assert_eq!(b.send(b"x", None, ME, None), Err(Errno::EPIPE));
    }

    #[test]
    fn datagrams_keep_boundaries_and_truncate() {
        let (a, b) = UnixSocket::pair(Kind::Dgram, ME);
        a.send(b"one", None, ME, None).unwrap();
        a.send(b"second", None, ME, None).unwrap();
        let mut small = [0u8; 3];
        let r = b.recv(&mut small, false).unwrap();
        assert_eq!((r.len, r.full_len, r.truncated), (3, 3, false));
        let r = b.recv(&mut small, false).unwrap();
        assert_eq!((r.len, r.full_len, r.truncated), (3, 6, true));
        assert_eq!(&small, b"sec");
    }

    #[test]
    fn listen_connect_accept() {
        let server = UnixSocket::new(Kind::Stream, ME);
        server
            .bind(
                Addr::Abstract(b"t-lca".to_vec()),
                NameKey::Abstract(b"t-lca".to_vec()),
            )
            .unwrap();
        server.listen(4, ME).unwrap();
        let client = UnixSocket::new(Kind::Stream, ME);
        let found = lookup(&NameKey::Abstract(b"t-lca".to_vec())).unwrap();
        client
            .connect(
                &found,
                Ucred {
                    pid: 9,
                    uid: 5,
                    gid: 5,
                },
            )
            .unwrap();
        assert_ne!(server.poll() & POLLIN, 0);
        let conn = server.accept().unwrap();
        assert_eq!(conn.peercred().unwrap().pid, 9);
        assert_eq!(conn.local_addr(), Addr::Abstract(b"t-lca".to_vec()));
        client.send(b"hi", None, ME, None).unwrap();
        assert_eq!(recv(&conn, 8).unwrap(), b"hi");
        assert_eq!(server.accept().err(), Some(Errno::EAGAIN));
    }

    #[test]
    fn a_name_is_taken_until_its_socket_closes() {
        let key = NameKey::Abstract(b"t-name".to_vec());
        let a = UnixSocket::new(Kind::Dgram, ME);
        a.bind(Addr::Abstract(b"t-name".to_vec()), key.clone())
            .unwrap();
        let b = UnixSocket::new(Kind::Dgram, ME);
        assert_eq!(
            b.bind(Addr::Abstract(b"t-name".to_vec()), key.clone()),
            Err(Errno::EADDRINUSE)
        );
        assert_eq!(
            a.bind(
                Addr::Abstract(b"other".to_vec()),
                NameKey::Abstract(b"other".to_vec())
            ),
            Err(Errno::EINVAL)
        );
        drop(a);
        assert!(lookup(&key).is_none());
        b.bind(Addr::Abstract(b"t-name".to_vec()), key).unwrap();
    }

    #[test]
    fn a_full_stream_refuses_more_until_read() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        let chunk = alloc::vec![7u8; 65536];
        let mut sent = 0;
        loop {
            match a.send(&chunk, None, ME, None) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(sent, DEFAULT_BUF);
        assert_eq!(a.poll() & POLLOUT, 0);
        let mut sink = alloc::vec![0u8; DEFAULT_BUF];
        assert_eq!(b.recv(&mut sink, false).unwrap().len, DEFAULT_BUF);
        assert_ne!(a.poll() & POLLOUT, 0);
    }

    #[test]
    fn shutdown_write_gives_the_peer_eof_but_not_the_other_way() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        a.shutdown(SHUT_WR).unwrap();
        assert_eq!(recv(&b, 4).unwrap(), b"");
        assert_ne!(b.poll() & POLLRDHUP, 0);
        b.send(b"ok", None, ME, None).unwrap();
        assert_eq!(recv(&a, 4).unwrap(), b"ok");
        assert_eq!(a.send(b"x", None, ME, None), Err(Errno::EPIPE));
        assert_eq!(a.shutdown(7), Err(Errno::EINVAL));
    }

    #[test]
    fn sockaddr_parsing() {
        let mut raw = (AF_UNIX as u16).to_ne_bytes().to_vec();
        assert_eq!(Addr::parse(&raw), Ok(Parsed::FamilyOnly));
        raw.extend_from_slice(b"/tmp/s\0junk");
        assert_eq!(
            Addr::parse(&raw),
            Ok(Parsed::Addr(Addr::Path(b"/tmp/s".to_vec())))
        );
        assert_eq!(Addr::Path(b"/tmp/s".to_vec()).to_sockaddr().len(), 2 + 7);
        let abs = [&(AF_UNIX as u16).to_ne_bytes()[..], b"\0ab"].concat();
        assert_eq!(
            Addr::parse(&abs),
            Ok(Parsed::Addr(Addr::Abstract(b"ab".to_vec())))
        );
        assert_eq!(Addr::parse(&[1]), Err(Errno::EINVAL));
    }
}
