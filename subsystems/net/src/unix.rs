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
//! The state follows Linux's af_unix. A connection-oriented socket is unconnected,
//! listening or connected, and stays connected after its peer goes (its peer's
//! name and credentials remain what getpeername and SO_PEERCRED report).
//! `shutdown` holds Linux's sk_shutdown bits: shutdown(2) sets them on the socket
//! and the mirrored bits on a connected peer (SHUT_WR here is end-of-file there,
//! SHUT_RD here is EPIPE there), and a peer that closes sets both, with ECONNRESET
//! as the pending error when it left data unread or was never accepted
//! (unix_release_sock). poll reports these bits as unix_poll and unix_dgram_poll do.
//!
//! A socket is released when its last open file goes ([`UnixSocket::release`],
//! Linux's SOCK_DEAD): its name is freed, its peer told, its queue purged and its
//! pending connections reset. Whoever still holds an `Arc` to it (a sender waiting
//! for room) finds it dead.
//!
//! A receive queue holds segments: the bytes of one write (or one datagram), the
//! descriptors passed with it (SCM_RIGHTS), the sender's credentials, and the
//! sender's address. Stream reads cross segment boundaries, as Linux's
//! unix_stream_read_generic does: a read ends after a segment that carries
//! descriptors (so they arrive with their bytes), and with SO_PASSCRED before the
//! bytes of another writer.
//!
//! Flow control is Linux's. Every queued segment is charged to its sender
//! (`wmem`) until it is read: what Linux's skb for it would cost, its truesize
//! ([`skb_truesize`]), so messages fill a send buffer after as many as on Linux
//! (278 one-byte writes, 44 page-sized stream writes, 26 page-sized datagrams)
//! and the kernel memory behind a queue of tiny messages is bounded.
//! A send may queue one more segment while the sender's charges are below its
//! SO_SNDBUF (sock_alloc_send_pskb); POLLOUT waits for them to fall to a quarter of
//! it (unix_writable). A stream write goes in segments of at most half the send
//! buffer. A datagram socket also finds a receiver full when it holds more than
//! [`MAX_DGRAM_QLEN`] messages, unless the receiver is connected back to the
//! sender (a socketpair, or a seqpacket connection); poll then reports the sender
//! unwritable and wakes it when the receiver drains (unix_dgram_poll).
//!
//! Names: a path (the kernel creates the socket file and registers the socket
//! under the file's identity), an abstract name (a leading NUL byte, no file; one
//! namespace per socket type, as Linux hashes the type into the name), or none.
//! Both kinds of names are in one registry, [`lookup`].
//!
//! Nothing blocks here; see the crate documentation. Locks: a socket's state lock
//! is never held while another socket's is taken, except for a new socket nobody
//! else can see yet; descriptors (whose release may reach other sockets) are only
//! dropped with no lock held.

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

/// Linux's skb geometry on x86-64 with 4 KiB pages, which sets what a message
/// costs its sender: the page size; SKB_DATA_ALIGN (the cache line); the aligned
/// sizes of struct skb_shared_info and struct sk_buff.
const PAGE: usize = 4096;
const SKB_ALIGN: usize = 64;
const SKB_SHINFO: usize = 320;
const SKB_STRUCT: usize = 256;
/// SKB_MAX_HEAD(0): the bytes a one-page skb head holds.
const SKB_MAX_HEAD: usize = PAGE - SKB_SHINFO;
/// SKB_MAX_ALLOC: the largest datagram unix_dgram_sendmsg keeps in the head alone.
const SKB_MAX_ALLOC: usize = 4 * PAGE - SKB_SHINFO;
/// MAX_SKB_FRAGS pages: the most a datagram puts in page fragments.
const SKB_FRAGS_MAX: usize = 17 * PAGE;
/// The most bytes of a stream write one segment takes (unix_stream_sendmsg: a
/// one-page head and UNIX_SKB_FRAGS_SZ of fragments; also at most half the send
/// buffer).
const STREAM_SEG_MAX: usize = SKB_MAX_HEAD + 32 * 1024;
/// The most bytes a receive queue of a stream socket holds: its sender's buffer,
/// and the segment it may add while under it.
pub const MAX_QUEUED: usize = MAX_BUF + STREAM_SEG_MAX;

/// The size kmalloc gives for `n` bytes: its size classes up to 8 KiB, then
/// whole pages in powers of two.
fn kmalloc_size(n: usize) -> usize {
    const CLASSES: [usize; 13] = [
        8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
    ];
    CLASSES
        .iter()
        .copied()
        .find(|&c| c >= n)
        .unwrap_or_else(|| n.div_ceil(PAGE).next_power_of_two() * PAGE)
}

/// What Linux charges a sender for an skb with `head` bytes in its linear part
/// and `frags` bytes in page fragments (skb->truesize): the kmalloc'd head with
/// the shared info, the struct sk_buff, the fragment pages.
pub fn skb_truesize(head: usize, frags: usize) -> usize {
    kmalloc_size(head.next_multiple_of(SKB_ALIGN) + SKB_SHINFO) + SKB_STRUCT + frags
}

/// How a message of `len` bytes is laid out in an skb: (head, fragments). A
/// stream segment keeps at most a page's worth in the head (unix_stream_sendmsg);
/// a datagram all of it up to SKB_MAX_ALLOC (unix_dgram_sendmsg). Fragments are
/// whole pages.
fn skb_layout(kind: Kind, len: usize) -> (usize, usize) {
    let frags = match kind {
        Kind::Stream => len.min(len.saturating_sub(SKB_MAX_HEAD).next_multiple_of(PAGE)),
        _ if len > SKB_MAX_ALLOC => (len - SKB_MAX_ALLOC)
            .min(SKB_FRAGS_MAX)
            .next_multiple_of(PAGE),
        _ => 0,
    };
    (len - frags, frags)
}

/// sk_shutdown: no more receiving (end-of-file once the queue is read).
const RCV_SHUTDOWN: u8 = 1;
/// sk_shutdown: no more sending (EPIPE).
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = RCV_SHUTDOWN | SEND_SHUTDOWN;

/// The socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// The key a name is registered under: an abstract name with the socket type
/// (Linux's unix_abstract_hash mixes the type in, so the same abstract name can be
/// bound once per type, and connect and sendto find the socket of their own
/// type), or the (device, inode) of the socket file a path names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameKey {
    Abstract(Kind, Vec<u8>),
    File(u64, u64),
}

static NAMES: spin::Mutex<BTreeMap<NameKey, Weak<UnixSocket>>> = spin::Mutex::new(BTreeMap::new());
static AUTOBIND: AtomicU32 = AtomicU32::new(0);

/// Every socket that exists, for /proc/net/unix (a socket leaves when dropped).
static ALL: spin::Mutex<BTreeMap<usize, Weak<UnixSocket>>> = spin::Mutex::new(BTreeMap::new());

/// /proc/net/unix: one line per socket in Linux's columns: the kernel address
/// (zeros, as Linux shows it to whoever may not see kernel pointers), the
/// reference count, protocol, flags (__SO_ACCEPTCON for a listener), type,
/// state (SS_UNCONNECTED, SS_CONNECTED), inode (0: the socket does not know
/// its file's; partial) and the name, an abstract one with `@` for its NULs.
pub fn proc_net_unix() -> alloc::string::String {
    use core::fmt::Write;
    let mut out =
        alloc::string::String::from("Num       RefCount Protocol Flags    Type St Inode Path\n");
    // Upgraded outside the lock: a socket dropped meanwhile leaves the table.
    let weak: Vec<_> = ALL.lock().values().cloned().collect();
    for s in weak.iter().filter_map(Weak::upgrade) {
        let (flags, st, name) = {
            let st = s.state.lock();
            let flags = if st.listen.is_some() { 1u32 << 16 } else { 0 };
            let state = if st.connected { 3 } else { 1 };
            let name: Vec<u8> = match &st.addr {
                Some(Addr::Path(p)) => p.clone(),
                Some(Addr::Abstract(n)) => core::iter::once(b'@')
                    .chain(n.iter().map(|&b| if b == 0 { b'@' } else { b }))
                    .collect(),
                _ => Vec::new(),
            };
            (flags, state, name)
        };
        let _ = write!(
            out,
            "0000000000000000: {:08X} {:08X} {:08X} {:04X} {:02X} {:5}",
            2,
            0,
            flags,
            s.kind.to_type(),
            st,
            0
        );
        if !name.is_empty() {
            out.push(' ');
            out.push_str(&alloc::string::String::from_utf8_lossy(&name));
        }
        out.push('\n');
    }
    out
}

/// The live socket bound to `key`.
pub fn lookup(key: &NameKey) -> Option<Arc<UnixSocket>> {
    let found = NAMES.lock().get(key).and_then(Weak::upgrade)?;
    (!found.is_dead()).then_some(found)
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
    /// What it is charged to its sender: its skb's truesize.
    charge: usize,
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
    /// The peer: a connection's other end, or the socket a datagram socket is
    /// connected to. Kept after the peer is released, as Linux keeps unix_peer.
    peer: Option<Weak<UnixSocket>>,
    /// The peer's name once it is gone (getpeername still reports it).
    peer_name: Addr,
    /// A connection-oriented socket that connected (TCP_ESTABLISHED); it stays so
    /// when the peer closes.
    connected: bool,
    /// Released: its last file was closed (SOCK_DEAD).
    dead: bool,
    rx: VecDeque<Segment>,
    rx_bytes: usize,
    /// Bytes this socket has queued at receivers and not yet read.
    wmem: usize,
    /// sk_shutdown: RCV_SHUTDOWN and SEND_SHUTDOWN.
    shutdown: u8,
    passcred: bool,
    peercred: Option<Cred>,
    sndbuf: usize,
    rcvbuf: usize,
    rcvtimeo: Option<u64>,
    sndtimeo: Option<u64>,
    /// SO_ERROR: a pending error, reported once.
    error: Option<Errno>,
    /// Datagram sockets connected here whose poll found this queue full: woken
    /// when it drains (Linux's peer_wake).
    peer_wakers: Vec<Weak<UnixSocket>>,
    /// SO_ATTACH_FILTER / SO_ATTACH_BPF: run on each message sent here.
    filter: Option<SocketFilter>,
}

/// A socket filter (classic BPF or eBPF): how many bytes of a message to keep
/// (0: drop it).
pub type SocketFilter = Arc<dyn Fn(&[u8]) -> u32 + Send + Sync>;

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

/// Gives back what `released` (sender, charge) had charged to each sender, waking
/// them: their room grew.
fn uncharge(released: Vec<(Weak<UnixSocket>, usize)>) {
    for (sender, n) in released {
        if let Some(sender) = sender.upgrade() {
            {
                let mut ss = sender.state.lock();
                ss.wmem = ss.wmem.saturating_sub(n);
            }
            sender.wq.wake(ev(POLLOUT | POLLWRNORM | POLLWRBAND));
        }
    }
}

/// Empties a receive queue: what each sender gets back, and the segments (whose
/// descriptors the caller drops once no lock is held).
fn purge(s: &mut State) -> (Vec<(Weak<UnixSocket>, usize)>, VecDeque<Segment>) {
    let queued = core::mem::take(&mut s.rx);
    s.rx_bytes = 0;
    let released = queued
        .iter()
        .map(|seg| (seg.sender.clone(), seg.charge))
        .collect();
    (released, queued)
}

/// Wakes the datagram sockets whose poll waits for room in a queue.
fn wake_peer_wakers(wakers: Vec<Weak<UnixSocket>>) {
    for w in wakers.iter().filter_map(Weak::upgrade) {
        w.wq.wake(ev(POLLOUT | POLLWRNORM | POLLWRBAND));
    }
}

impl UnixSocket {
    /// A new, unnamed, unconnected socket created by `owner`.
    pub fn new(kind: Kind, owner: Cred) -> Arc<Self> {
        let s = Arc::new_cyclic(|me| Self {
            kind,
            me: me.clone(),
            owner: spin::Mutex::new(owner),
            state: spin::Mutex::new(State {
                addr: None,
                key: None,
                listen: None,
                peer: None,
                peer_name: Addr::Unnamed,
                connected: false,
                dead: false,
                rx: VecDeque::new(),
                rx_bytes: 0,
                wmem: 0,
                shutdown: 0,
                passcred: false,
                peercred: None,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                rcvtimeo: None,
                sndtimeo: None,
                error: None,
                peer_wakers: Vec::new(),
                filter: None,
            }),
            wq: WaitQueue::new(),
        });
        ALL.lock()
            .insert(Arc::as_ptr(&s) as usize, Arc::downgrade(&s));
        s
    }

    /// socketpair(2): two connected sockets.
    pub fn pair(kind: Kind, owner: Cred) -> (Arc<Self>, Arc<Self>) {
        let a = Self::new(kind, owner);
        let b = Self::new(kind, owner);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut s = x.state.lock();
            s.peer = Some(Arc::downgrade(y));
            s.connected = kind.connection_oriented();
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

    fn is_dead(&self) -> bool {
        self.state.lock().dead
    }

    fn is(&self, w: &Weak<UnixSocket>) -> bool {
        Weak::ptr_eq(w, &self.me)
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
            match self.bind(
                Addr::Abstract(name.clone()),
                NameKey::Abstract(self.kind, name),
            ) {
                Err(Errno::EADDRINUSE) => continue,
                r => return r,
            }
        }
        Err(Errno::ENOSPC)
    }

    /// Whether bound.
    pub fn is_bound(&self) -> bool {
        self.state.lock().addr.is_some()
    }

    /// Whether a send or connect must autobind first: Linux gives a socket with
    /// SO_PASSCRED a name before it connects or sends a datagram, so that its
    /// receiver can tell who wrote (unix_may_passcred). `addressed`: the send names
    /// its destination; without one, only a socket that has a peer gets this far.
    pub fn needs_autobind(&self, addressed: bool) -> bool {
        let s = self.state.lock();
        s.passcred && s.addr.is_none() && (addressed || s.peer.is_some())
    }

    /// The checks unix_dgram_sendmsg (after unix_seqpacket_sendmsg's own) makes
    /// before it copies a message and looks up its address: the connection
    /// (ENOTCONN), the SO_PASSCRED autobind, the size (EMSGSIZE beyond the send
    /// buffer less 32 bytes), the pending error, a sender shut down for writing
    /// (EPIPE). `addressed`: the datagram names its destination.
    pub fn prepare_message(&self, len: usize, addressed: bool) -> KResult<()> {
        {
            let mut s = self.state.lock();
            if self.kind == Kind::SeqPacket {
                if let Some(e) = s.error.take() {
                    return Err(e);
                }
                if !s.connected {
                    return Err(Errno::ENOTCONN);
                }
            } else if !addressed && s.peer.is_none() {
                return Err(Errno::ENOTCONN);
            }
        }
        if self.needs_autobind(addressed) {
            self.autobind()?;
        }
        let mut s = self.state.lock();
        if len > s.sndbuf.saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        if s.shutdown & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        Ok(())
    }

    /// listen(2); the listener's credentials become what its clients see as
    /// SO_PEERCRED. Linux refuses an unbound socket (no autobind on listen) and a
    /// connected one with EINVAL (unix_listen).
    pub fn listen(&self, backlog: usize, owner: Cred) -> KResult<()> {
        if self.kind == Kind::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        {
            let mut s = self.state.lock();
            if s.addr.is_none() || s.connected {
                return Err(Errno::EINVAL);
            }
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
        }
        *self.owner.lock() = owner;
        // A larger backlog may let waiting connects in.
        self.wq.wake_all();
        Ok(())
    }

    /// Whether a listener has room for one more pending connection (or is gone:
    /// a waiting connect should look again).
    pub fn accept_room(&self) -> bool {
        let s = self.state.lock();
        s.listen
            .as_ref()
            .is_none_or(|l| l.pending.len() <= l.backlog)
    }

    /// Whether this queue would take a message from `sender` now, as far as its
    /// length goes (or a waiting sender should look again: this socket was
    /// released, shut down, or is connected back to `sender`).
    pub fn has_room_for(&self, sender: &UnixSocket) -> bool {
        let s = self.state.lock();
        !Self::full_for(&s, self, sender)
    }

    /// unix_recvq_full for a datagram from `sender` to `t` (locked, the socket
    /// `target`): more than MAX_DGRAM_QLEN messages, counted only when `t` is not
    /// the sender itself nor connected back to it, and is still taking messages.
    fn full_for(t: &State, target: &UnixSocket, sender: &UnixSocket) -> bool {
        !t.dead
            && t.shutdown & RCV_SHUTDOWN == 0
            && !core::ptr::eq(target, sender)
            && !t.peer.as_ref().is_some_and(|p| sender.is(p))
            && t.rx.len() > MAX_DGRAM_QLEN
    }

    /// Whether this socket may queue another segment, as far as its own send
    /// buffer goes (or a waiting sender should look again: a send would fail).
    pub fn can_send(&self) -> bool {
        let s = self.state.lock();
        s.wmem < s.sndbuf || s.dead || s.shutdown & SEND_SHUTDOWN != 0 || s.error.is_some()
    }

    /// The socket this one sends to without an address, if any (alive or not).
    pub fn peer_socket(&self) -> Option<Arc<UnixSocket>> {
        self.state.lock().peer.as_ref().and_then(Weak::upgrade)
    }

    /// Whether listening (SO_ACCEPTCONN).
    pub fn is_listening(&self) -> bool {
        self.state.lock().listen.is_some()
    }

    /// Whether a connection-oriented socket is connected (it stays so after its
    /// peer closes), or a datagram socket has a peer.
    pub fn is_connected(&self) -> bool {
        let s = self.state.lock();
        s.connected || (self.kind == Kind::Dgram && s.peer.is_some())
    }

    /// Why `t` (a listener, locked) refuses a connection now: ECONNREFUSED unless
    /// it is listening and not shut down for reading, EAGAIN while its backlog is
    /// full (unix_stream_connect).
    fn refusal(t: &State) -> KResult<()> {
        if t.dead || t.shutdown & RCV_SHUTDOWN != 0 {
            return Err(Errno::ECONNREFUSED);
        }
        match &t.listen {
            None => Err(Errno::ECONNREFUSED),
            Some(l) if l.pending.len() > l.backlog => Err(Errno::EAGAIN),
            Some(_) => Ok(()),
        }
    }

    /// connect(2) of a stream or seqpacket socket to the listener `target`, by a
    /// process with credentials `cred`. As Linux, the listener is asked first
    /// (ECONNREFUSED, EAGAIN while its backlog is full), then this socket
    /// (EINVAL if listening, EISCONN if connected).
    pub fn connect(&self, target: &Arc<UnixSocket>, cred: Cred) -> KResult<()> {
        if self.kind == Kind::Dgram {
            return self.connect_dgram(target);
        }
        if target.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        Self::refusal(&target.state.lock())?;
        {
            let s = self.state.lock();
            if s.listen.is_some() {
                return Err(Errno::EINVAL);
            }
            if s.connected {
                return Err(Errno::EISCONN);
            }
        }
        let my_name = self.local_addr();
        let listener_cred = target.owner();
        let server = UnixSocket::new(self.kind, listener_cred);
        let listener_name = {
            let mut t = target.state.lock();
            Self::refusal(&t)?;
            {
                // Nobody else knows `server` yet: taking its lock here is safe.
                let mut ss = server.state.lock();
                ss.addr = t.addr.clone();
                ss.peer = Some(self.me.clone());
                ss.peer_name = my_name;
                ss.connected = true;
                ss.peercred = Some(cred);
            }
            let l = t.listen.as_mut().expect("checked by refusal");
            l.pending.push_back(server.clone());
            t.addr.clone().unwrap_or(Addr::Unnamed)
        };
        let raced = {
            let mut s = self.state.lock();
            if s.connected || s.listen.is_some() {
                true
            } else {
                s.peer = Some(Arc::downgrade(&server));
                s.peer_name = listener_name;
                s.connected = true;
                s.peercred = Some(listener_cred);
                false
            }
        };
        if raced {
            // Another thread connected this socket meanwhile: take ours back quietly.
            server.state.lock().peer = None;
            let mut t = target.state.lock();
            if let Some(l) = t.listen.as_mut() {
                l.pending.retain(|c| !Arc::ptr_eq(c, &server));
            }
            return Err(Errno::EISCONN);
        }
        target.wq.wake(ev(POLLIN | POLLRDNORM));
        self.wq.wake_all();
        Ok(())
    }

    /// unix_may_send: a datagram socket connected to another takes messages only
    /// from that one, even after it is gone (until this socket notices).
    fn may_send(t: &State, sender: &Weak<UnixSocket>) -> bool {
        t.peer.as_ref().is_none_or(|p| Weak::ptr_eq(p, sender))
    }

    /// connect(2) of a datagram socket: `target` becomes its peer (EPERM if
    /// `target` is connected to another socket, unix_dgram_connect). Leaving
    /// another peer drops what was received (see [`UnixSocket::disconnect`]).
    fn connect_dgram(&self, target: &Arc<UnixSocket>) -> KResult<()> {
        if target.kind != Kind::Dgram {
            return Err(Errno::EPROTOTYPE);
        }
        let name = {
            let t = target.state.lock();
            if t.dead {
                return Err(Errno::ECONNREFUSED);
            }
            if !Self::may_send(&t, &self.me) {
                return Err(Errno::EPERM);
            }
            t.addr.clone().unwrap_or(Addr::Unnamed)
        };
        let new = Arc::downgrade(target);
        let (old, wakers) = {
            let mut s = self.state.lock();
            s.peer_name = name;
            (
                s.peer.replace(new.clone()),
                core::mem::take(&mut s.peer_wakers),
            )
        };
        if let Some(old) = old
            && !Weak::ptr_eq(&old, &new)
        {
            self.dgram_disconnected(&old);
        }
        // Who may send here, and who counts against the queue limit, changed.
        wake_peer_wakers(wakers);
        self.wq.wake_all();
        Ok(())
    }

    /// Disconnects a datagram socket (connect with AF_UNSPEC).
    pub fn disconnect(&self) {
        if self.kind != Kind::Dgram {
            return;
        }
        let (old, wakers) = {
            let mut s = self.state.lock();
            (s.peer.take(), core::mem::take(&mut s.peer_wakers))
        };
        if let Some(old) = old {
            self.dgram_disconnected(&old);
        }
        wake_peer_wakers(wakers);
        self.wq.wake_all();
    }

    /// unix_dgram_disconnected: a datagram socket that leaves its peer drops what
    /// it had received, and a peer that was connected back to it gets ECONNRESET.
    fn dgram_disconnected(&self, old: &Weak<UnixSocket>) {
        let (released, purged, wakers) = {
            let mut s = self.state.lock();
            let (released, purged) = purge(&mut s);
            (released, purged, core::mem::take(&mut s.peer_wakers))
        };
        uncharge(released);
        wake_peer_wakers(wakers);
        self.wq.wake(ev(POLLOUT | POLLWRNORM | POLLWRBAND));
        drop(purged);
        if let Some(p) = old.upgrade() {
            let told = {
                let mut ps = p.state.lock();
                let back = !ps.dead && ps.peer.as_ref().is_some_and(|w| self.is(w));
                if back {
                    ps.error = Some(Errno::ECONNRESET);
                }
                back
            };
            if told {
                p.wq.wake_all();
            }
        }
    }

    /// accept(2): the next connected socket, EAGAIN if none, EINVAL if not
    /// listening.
    pub fn accept(&self) -> KResult<Arc<UnixSocket>> {
        let mut s = self.state.lock();
        let l = s.listen.as_mut().ok_or(Errno::EINVAL)?;
        l.pending.pop_front().ok_or(Errno::EAGAIN)
    }

    /// Whether reading was shut down (shutdown(SHUT_RD), or the peer's SHUT_WR or
    /// close): a blocking accept or datagram receive that would wait returns
    /// instead (EINVAL, end-of-file) where a non-blocking one says EAGAIN.
    pub fn read_shut_down(&self) -> bool {
        self.state.lock().shutdown & RCV_SHUTDOWN != 0
    }

    /// The bound name (Unnamed when none).
    pub fn local_addr(&self) -> Addr {
        self.state.lock().addr.clone().unwrap_or(Addr::Unnamed)
    }

    /// The peer's name (ENOTCONN without a peer). A peer that is gone is still
    /// the peer, with the name it had (unix_getname keeps unix_peer).
    pub fn peer_addr(&self) -> KResult<Addr> {
        let (peer, name) = {
            let s = self.state.lock();
            let peer = s.peer.clone().ok_or(Errno::ENOTCONN)?;
            (peer, s.peer_name.clone())
        };
        match peer.upgrade() {
            Some(p) if !p.is_dead() => Ok(p.local_addr()),
            _ => Ok(name),
        }
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
        match self.kind {
            Kind::Stream => self.send_stream(data, rights, cred, to.is_some()),
            _ => self.send_message(data, rights, cred, to),
        }
    }

    /// unix_stream_sendmsg: an address is refused (EISCONN, EOPNOTSUPP), a socket
    /// never connected is ENOTCONN, one shut down for writing (or whose peer
    /// closed or shut down reading) EPIPE; only then the pending error and the
    /// room in the send buffer count.
    fn send_stream(
        &self,
        data: &[u8],
        rights: Option<Rights>,
        cred: Cred,
        addressed: bool,
    ) -> KResult<usize> {
        let (peer, n) = {
            let mut s = self.state.lock();
            if addressed {
                return Err(if s.connected {
                    Errno::EISCONN
                } else {
                    Errno::EOPNOTSUPP
                });
            }
            let peer = match &s.peer {
                Some(p) if s.connected => p.clone(),
                _ => return Err(Errno::ENOTCONN),
            };
            if s.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            if data.is_empty() {
                return Ok(0); // nothing to queue: an empty write is not end-of-file
            }
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.wmem >= s.sndbuf {
                return Err(Errno::EAGAIN);
            }
            let seg_max = ((s.sndbuf >> 1) - 64).min(STREAM_SEG_MAX);
            (peer, data.len().min(seg_max))
        };
        let target = peer.upgrade().ok_or(Errno::EPIPE)?;
        self.enqueue(&target, &data[..n], rights, cred, |t| {
            if t.dead || t.shutdown & RCV_SHUTDOWN != 0 {
                Err(Errno::EPIPE)
            } else {
                Ok(())
            }
        })?;
        Ok(n)
    }

    /// unix_dgram_sendmsg (and unix_seqpacket_sendmsg, which checks the pending
    /// error and the connection first and ignores any address).
    fn send_message(
        &self,
        data: &[u8],
        rights: Option<Rights>,
        cred: Cred,
        to: Option<Arc<UnixSocket>>,
    ) -> KResult<usize> {
        let seqpacket = self.kind == Kind::SeqPacket;
        let target = {
            let mut s = self.state.lock();
            if seqpacket {
                if let Some(e) = s.error.take() {
                    return Err(e);
                }
                if !s.connected {
                    return Err(Errno::ENOTCONN);
                }
            }
            let target = match (to.filter(|_| !seqpacket), &s.peer) {
                (Some(t), _) => Ok(t),
                (None, None) => return Err(Errno::ENOTCONN),
                (None, Some(p)) => match p.upgrade() {
                    Some(t) => Ok(t),
                    None => Err(p.clone()),
                },
            };
            if data.len() > s.sndbuf.saturating_sub(32) {
                return Err(Errno::EMSGSIZE);
            }
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            if s.wmem >= s.sndbuf {
                return Err(Errno::EAGAIN);
            }
            target
        };
        let target = match target {
            Ok(t) => t,
            Err(gone) => return Err(self.peer_gone(&gone)),
        };
        // The receiver's filter, before its state is checked (sk_filter in
        // unix_dgram_sendmsg): a message it drops is gone without an error
        // to the sender; one it trims arrives trimmed.
        let whole = data.len();
        let filter = target.state.lock().filter.clone();
        let data = match filter {
            Some(f) => match f(data) as usize {
                0 => return Ok(data.len()),
                keep => &data[..keep.min(data.len())],
            },
            None => data,
        };
        let me = self.me.clone();
        let r = self.enqueue(&target, data, rights, cred, |t| {
            if !Self::may_send(t, &me) {
                return Err(Errno::EPERM);
            }
            if t.dead {
                return Err(Errno::ECONNREFUSED);
            }
            if t.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            if Self::full_for(t, &target, self) {
                return Err(Errno::EAGAIN);
            }
            Ok(())
        });
        match r {
            Err(Errno::ECONNREFUSED) => Err(self.peer_gone(&Arc::downgrade(&target))),
            Err(e) => Err(e),
            // The sender is told its whole length, trimmed or not.
            Ok(()) => Ok(whole),
        }
    }

    /// A message send found the receiver released. A datagram socket connected to
    /// it is disconnected: ECONNREFUSED now, ENOTCONN after (unix_dgram_sendmsg);
    /// a seqpacket socket gets EPIPE.
    fn peer_gone(&self, gone: &Weak<UnixSocket>) -> Errno {
        if self.kind == Kind::SeqPacket {
            return Errno::EPIPE;
        }
        let was_peer = {
            let mut s = self.state.lock();
            let hit = s.peer.as_ref().is_some_and(|p| Weak::ptr_eq(p, gone));
            if hit {
                s.peer = None;
            }
            hit
        };
        if was_peer {
            self.dgram_disconnected(gone);
        }
        Errno::ECONNREFUSED
    }

    /// Queues `data` at `target` if `check` (run on its locked state) allows, and
    /// charges it to this socket.
    fn enqueue(
        &self,
        target: &Arc<UnixSocket>,
        data: &[u8],
        rights: Option<Rights>,
        cred: Cred,
        check: impl FnOnce(&State) -> KResult<()>,
    ) -> KResult<()> {
        let seg = Segment {
            data: data.to_vec(),
            read: 0,
            rights,
            cred,
            from: self.local_addr(),
            sender: self.me.clone(),
            charge: {
                let (head, frags) = skb_layout(self.kind, data.len());
                skb_truesize(head, frags)
            },
        };
        let n = data.len();
        let charge = seg.charge;
        let refused = {
            let mut t = target.state.lock();
            match check(&t) {
                Err(e) => Some((e, seg)),
                Ok(()) => {
                    t.rx.push_back(seg);
                    t.rx_bytes += n;
                    None
                }
            }
        };
        // The refused segment's descriptors are dropped here, with no lock held.
        if let Some((e, _seg)) = refused {
            return Err(e);
        }
        self.state.lock().wmem += charge;
        target.wq.wake(ev(POLLIN | POLLRDNORM));
        Ok(())
    }

    /// Receives into `buf`; `peek` leaves the data queued (descriptors are then
    /// duplicated, as Linux's MSG_PEEK does). Stream sockets read across writes
    /// (see the module documentation); others take one message. `Ok(len 0)` at
    /// end-of-file; EAGAIN when nothing is there yet.
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> KResult<Received> {
        self.recv_within(buf, peek, buf.len())
    }

    /// [`UnixSocket::recv`] into a buffer whose first `writable` bytes only can be
    /// delivered to the caller. A stream read copies write by write, as Linux's
    /// unix_stream_read_generic does, and stops before a write whose piece would
    /// not fit there, leaving it queued: EFAULT if that is the first one. Messages
    /// are taken whole whatever `writable` says (the caller loses what it cannot
    /// deliver, as Linux loses a datagram it fails to copy).
    pub fn recv_within(&self, buf: &mut [u8], peek: bool, writable: usize) -> KResult<Received> {
        let mut out = Received::default();
        let mut released: Vec<(Weak<UnixSocket>, usize)> = Vec::new();
        let mut dequeued = None;
        let mut wakers = Vec::new();
        {
            let mut s = self.state.lock();
            match self.kind {
                Kind::Stream => {
                    // unix_stream_read_generic: only a connected socket reads; the
                    // queued data comes before a pending error and end-of-file.
                    if !s.connected {
                        return Err(Errno::EINVAL);
                    }
                    if s.rx.is_empty() {
                        if let Some(e) = s.error.take() {
                            return Err(e);
                        }
                        if s.shutdown & RCV_SHUTDOWN != 0 {
                            return Ok(out);
                        }
                        return Err(Errno::EAGAIN);
                    }
                    let passcred = s.passcred;
                    let mut i = 0;
                    while out.len < buf.len() && i < s.rx.len() {
                        let seg = &mut s.rx[i];
                        if i > 0 && passcred && Some(seg.cred) != out.cred {
                            break; // with SO_PASSCRED, writers are never glued together
                        }
                        let avail = &seg.data[seg.read..];
                        let n = avail.len().min(buf.len() - out.len);
                        if out.len + n > writable {
                            if out.len == 0 {
                                return Err(Errno::EFAULT);
                            }
                            break;
                        }
                        buf[out.len..out.len + n].copy_from_slice(&avail[..n]);
                        if i == 0 {
                            out.cred = Some(seg.cred);
                            out.from = Some(seg.from.clone());
                        }
                        out.len += n;
                        let carries_rights = seg.rights.is_some();
                        if carries_rights {
                            out.rights = if peek {
                                seg.rights.clone()
                            } else {
                                seg.rights.take()
                            };
                        }
                        if !peek {
                            seg.read += n;
                        }
                        i += 1;
                        if carries_rights {
                            break; // descriptors end the read that delivers them
                        }
                    }
                    if !peek {
                        // A segment is uncharged once it is read to the end.
                        s.rx_bytes -= out.len;
                        while s.rx.front().is_some_and(|seg| seg.read == seg.data.len()) {
                            let seg = s.rx.pop_front().expect("front checked");
                            released.push((seg.sender.clone(), seg.charge));
                        }
                    }
                    out.full_len = out.len;
                }
                Kind::Dgram | Kind::SeqPacket => {
                    // unix_seqpacket_recvmsg wants a connection; then the pending
                    // error comes first (__skb_try_recv_datagram).
                    if self.kind == Kind::SeqPacket && !s.connected {
                        return Err(Errno::ENOTCONN);
                    }
                    if let Some(e) = s.error.take() {
                        return Err(e);
                    }
                    if s.rx.is_empty() {
                        // A seqpacket socket shut down for reading is at end-of-file;
                        // a datagram socket only for a blocking receive (the caller's).
                        if self.kind == Kind::SeqPacket && s.shutdown & RCV_SHUTDOWN != 0 {
                            return Ok(out);
                        }
                        return Err(Errno::EAGAIN);
                    }
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
                    if peek {
                        out.rights = seg_ref.rights.clone();
                    }
                    if let Some(mut seg) = seg {
                        out.rights = seg.rights.take();
                        s.rx_bytes -= seg.data.len();
                        released.push((seg.sender.clone(), seg.charge));
                        dequeued = Some(seg);
                        wakers = core::mem::take(&mut s.peer_wakers);
                    }
                }
            }
        }
        uncharge(released);
        if dequeued.is_some() {
            // Room in this queue: senders waiting for it may go on.
            wake_peer_wakers(wakers);
            self.wq.wake(ev(POLLOUT | POLLWRNORM | POLLWRBAND));
        }
        Ok(out)
    }

    /// shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR: sets the bits here and, on
    /// a connection, the mirrored ones at the peer (unix_shutdown). An unconnected
    /// socket may shut down too (no ENOTCONN, unlike TCP).
    pub fn shutdown(&self, how: u32) -> KResult<()> {
        if how > SHUT_RDWR {
            return Err(Errno::EINVAL);
        }
        // SHUT_RD, SHUT_WR, SHUT_RDWR are 0, 1, 2; the bits 1, 2, 3.
        let mode = how as u8 + 1;
        let (peer, wakers) = {
            let mut s = self.state.lock();
            s.shutdown |= mode;
            (
                s.peer.as_ref().and_then(Weak::upgrade),
                core::mem::take(&mut s.peer_wakers),
            )
        };
        wake_peer_wakers(wakers);
        self.wq.wake_all();
        if let Some(p) = peer
            && self.kind.connection_oriented()
        {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            p.state.lock().shutdown |= peer_mode;
            p.wq.wake_all();
        }
        Ok(())
    }

    /// Releases the socket: its last open file was closed (Linux's
    /// unix_release_sock). The name is freed; a connected peer is shut down both
    /// ways, with ECONNRESET pending if data was left unread here; queued data
    /// goes back to its senders' budgets and passed descriptors are closed; each
    /// connection still waiting for accept is released as an embryo (its client
    /// gets ECONNRESET). Idempotent.
    pub fn release(&self) {
        self.release_as(false);
    }

    fn release_as(&self, embryo: bool) {
        let (key, pending, peer, unread, name, released, purged, wakers) = {
            let mut s = self.state.lock();
            if s.dead {
                return;
            }
            s.dead = true;
            s.shutdown = SHUTDOWN_MASK;
            let unread = !s.rx.is_empty();
            let (released, purged) = purge(&mut s);
            (
                s.key.take(),
                s.listen.take().map(|l| l.pending).unwrap_or_default(),
                s.peer.take(),
                unread,
                s.addr.clone().unwrap_or(Addr::Unnamed),
                released,
                purged,
                core::mem::take(&mut s.peer_wakers),
            )
        };
        if let Some(key) = key {
            let mut names = NAMES.lock();
            if names.get(&key).is_some_and(|w| self.is(w)) {
                names.remove(&key);
            }
        }
        if let Some(p) = peer.as_ref().and_then(Weak::upgrade)
            && self.kind.connection_oriented()
        {
            {
                let mut ps = p.state.lock();
                if !ps.dead {
                    ps.shutdown = SHUTDOWN_MASK;
                    if unread || embryo {
                        ps.error = Some(Errno::ECONNRESET);
                    }
                    ps.peer_name = name;
                }
            }
            p.wq.wake_all();
        }
        uncharge(released);
        wake_peer_wakers(wakers);
        for c in pending {
            c.release_as(true);
        }
        // Senders waiting for room here, and this socket's own waiters.
        self.wq.wake_all();
        drop(purged);
    }

    /// SO_ATTACH_FILTER / SO_ATTACH_BPF (Some) and SO_DETACH_FILTER (None:
    /// ENOENT if there was none).
    pub fn set_filter(&self, f: Option<SocketFilter>) -> KResult<()> {
        let mut s = self.state.lock();
        if f.is_none() && s.filter.is_none() {
            return Err(Errno::ENOENT);
        }
        let old = core::mem::replace(&mut s.filter, f);
        drop(s);
        drop(old);
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

    /// The poll bits this socket's own state gives, and the peer a datagram
    /// socket's writability also depends on.
    fn poll_self(&self) -> (u16, Option<Weak<UnixSocket>>) {
        let s = self.state.lock();
        let mut m = 0;
        if s.error.is_some() {
            m |= POLLERR;
        }
        if s.shutdown == SHUTDOWN_MASK {
            m |= POLLHUP;
        }
        if s.shutdown & RCV_SHUTDOWN != 0 {
            m |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        let queued = match &s.listen {
            Some(l) => !l.pending.is_empty(),
            None => !s.rx.is_empty(),
        };
        if queued {
            m |= POLLIN | POLLRDNORM;
        }
        // An unconnected connection-oriented socket is "hung up" (TCP_CLOSE).
        if self.kind.connection_oriented() && !s.connected && s.listen.is_none() {
            m |= POLLHUP;
        }
        // Writable while what it has queued is under a quarter of its buffer, even
        // when the peer is gone ("this prevents stuck sockets"); never listening.
        if s.listen.is_none() && s.wmem * 4 <= s.sndbuf {
            m |= POLLOUT | POLLWRNORM | POLLWRBAND;
        }
        let peer = if self.kind == Kind::Dgram {
            s.peer.clone()
        } else {
            None
        };
        (m, peer)
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        // Normally done when the last file closed; a socket that never had one (a
        // connection dropped before accept took it) is released here.
        self.release_as(false);
        ALL.lock().remove(&(self as *const UnixSocket as usize));
    }
}

impl FileOps for UnixSocket {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        self.recv(buf, false).map(|r| r.len)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        self.send(data, None, self.owner(), None)
    }

    /// unix_poll (stream) and unix_dgram_poll (datagram, seqpacket).
    fn poll(&self) -> u16 {
        let (m, peer) = self.poll_self();
        if m & POLLOUT == 0 {
            return m;
        }
        // A datagram socket whose peer's queue is full (and who is not connected
        // back) is not writable: it waits to be woken when the peer drains.
        if let Some(p) = peer.as_ref().and_then(Weak::upgrade) {
            let mut ps = p.state.lock();
            if Self::full_for(&ps, &p, self) {
                if !ps.peer_wakers.iter().any(|w| self.is(w)) {
                    ps.peer_wakers.retain(|w| w.strong_count() > 0);
                    ps.peer_wakers.push(self.me.clone());
                }
                return m & !(POLLOUT | POLLWRNORM | POLLWRBAND);
            }
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
            // unix_inq_len: a listener has no input queue to measure.
            if s.listen.is_some() {
                return Err(Errno::EINVAL);
            }
            let n = match self.kind {
                Kind::Stream => s.rx_bytes,
                _ => s.rx.front().map_or(0, |seg| seg.data.len()),
            };
            drop(s);
            kestrel_vfs::UserPtr::<i32>::new(arg).write(mem, &(n.min(i32::MAX as usize) as i32))?;
            return Ok(0);
        }
        if cmd == kestrel_abi::tty::TIOCOUTQ {
            // SIOCOUTQ (unix_outq_len): what this socket has queued at receivers,
            // counted as it is charged.
            let n = self.state.lock().wmem;
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
                NameKey::Abstract(Kind::Stream, b"t-lca".to_vec()),
            )
            .unwrap();
        server.listen(4, ME).unwrap();
        let client = UnixSocket::new(Kind::Stream, ME);
        let found = lookup(&NameKey::Abstract(Kind::Stream, b"t-lca".to_vec())).unwrap();
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
        let key = NameKey::Abstract(Kind::Dgram, b"t-name".to_vec());
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
                NameKey::Abstract(Kind::Dgram, b"other".to_vec())
            ),
            Err(Errno::EINVAL)
        );
        drop(a);
        assert!(lookup(&key).is_none());
        b.bind(Addr::Abstract(b"t-name".to_vec()), key).unwrap();
    }

    /// Sends `chunk` until EAGAIN; returns how many sends went through.
    fn fill(from: &UnixSocket, chunk: &[u8], to: Option<&Arc<UnixSocket>>) -> usize {
        let mut sends = 0;
        loop {
            match from.send(chunk, None, ME, to.cloned()) {
                Ok(n) => {
                    assert_eq!(n, chunk.len());
                    sends += 1;
                }
                Err(Errno::EAGAIN) => return sends,
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn a_full_stream_refuses_more_until_read() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        // As on Linux: 44 page-sized writes, and 278 one-byte ones (each costs
        // its bytes and an skb's overhead).
        assert_eq!(fill(&a, &[7u8; 4096], None), 44);
        assert_eq!(a.poll() & POLLOUT, 0);
        assert!(!a.can_send());
        let mut sink = alloc::vec![0u8; 65536];
        assert_eq!(b.recv(&mut sink, false).unwrap().len, 65536);
        assert!(a.can_send(), "room again");
        assert_eq!(a.poll() & POLLOUT, 0, "POLLOUT waits for a quarter");
        while b.recv(&mut sink, false).is_ok_and(|r| r.len > 0) {}
        assert_ne!(a.poll() & POLLOUT, 0);
        let (c, _d) = UnixSocket::pair(Kind::Stream, ME);
        assert_eq!(fill(&c, b"x", None), 278);
        // A big write goes in segments of at most half the buffer.
        let (e, f) = UnixSocket::pair(Kind::Stream, ME);
        e.set_buf(true, 8192);
        assert_eq!(e.send(&[1u8; 65536], None, ME, None), Ok(8192 - 64));
        drop(f);
    }

    #[test]
    fn a_datagram_receiver_holds_eleven_messages_from_strangers() {
        let r = bound(Kind::Dgram, "t-qlen");
        let x = UnixSocket::new(Kind::Dgram, ME);
        assert_eq!(fill(&x, b"m", Some(&r)), MAX_DGRAM_QLEN + 1);
        assert!(!r.has_room_for(&x));
        // A connected sender polls unwritable, and is woken when the queue drains.
        x.connect(&r, ME).unwrap();
        assert_eq!(x.poll() & POLLOUT, 0);
        let (count, waker) = counting_waker();
        let mut wait = core::pin::pin!(x.wait_queue().wait_until(|| None::<()>));
        let _ = wait
            .as_mut()
            .poll(&mut core::task::Context::from_waker(&waker));
        recv(&r, 4).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken");
        assert_ne!(x.poll() & POLLOUT, 0);
        // No limit for a receiver connected back to its sender: a socketpair is
        // bounded by the send buffer alone.
        let (a, _b) = UnixSocket::pair(Kind::Dgram, ME);
        assert_eq!(fill(&a, b"m", None), 278);
        // A datagram may be queued while the sender's charges are under its
        // buffer, whatever its size (sock_alloc_send_pskb).
        let (c, _d) = UnixSocket::pair(Kind::Dgram, ME);
        assert_eq!(fill(&c, &alloc::vec![0u8; 100_000], None), 3);
        assert_eq!(
            c.send(&alloc::vec![0u8; DEFAULT_BUF - 31], None, ME, None),
            Err(Errno::EMSGSIZE)
        );
    }

    #[test]
    fn messages_cost_what_linux_skbs_cost() {
        // Counts measured on Linux 6.x with the default 212992-byte buffer.
        for (len, sends) in [(1, 278), (1000, 93), (4096, 26), (100_000, 3)] {
            let (a, _b) = UnixSocket::pair(Kind::Dgram, ME);
            assert_eq!(
                fill(&a, &alloc::vec![0u8; len], None),
                sends,
                "{len}-byte datagrams"
            );
        }
        for (len, sends) in [(1, 278), (4096, 44)] {
            let (a, _b) = UnixSocket::pair(Kind::Stream, ME);
            assert_eq!(
                fill(&a, &alloc::vec![0u8; len], None),
                sends,
                "{len}-byte writes"
            );
        }
        assert_eq!(skb_truesize(1, 0), 768);
        assert_eq!(skb_layout(Kind::Stream, 36544), (3776, 32768));
        assert_eq!(skb_layout(Kind::Dgram, 100_000), (30368, 69632));
    }

    #[test]
    fn a_message_is_checked_before_its_address_counts() {
        // An unconnected datagram socket without an address: ENOTCONN.
        let g = UnixSocket::new(Kind::Dgram, ME);
        assert_eq!(g.prepare_message(1, false), Err(Errno::ENOTCONN));
        // Too big, or shut down: said before any lookup could fail.
        assert_eq!(
            g.prepare_message(DEFAULT_BUF - 31, true),
            Err(Errno::EMSGSIZE)
        );
        g.prepare_message(DEFAULT_BUF - 32, true).unwrap();
        g.shutdown(SHUT_WR).unwrap();
        assert_eq!(g.prepare_message(1, true), Err(Errno::EPIPE));
        // SO_PASSCRED: a name first, even if the send then fails.
        let p = UnixSocket::new(Kind::Dgram, ME);
        p.set_passcred(true);
        assert_eq!(p.prepare_message(1, false), Err(Errno::ENOTCONN));
        assert!(!p.is_bound());
        p.prepare_message(1, true).unwrap();
        assert!(p.is_bound());
        // A seqpacket socket: its pending error, then its connection.
        let q = UnixSocket::new(Kind::SeqPacket, ME);
        assert_eq!(q.prepare_message(1, true), Err(Errno::ENOTCONN));
    }

    #[test]
    fn a_stream_read_stops_before_a_write_it_could_not_deliver() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        a.send(b"abc", None, ME, None).unwrap();
        a.send(b"F", Some(alloc::vec![a_file()]), ME, None).unwrap();
        let mut buf = [0u8; 16];
        // Nothing fits: EFAULT, nothing taken.
        assert_eq!(b.recv_within(&mut buf, false, 2).err(), Some(Errno::EFAULT));
        // The first write fits, the second (with its descriptor) does not.
        let r = b.recv_within(&mut buf, false, 3).unwrap();
        assert_eq!((r.len, r.rights.is_some()), (3, false));
        let r = b.recv_within(&mut buf, false, 16).unwrap();
        assert_eq!(
            (&buf[..r.len], r.rights.map(|r| r.len())),
            (&b"F"[..], Some(1))
        );
        // An empty queue says so whatever the buffer.
        assert_eq!(b.recv_within(&mut buf, false, 0).err(), Some(Errno::EAGAIN));
    }

    struct Counter(core::sync::atomic::AtomicUsize);
    impl alloc::task::Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counter>, core::task::Waker) {
        let c = Arc::new(Counter(core::sync::atomic::AtomicUsize::new(0)));
        (c.clone(), core::task::Waker::from(c))
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

    fn abs(kind: Kind, name: &str) -> (Addr, NameKey) {
        let n = name.as_bytes().to_vec();
        (Addr::Abstract(n.clone()), NameKey::Abstract(kind, n))
    }

    fn bound(kind: Kind, name: &str) -> Arc<UnixSocket> {
        let s = UnixSocket::new(kind, ME);
        let (a, k) = abs(kind, name);
        s.bind(a, k).unwrap();
        s
    }

    const OUT: u16 = POLLOUT | POLLWRNORM | POLLWRBAND;
    const IN: u16 = POLLIN | POLLRDNORM;

    #[test]
    fn closing_with_unread_data_resets_the_peer_once() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        a.send(b"unread", None, ME, None).unwrap();
        drop(b);
        assert_eq!(a.poll(), IN | OUT | POLLERR | POLLHUP | POLLRDHUP);
        assert_eq!(recv(&a, 8).err(), Some(Errno::ECONNRESET));
        assert_eq!(recv(&a, 8).unwrap(), b"", "then end-of-file");
        assert_eq!(a.poll(), IN | OUT | POLLHUP | POLLRDHUP);
        assert_eq!(a.send(b"x", None, ME, None), Err(Errno::EPIPE));
        // Closing with everything read is a plain end-of-file.
        let (c, d) = UnixSocket::pair(Kind::Stream, ME);
        drop(d);
        assert_eq!(c.take_error(), None);
        assert_eq!(recv(&c, 8).unwrap(), b"");
    }

    #[test]
    fn queued_data_comes_before_a_pending_reset() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        a.send(b"to-b", None, ME, None).unwrap();
        b.send(b"to-a", None, ME, None).unwrap();
        drop(b);
        assert_eq!(recv(&a, 8).unwrap(), b"to-a");
        assert_eq!(recv(&a, 8).err(), Some(Errno::ECONNRESET));
        assert_eq!(recv(&a, 8).unwrap(), b"");
        // A seqpacket socket reports the error first (__skb_try_recv_datagram).
        let (c, d) = UnixSocket::pair(Kind::SeqPacket, ME);
        c.send(b"to-d", None, ME, None).unwrap();
        d.send(b"to-c", None, ME, None).unwrap();
        drop(d);
        assert_eq!(recv(&c, 8).err(), Some(Errno::ECONNRESET));
        assert_eq!(recv(&c, 8).unwrap(), b"to-c");
        assert_eq!(recv(&c, 8).unwrap(), b"");
    }

    #[test]
    fn poll_follows_the_shutdown_bits() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        assert_eq!(a.poll(), OUT);
        b.shutdown(SHUT_WR).unwrap();
        assert_eq!(a.poll(), IN | OUT | POLLRDHUP, "end-of-file, not hung up");
        assert_eq!(b.poll(), OUT, "shut down for writing, still 'writable'");
        assert_eq!(b.send(b"x", None, ME, None), Err(Errno::EPIPE));
        a.send(b"ok", None, ME, None).unwrap();
        // SHUT_RD here is SHUT_WR for the peer.
        let (c, d) = UnixSocket::pair(Kind::Stream, ME);
        d.shutdown(SHUT_RD).unwrap();
        assert_eq!(c.send(b"x", None, ME, None), Err(Errno::EPIPE));
        assert_eq!(c.poll(), OUT);
        assert_eq!(d.poll(), IN | OUT | POLLRDHUP);
        // Both ways: hung up.
        d.shutdown(SHUT_WR).unwrap();
        assert_eq!(d.poll(), IN | OUT | POLLRDHUP | POLLHUP);
    }

    #[test]
    fn unconnected_and_listening_sockets() {
        let s = UnixSocket::new(Kind::Stream, ME);
        assert_eq!(s.poll(), OUT | POLLHUP);
        assert_eq!(recv(&s, 4).err(), Some(Errno::EINVAL));
        assert_eq!(s.send(b"x", None, ME, None), Err(Errno::ENOTCONN));
        // Unlike TCP, shutdown of an unconnected socket succeeds.
        s.shutdown(SHUT_RD).unwrap();
        assert_eq!(s.poll(), IN | OUT | POLLRDHUP | POLLHUP);
        s.shutdown(SHUT_RDWR).unwrap();
        assert_eq!(s.send(b"x", None, ME, None), Err(Errno::ENOTCONN));
        // No listen without a name (Linux does not autobind here).
        let l = UnixSocket::new(Kind::Stream, ME);
        assert_eq!(l.listen(4, ME), Err(Errno::EINVAL));
        assert!(!l.is_listening());
        l.autobind().unwrap();
        l.listen(4, ME).unwrap();
        assert_eq!(l.poll(), 0);
        assert_eq!(recv(&l, 4).err(), Some(Errno::EINVAL));
        let (p, _q) = UnixSocket::pair(Kind::Stream, ME);
        p.autobind().unwrap();
        assert_eq!(p.listen(4, ME), Err(Errno::EINVAL), "connected");
        let g = UnixSocket::new(Kind::Dgram, ME);
        assert_eq!(g.poll(), OUT);
        assert_eq!(g.listen(4, ME), Err(Errno::EOPNOTSUPP));
        // A seqpacket socket wants a connection for either direction.
        let q = UnixSocket::new(Kind::SeqPacket, ME);
        assert_eq!(recv(&q, 4).err(), Some(Errno::ENOTCONN));
        assert_eq!(q.send(b"x", None, ME, None), Err(Errno::ENOTCONN));
        assert_eq!(q.poll(), OUT | POLLHUP);
    }

    #[test]
    fn a_closed_listener_resets_its_pending_clients() {
        let server = bound(Kind::Stream, "t-reset");
        server.listen(4, ME).unwrap();
        let client = UnixSocket::new(Kind::Stream, ME);
        client.connect(&server, ME).unwrap();
        client.send(b"early", None, ME, None).unwrap();
        drop(server);
        assert!(lookup(&abs(Kind::Stream, "t-reset").1).is_none());
        assert_eq!(recv(&client, 4).err(), Some(Errno::ECONNRESET));
        assert_eq!(recv(&client, 4).unwrap(), b"");
        assert_eq!(client.send(b"x", None, ME, None), Err(Errno::EPIPE));
        assert!(
            client.is_connected(),
            "still connected: connect again is EISCONN"
        );
    }

    #[test]
    fn connect_asks_the_listener_before_the_socket() {
        let server = bound(Kind::Stream, "t-order");
        let client = UnixSocket::new(Kind::Stream, ME);
        assert_eq!(client.connect(&server, ME), Err(Errno::ECONNREFUSED));
        server.listen(0, ME).unwrap();
        client.connect(&server, ME).unwrap();
        let other = UnixSocket::new(Kind::Stream, ME);
        assert_eq!(
            other.connect(&server, ME),
            Err(Errno::EAGAIN),
            "backlog 0 holds one"
        );
        assert_eq!(
            client.connect(&server, ME),
            Err(Errno::EAGAIN),
            "not EISCONN"
        );
        let _conn = server.accept().unwrap();
        assert_eq!(client.connect(&server, ME), Err(Errno::EISCONN));
        // A listener shut down for reading refuses; accept then has nothing.
        server.shutdown(SHUT_RD).unwrap();
        assert_eq!(other.connect(&server, ME), Err(Errno::ECONNREFUSED));
        assert_eq!(server.accept().err(), Some(Errno::EAGAIN));
        assert!(server.read_shut_down());
    }

    #[test]
    fn abstract_names_are_per_socket_type() {
        let s = bound(Kind::Stream, "t-types");
        let g = bound(Kind::Dgram, "t-types");
        let (a, k) = abs(Kind::Dgram, "t-types");
        assert_eq!(
            UnixSocket::new(Kind::Dgram, ME).bind(a, k.clone()),
            Err(Errno::EADDRINUSE)
        );
        assert!(Arc::ptr_eq(&lookup(&k).unwrap(), &g));
        assert!(Arc::ptr_eq(
            &lookup(&abs(Kind::Stream, "t-types").1).unwrap(),
            &s
        ));
        assert!(lookup(&abs(Kind::SeqPacket, "t-types").1).is_none());
    }

    #[test]
    fn a_datagram_peer_that_closed_is_refused_once_then_not_connected() {
        let (a, b) = UnixSocket::pair(Kind::Dgram, ME);
        a.send(b"unread", None, ME, None).unwrap();
        drop(b);
        // No end-of-file, no hang-up, no error for datagrams.
        assert_eq!(a.poll(), OUT);
        assert_eq!(recv(&a, 4).err(), Some(Errno::EAGAIN));
        assert_eq!(a.peer_addr(), Ok(Addr::Unnamed), "still the peer");
        assert_eq!(a.send(b"x", None, ME, None), Err(Errno::ECONNREFUSED));
        assert_eq!(a.send(b"x", None, ME, None), Err(Errno::ENOTCONN));
        assert_eq!(a.peer_addr(), Err(Errno::ENOTCONN));
    }

    #[test]
    fn a_datagram_socket_connected_elsewhere_refuses_strangers() {
        let x = bound(Kind::Dgram, "t-x");
        let y = bound(Kind::Dgram, "t-y");
        let z = bound(Kind::Dgram, "t-z");
        x.connect(&y, ME).unwrap();
        assert_eq!(z.connect(&x, ME), Err(Errno::EPERM));
        assert_eq!(z.send(b"s", None, ME, Some(x.clone())), Err(Errno::EPERM));
        y.send(b"ok", None, ME, Some(x.clone())).unwrap();
        // Even after its peer is gone, until x itself notices (unix_may_send).
        drop(y);
        assert_eq!(z.send(b"s", None, ME, Some(x.clone())), Err(Errno::EPERM));
        assert_eq!(x.send(b"q", None, ME, None), Err(Errno::ECONNREFUSED));
        assert_eq!(z.send(b"s", None, ME, Some(x.clone())), Ok(1));
    }

    #[test]
    fn disconnecting_drops_what_was_received_and_resets_a_peer_connected_back() {
        let x = bound(Kind::Dgram, "t-dx");
        let y = bound(Kind::Dgram, "t-dy");
        x.connect(&y, ME).unwrap();
        y.connect(&x, ME).unwrap();
        y.send(b"1", None, ME, None).unwrap();
        x.send(b"2", None, ME, None).unwrap();
        x.disconnect();
        assert_eq!(recv(&x, 4).err(), Some(Errno::EAGAIN), "purged");
        assert_eq!(y.poll(), IN | OUT | POLLERR);
        assert_eq!(recv(&y, 4).err(), Some(Errno::ECONNRESET));
        assert_eq!(recv(&y, 4).unwrap(), b"2");
        // Connecting to the same peer again keeps the queue.
        x.connect(&y, ME).unwrap();
        y.send(b"3", None, ME, None).unwrap();
        x.connect(&y, ME).unwrap();
        assert_eq!(recv(&x, 4).unwrap(), b"3");
    }

    #[test]
    fn seqpacket_ends_with_eof_and_never_glues() {
        let (a, b) = UnixSocket::pair(Kind::SeqPacket, ME);
        a.send(b"one", None, ME, None).unwrap();
        a.send(b"two", None, ME, None).unwrap();
        assert_eq!(recv(&b, 8).unwrap(), b"one");
        drop(a);
        assert_eq!(recv(&b, 8).unwrap(), b"two");
        assert_eq!(recv(&b, 8).unwrap(), b"");
        assert_eq!(b.send(b"x", None, ME, None), Err(Errno::EPIPE));
        assert_eq!(b.poll(), IN | OUT | POLLHUP | POLLRDHUP);
    }

    fn a_file() -> Arc<OpenFile> {
        OpenFile::anonymous(None, UnixSocket::new(Kind::Dgram, ME), O_RDWR)
    }

    #[test]
    fn stream_reads_glue_writes_but_end_after_descriptors() {
        let (a, b) = UnixSocket::pair(Kind::Stream, ME);
        let other = Ucred {
            pid: 2,
            uid: 0,
            gid: 0,
        };
        a.send(b"ab", None, ME, None).unwrap();
        a.send(b"F", Some(alloc::vec![a_file()]), ME, None).unwrap();
        a.send(b"cd", None, ME, None).unwrap();
        let mut buf = [0u8; 16];
        let peeked = b.recv(&mut buf, true).unwrap();
        assert_eq!(&buf[..peeked.len], b"abF");
        assert_eq!(
            peeked.rights.map(|r| r.len()),
            Some(1),
            "a peek duplicates them"
        );
        let r = b.recv(&mut buf, false).unwrap();
        assert_eq!(&buf[..r.len], b"abF");
        assert_eq!(r.rights.map(|r| r.len()), Some(1));
        assert_eq!(recv(&b, 16).unwrap(), b"cd");
        // Writers are glued together, unless the reader asked for credentials.
        a.send(b"p1", None, ME, None).unwrap();
        a.send(b"c1", None, other, None).unwrap();
        assert_eq!(recv(&b, 16).unwrap(), b"p1c1");
        b.set_passcred(true);
        a.send(b"p1", None, ME, None).unwrap();
        a.send(b"c1", None, other, None).unwrap();
        assert_eq!(recv(&b, 16).unwrap(), b"p1");
        let r = b.recv(&mut buf, false).unwrap();
        assert_eq!((&buf[..r.len], r.cred), (&b"c1"[..], Some(other)));
    }

    #[test]
    fn getpeername_still_names_a_peer_that_closed() {
        let server = bound(Kind::Stream, "t-peername");
        server.listen(4, ME).unwrap();
        let client = UnixSocket::new(Kind::Stream, ME);
        client.connect(&server, ME).unwrap();
        let conn = server.accept().unwrap();
        // A name the client takes after connecting shows (bind after connect).
        client.autobind().unwrap();
        let name = client.local_addr();
        assert_eq!(conn.peer_addr(), Ok(name.clone()));
        drop(client);
        assert_eq!(conn.peer_addr(), Ok(name));
        assert_eq!(conn.peercred(), Some(ME));
    }

    #[test]
    fn a_released_socket_is_dead_to_whoever_still_holds_it() {
        let r = bound(Kind::Dgram, "t-dead");
        let held = lookup(&abs(Kind::Dgram, "t-dead").1).unwrap();
        let s = UnixSocket::new(Kind::Dgram, ME);
        s.send(b"x", None, ME, Some(held.clone())).unwrap();
        r.release();
        assert!(lookup(&abs(Kind::Dgram, "t-dead").1).is_none());
        assert!(held.has_room_for(&s), "a waiting sender looks again");
        assert_eq!(
            s.send(b"x", None, ME, Some(held.clone())),
            Err(Errno::ECONNREFUSED)
        );
        // Its queue was purged: the sender's budget is back.
        assert_eq!(s.state.lock().wmem, 0);
        // The name is free again.
        bound(Kind::Dgram, "t-dead");
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
