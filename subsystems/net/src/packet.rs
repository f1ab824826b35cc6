//! AF_PACKET sockets (packet(7)): frames as the interfaces send and receive
//! them.
//!
//! A packet socket has a protocol (an Ethertype in network order; ETH_P_ALL
//! takes every frame, 0 none until bind names one) and an interface (0: all
//! of them). The stack taps each interface where its frames pass
//! ([`Shared::tap`]): what it receives (before smoltcp sees it), and what it
//! sends (ETH_P_ALL sockets only, as PACKET_OUTGOING, as Linux's
//! dev_queue_xmit_nit). `lo` carries raw IP packets inside the stack; a
//! packet socket sees them behind an all-zero Ethernet header, as Linux's
//! loopback frames look.
//!
//! Frames wait in a per-socket queue bounded by SO_RCVBUF (past it they are
//! dropped and counted for PACKET_STATISTICS). SOCK_RAW receives and sends
//! the whole Ethernet frame, SOCK_DGRAM the payload (the link header is
//! built from the sockaddr_ll on send, and reported in it on receive).
//!
//! The ring options (PACKET_RX_RING, PACKET_TX_RING, TPACKET_V1..V3) are
//! checked as Linux checks them. An RX ring's memory ([`RingMem`]) comes from
//! the kernel, which maps it for user space; the taps fill it as Linux's
//! tpacket_rcv does instead of queueing. A V3 block goes to user space when
//! full or when the reader polls (no retire timer). A TX ring is kept but
//! sends nothing (partial). Socket filters are classic BPF ([`crate::bpf`]).
//! Fanout and SOCK_PACKET are not there.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};

use crate::inet::Shared;

pub const SOL_PACKET: i32 = 263;

pub const PACKET_ADD_MEMBERSHIP: i32 = 1;
pub const PACKET_DROP_MEMBERSHIP: i32 = 2;
pub const PACKET_RECV_OUTPUT: i32 = 3;
pub const PACKET_RX_RING: i32 = 5;
pub const PACKET_STATISTICS: i32 = 6;
pub const PACKET_COPY_THRESH: i32 = 7;
pub const PACKET_AUXDATA: i32 = 8;
pub const PACKET_ORIGDEV: i32 = 9;
pub const PACKET_VERSION: i32 = 10;
pub const PACKET_HDRLEN: i32 = 11;
pub const PACKET_RESERVE: i32 = 12;
pub const PACKET_TX_RING: i32 = 13;
pub const PACKET_LOSS: i32 = 14;
pub const PACKET_VNET_HDR: i32 = 15;
pub const PACKET_TIMESTAMP: i32 = 17;
pub const PACKET_QDISC_BYPASS: i32 = 20;
pub const PACKET_IGNORE_OUTGOING: i32 = 23;

pub const TPACKET_V1: u32 = 0;
pub const TPACKET_V2: u32 = 1;
pub const TPACKET_V3: u32 = 2;

/// The frame header lengths of each ring version (TPACKET_HDRLEN,
/// TPACKET2_HDRLEN, TPACKET3_HDRLEN: the aligned header and a sockaddr_ll).
pub const TPACKET_HDRLEN: u32 = 32 + 20;
pub const TPACKET2_HDRLEN: u32 = 32 + 20;
pub const TPACKET3_HDRLEN: u32 = 48 + 20;
/// A V3 block's descriptor, aligned (BLK_HDR_LEN).
const BLK_HDR_LEN: u64 = 48;
pub const TPACKET_ALIGNMENT: u32 = 16;
/// struct tpacket_req and tpacket_req3.
pub const TPACKET_REQ_LEN: usize = 16;
pub const TPACKET_REQ3_LEN: usize = 28;
const PAGE_SIZE: u32 = 4096;
/// The most ring memory one ring may ask for: beyond, ENOMEM (Linux fails
/// the allocation somewhere around the machine's memory).
const RING_MAX_BYTES: u64 = 256 << 20;

pub const ETH_P_ALL: u16 = 0x0003;
pub const ETH_HLEN: usize = 14;
/// struct virtio_net_hdr, in front of each frame with PACKET_VNET_HDR.
pub const VNET_HDR_LEN: usize = 10;

pub const PACKET_HOST: u8 = 0;
pub const PACKET_BROADCAST: u8 = 1;
pub const PACKET_MULTICAST: u8 = 2;
pub const PACKET_OTHERHOST: u8 = 3;
pub const PACKET_OUTGOING: u8 = 4;

pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;

/// sizeof(struct sockaddr_ll), and where its sll_addr starts.
pub const SOCKADDR_LL_LEN: usize = 20;
pub const SLL_ADDR_OFF: usize = 12;

/// Default receive and send buffers (net.core.rmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// The largest SO_RCVBUF/SO_SNDBUF (rmem_max doubled).
pub const MAX_BUF: usize = 425_984;
const MIN_RCVBUF: usize = 2304;
const MIN_SNDBUF: usize = 4608;
/// What a queued frame costs besides its bytes (an skb).
const OVERHEAD: usize = 576;

/// A struct sockaddr_ll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockaddrLl {
    /// Network order, as the caller wrote it.
    pub protocol: u16,
    pub ifindex: i32,
    pub hatype: u16,
    pub pkttype: u8,
    pub halen: u8,
    pub addr: [u8; 8],
}

impl SockaddrLl {
    /// Parses the first bytes of a sockaddr_ll (the caller checked the length
    /// it needs; missing bytes read 0).
    pub fn parse(b: &[u8]) -> Self {
        let mut a = [0u8; SOCKADDR_LL_LEN];
        let n = b.len().min(SOCKADDR_LL_LEN);
        a[..n].copy_from_slice(&b[..n]);
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&a[12..20]);
        Self {
            protocol: u16::from_ne_bytes([a[2], a[3]]),
            ifindex: i32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
            hatype: u16::from_ne_bytes([a[8], a[9]]),
            pkttype: a[10],
            halen: a[11],
            addr,
        }
    }

    /// The family of a sockaddr (its first two bytes).
    pub fn family(b: &[u8]) -> Option<u32> {
        (b.len() >= 2).then(|| u32::from(u16::from_ne_bytes([b[0], b[1]])))
    }

    /// The 20 bytes of the struct.
    pub fn to_bytes(&self) -> [u8; SOCKADDR_LL_LEN] {
        let mut b = [0u8; SOCKADDR_LL_LEN];
        b[..2].copy_from_slice(&(kestrel_abi::net::AF_PACKET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&self.protocol.to_ne_bytes());
        b[4..8].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[8..10].copy_from_slice(&self.hatype.to_ne_bytes());
        b[10] = self.pkttype;
        b[11] = self.halen;
        b[12..20].copy_from_slice(&self.addr);
        b
    }

    /// The length Linux reports for it: up to the end of the hardware address.
    pub fn len(&self) -> usize {
        SLL_ADDR_OFF + usize::from(self.halen).min(8)
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// struct tpacket_req3 (tpacket_req is its first four fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingReq {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
    pub retire_blk_tov: u32,
    pub sizeof_priv: u32,
    pub feature_req_word: u32,
}

impl RingReq {
    pub fn parse(b: &[u8]) -> Self {
        let w = |i: usize| {
            b.get(i * 4..i * 4 + 4)
                .map_or(0, |x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
        };
        Self {
            block_size: w(0),
            block_nr: w(1),
            frame_size: w(2),
            frame_nr: w(3),
            retire_blk_tov: w(4),
            sizeof_priv: w(5),
            feature_req_word: w(6),
        }
    }
}

/// The ring header length of a version (PACKET_HDRLEN).
pub fn hdrlen(version: u32) -> Option<u32> {
    match version {
        TPACKET_V1 => Some(TPACKET_HDRLEN),
        TPACKET_V2 => Some(TPACKET2_HDRLEN),
        TPACKET_V3 => Some(TPACKET3_HDRLEN),
        _ => None,
    }
}

/// Checks a ring request as Linux's packet_set_ring does (after its EBUSY
/// checks): for a ring of `block_nr` blocks, a positive page-aligned block
/// size, room in a V3 block for its descriptor, private area and one frame,
/// frames at least a header and the reserve long and 16-byte aligned, at
/// least one per block, and a frame count that is exactly what the blocks
/// hold (without overflowing); no blocks asks for no frames.
pub fn check_ring(req: &RingReq, version: u32, reserve: u32, tx: bool) -> KResult<()> {
    if req.block_nr == 0 {
        if req.frame_nr != 0 {
            return Err(Errno::EINVAL);
        }
        return Ok(());
    }
    let hdr = hdrlen(version).ok_or(Errno::EINVAL)?;
    if req.block_size as i32 <= 0 || !req.block_size.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    // tp_reserve is at most INT_MAX: no overflow.
    let min_frame = hdr + reserve;
    if version >= TPACKET_V3 {
        let priv_len = (u64::from(req.sizeof_priv) + 7) & !7;
        if u64::from(req.block_size) < BLK_HDR_LEN + priv_len + u64::from(min_frame) {
            return Err(Errno::EINVAL);
        }
    }
    if req.frame_size < min_frame || req.frame_size & (TPACKET_ALIGNMENT - 1) != 0 {
        return Err(Errno::EINVAL);
    }
    let per_block = req.block_size / req.frame_size;
    if per_block == 0 || per_block > u32::MAX / req.block_nr {
        return Err(Errno::EINVAL);
    }
    if per_block * req.block_nr != req.frame_nr {
        return Err(Errno::EINVAL);
    }
    if u64::from(req.block_size) * u64::from(req.block_nr) > RING_MAX_BYTES {
        return Err(Errno::ENOMEM);
    }
    if version == TPACKET_V3
        && tx
        && (req.retire_blk_tov != 0 || req.sizeof_priv != 0 || req.feature_req_word != 0)
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// One frame waiting to be received.
struct Frame {
    /// The whole frame, link header included.
    data: Vec<u8>,
    from: SockaddrLl,
}

/// The memory of a ring, which user space maps: the kernel side provides it
/// (zeroed pages it can write while they are mapped).
pub trait RingMem: Send + Sync {
    /// Copies `b` to byte `off`.
    fn write(&self, off: usize, b: &[u8]);
    /// The 32-bit word at `off` (4-aligned), with acquire ordering.
    fn load_u32(&self, off: usize) -> u32;
    /// Writes the 32-bit word at `off` (4-aligned), with release ordering.
    fn store_u32(&self, off: usize, v: u32);
    fn as_any(&self) -> &dyn Any;
}

/// A ring's frame (V1, V2) or block (V3) status words.
pub const TP_STATUS_KERNEL: u32 = 0;
pub const TP_STATUS_USER: u32 = 1;
pub const TP_STATUS_LOSING: u32 = 4;

/// The clock of the rings' timestamps (realtime ns), set by the kernel.
static CLOCK: spin::Once<fn() -> u64> = spin::Once::new();

/// Sets the clock the rings' timestamps read.
pub fn set_clock(f: fn() -> u64) {
    CLOCK.call_once(|| f);
}

/// CLOCK_REALTIME in ns (0 before the kernel set the clock).
pub(crate) fn now_ns() -> u64 {
    CLOCK.get().map_or(0, |f| f())
}

fn align(x: u32, a: u32) -> u32 {
    (x + a - 1) & !(a - 1)
}

/// A ring set up with PACKET_RX_RING or PACKET_TX_RING.
struct Ring {
    req: RingReq,
    version: u32,
    mem: Arc<dyn RingMem>,
    /// V1, V2: the next frame to fill; V3: the current block.
    head: u32,
    /// V3: the current block is open (has a descriptor for this round).
    open: bool,
    /// V3: where the next packet goes in the open block, and the last one.
    off: u32,
    last: Option<u32>,
    pkts: u32,
    seq: u64,
    /// A frame was dropped for want of room since the last one filled.
    losing: bool,
}

/// The first packet's offset in a V3 block (BLK_PLUS_PRIV).
fn v3_first(req: &RingReq) -> u32 {
    BLK_HDR_LEN as u32 + align(req.sizeof_priv, 8)
}

impl Ring {
    fn frames_per_block(&self) -> u32 {
        self.req.block_size / self.req.frame_size
    }

    fn frame_base(&self, idx: u32) -> usize {
        let fpb = self.frames_per_block();
        (idx / fpb) as usize * self.req.block_size as usize
            + (idx % fpb) as usize * self.req.frame_size as usize
    }

    fn block_base(&self, b: u32) -> usize {
        b as usize * self.req.block_size as usize
    }

    /// Whether user space has something to read (packet_poll): V1/V2, the
    /// frame before the head is the user's; V3, the block before the current
    /// one is, after the open block is retired (the reader is looking: its
    /// block timeout is cut short).
    fn readable(&mut self) -> bool {
        if self.version == TPACKET_V3 {
            if self.open && self.pkts > 0 {
                self.close_block();
            }
            let prev = (self.head + self.req.block_nr - 1) % self.req.block_nr;
            return self.mem.load_u32(self.block_base(prev) + 8) != TP_STATUS_KERNEL;
        }
        let prev = (self.head + self.req.frame_nr - 1) % self.req.frame_nr;
        self.mem.load_u32(self.frame_base(prev)) != TP_STATUS_KERNEL
    }

    /// Hands the open V3 block to user space and moves to the next.
    fn close_block(&mut self) {
        let base = self.block_base(self.head);
        let (sec, nsec) = ts();
        self.mem.store_u32(base + 12, self.pkts);
        self.mem.store_u32(base + 20, self.off);
        self.mem.store_u32(base + 40, sec);
        self.mem.store_u32(base + 44, nsec);
        let status = TP_STATUS_USER | if self.losing { TP_STATUS_LOSING } else { 0 };
        self.losing = false;
        self.mem.store_u32(base + 8, status);
        self.open = false;
        self.head = (self.head + 1) % self.req.block_nr;
    }

    /// Opens the current V3 block if user space has given it back.
    fn open_block(&mut self) -> bool {
        let base = self.block_base(self.head);
        if self.mem.load_u32(base + 8) != TP_STATUS_KERNEL {
            return false;
        }
        let first = v3_first(&self.req);
        let (sec, nsec) = ts();
        self.seq += 1;
        self.mem.store_u32(base, TPACKET_V3 + 1);
        self.mem.store_u32(base + 4, BLK_HDR_LEN as u32);
        self.mem.store_u32(base + 12, 0);
        self.mem.store_u32(base + 16, first);
        self.mem.store_u32(base + 20, first);
        self.mem.write(base + 24, &self.seq.to_ne_bytes());
        self.mem.store_u32(base + 32, sec);
        self.mem.store_u32(base + 36, nsec);
        self.open = true;
        self.off = first;
        self.last = None;
        self.pkts = 0;
        true
    }

    /// Puts a frame in the ring as tpacket_rcv does: `data` (what the socket
    /// type takes: the frame or its payload) at `macoff`, `full` its whole
    /// length. False: dropped, the ring is full.
    fn fill(
        &mut self,
        data: &[u8],
        full: u32,
        macoff: u32,
        netoff: u32,
        from: &SockaddrLl,
    ) -> bool {
        let mut snap = data.len() as u32;
        let (sec, nsec) = ts();
        if self.version <= TPACKET_V2 {
            if macoff + snap > self.req.frame_size {
                snap = self.req.frame_size.saturating_sub(macoff);
            }
            let base = self.frame_base(self.head);
            if self.mem.load_u32(base) != TP_STATUS_KERNEL {
                self.losing = true;
                return false;
            }
            self.mem
                .write(base + macoff as usize, &data[..snap as usize]);
            if self.version == TPACKET_V1 {
                self.mem.store_u32(base + 4, 0);
                self.mem.store_u32(base + 8, full);
                self.mem.store_u32(base + 12, snap);
                self.mem.write(base + 16, &(macoff as u16).to_ne_bytes());
                self.mem.write(base + 18, &(netoff as u16).to_ne_bytes());
                self.mem.store_u32(base + 20, sec);
                self.mem.store_u32(base + 24, nsec / 1000);
            } else {
                self.mem.store_u32(base + 4, full);
                self.mem.store_u32(base + 8, snap);
                self.mem.write(base + 12, &(macoff as u16).to_ne_bytes());
                self.mem.write(base + 14, &(netoff as u16).to_ne_bytes());
                self.mem.store_u32(base + 16, sec);
                self.mem.store_u32(base + 20, nsec);
                self.mem.store_u32(base + 24, 0);
            }
            self.mem.write(base + 32, &from.to_bytes());
            let status = TP_STATUS_USER | if self.losing { TP_STATUS_LOSING } else { 0 };
            self.losing = false;
            self.mem.store_u32(base, status);
            self.head = (self.head + 1) % self.req.frame_nr;
            return true;
        }
        let max = self.req.block_size - v3_first(&self.req);
        if macoff + snap > max {
            snap = max.saturating_sub(macoff);
        }
        let len = align(macoff + snap, 8);
        if self.open && self.off + len > self.req.block_size {
            self.close_block();
        }
        if !self.open && !self.open_block() {
            self.losing = true;
            return false;
        }
        let base = self.block_base(self.head);
        let at = base + self.off as usize;
        if let Some(last) = self.last {
            self.mem.store_u32(base + last as usize, self.off - last);
        }
        self.mem.write(at + macoff as usize, &data[..snap as usize]);
        self.mem.store_u32(at, 0);
        self.mem.store_u32(at + 4, sec);
        self.mem.store_u32(at + 8, nsec);
        self.mem.store_u32(at + 12, snap);
        self.mem.store_u32(at + 16, full);
        self.mem.store_u32(at + 20, TP_STATUS_USER);
        self.mem.write(at + 24, &(macoff as u16).to_ne_bytes());
        self.mem.write(at + 26, &(netoff as u16).to_ne_bytes());
        self.mem.write(at + 28, &[0u8; 20]);
        self.mem.write(at + 48, &from.to_bytes());
        self.last = Some(self.off);
        self.off += len;
        self.pkts += 1;
        self.mem.store_u32(base + 12, self.pkts);
        self.mem.store_u32(base + 20, self.off);
        true
    }
}

/// The time now as (seconds, nanoseconds).
fn ts() -> (u32, u32) {
    let ns = now_ns();
    ((ns / 1_000_000_000) as u32, (ns % 1_000_000_000) as u32)
}

/// Integer options kept only to be read back.
#[derive(Default)]
struct Flags {
    auxdata: bool,
    origdev: bool,
    loss: bool,
    timestamp: i32,
    qdisc_bypass: bool,
    ignore_outgoing: bool,
    copy_thresh: i32,
}

struct State {
    /// The protocol hooked, network order (0: none).
    protocol: u16,
    /// The interface bound (0: every one).
    ifindex: i32,
    version: u32,
    reserve: u32,
    vnet_hdr: bool,
    rings: [Option<Ring>; 2],
    queue: VecDeque<Frame>,
    queued: usize,
    rcvbuf: usize,
    sndbuf: usize,
    timeouts: [Option<u64>; 2],
    /// Frames received and dropped since PACKET_STATISTICS last read them.
    packets: u32,
    drops: u32,
    error: Option<Errno>,
    flags: Flags,
    /// SO_ATTACH_FILTER's program.
    filter: Option<Vec<crate::bpf::Insn>>,
    released: bool,
}

pub struct PacketSocket {
    /// SOCK_RAW or SOCK_DGRAM.
    ty: u32,
    /// The protocol socket(2) was given (network order).
    num: u16,
    shared: Option<Arc<Shared>>,
    st: spin::Mutex<State>,
    wq: WaitQueue,
}

/// Where a frame passed: the interface and how to describe it.
#[derive(Clone, Copy, Debug)]
pub struct TapPoint {
    pub ifindex: u32,
    /// The interface's address (None: lo, all zero).
    pub mac: Option<[u8; 6]>,
    pub outgoing: bool,
    /// The packet socket that sent the frame (its address; 0: none): its
    /// own frames going out are not shown to it (skb_loop_sk).
    pub sender: usize,
}

impl PacketSocket {
    /// A socket of type `ty` (SOCK_RAW or SOCK_DGRAM, checked by the caller)
    /// hooked on `protocol` (network order) on every interface of `shared`.
    pub fn new(ty: u32, protocol: u16, shared: Option<Arc<Shared>>) -> Arc<Self> {
        let s = Arc::new(PacketSocket {
            ty,
            num: protocol,
            shared,
            st: spin::Mutex::new(State {
                protocol,
                ifindex: 0,
                version: TPACKET_V1,
                reserve: 0,
                vnet_hdr: false,
                rings: [None, None],
                queue: VecDeque::new(),
                queued: 0,
                rcvbuf: DEFAULT_BUF,
                sndbuf: DEFAULT_BUF,
                timeouts: [None, None],
                packets: 0,
                drops: 0,
                error: None,
                flags: Flags::default(),
                filter: None,
                released: false,
            }),
            wq: WaitQueue::new(),
        });
        if let Some(sh) = &s.shared {
            sh.add_tap(Arc::downgrade(&s));
        }
        s
    }

    pub fn of(file: &OpenFile) -> Option<&PacketSocket> {
        file.ops().as_any().downcast_ref()
    }

    pub fn sock_type(&self) -> u32 {
        self.ty
    }

    /// The protocol socket(2) was given, as SO_PROTOCOL reports it.
    pub fn protocol(&self) -> u16 {
        self.num
    }

    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref()
    }

    /// bind(2): the interface (0: all; ENODEV if there is none with that
    /// index) and the protocol (0 keeps the one the socket has now). Binding to a down
    /// interface succeeds and leaves ENETDOWN as the socket's error.
    pub fn bind(&self, ifindex: i32, protocol: u16) -> KResult<()> {
        let mut down = false;
        if ifindex != 0 {
            let info = self
                .shared
                .as_ref()
                .and_then(|s| {
                    s.interfaces()
                        .into_iter()
                        .find(|f| f.index as i32 == ifindex)
                })
                .ok_or(Errno::ENODEV)?;
            down = !info.up;
        }
        let mut st = self.st.lock();
        st.ifindex = ifindex;
        if protocol != 0 {
            st.protocol = protocol;
        }
        if down {
            st.error = Some(Errno::ENETDOWN);
        }
        Ok(())
    }

    /// getsockname: the protocol and interface, with the interface's type and
    /// address when bound to one.
    pub fn local_name(&self) -> SockaddrLl {
        let (protocol, ifindex) = {
            let st = self.st.lock();
            (st.protocol, st.ifindex)
        };
        let mut a = SockaddrLl {
            protocol,
            ifindex,
            ..Default::default()
        };
        if ifindex != 0
            && let Some(info) = self.shared.as_ref().and_then(|s| {
                s.interfaces()
                    .into_iter()
                    .find(|f| f.index as i32 == ifindex)
            })
        {
            a.hatype = if info.loopback() {
                ARPHRD_LOOPBACK
            } else {
                ARPHRD_ETHER
            };
            a.halen = 6;
            a.addr[..6].copy_from_slice(&info.mac.unwrap_or([0; 6]));
        }
        a
    }

    /// Takes a frame that passed `at` (a whole Ethernet frame) if this
    /// socket's protocol and interface want it and its buffer has room.
    pub fn deliver(&self, at: &TapPoint, frame: &[u8]) {
        if frame.len() < ETH_HLEN {
            return;
        }
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        {
            let mut st = self.st.lock();
            if st.released || st.protocol == 0 {
                return;
            }
            let proto = u16::from_be(st.protocol);
            if proto != ETH_P_ALL && (at.outgoing || proto != ethertype) {
                return;
            }
            if at.outgoing && (st.flags.ignore_outgoing || at.sender == self as *const _ as usize) {
                return;
            }
            if st.ifindex != 0 && st.ifindex as u32 != at.ifindex {
                return;
            }
            let dst = &frame[..6];
            let pkttype = if at.outgoing {
                PACKET_OUTGOING
            } else if dst.iter().all(|&b| b == 0xff) {
                PACKET_BROADCAST
            } else if dst[0] & 1 != 0 {
                PACKET_MULTICAST
            } else if at.mac.is_none_or(|m| m == dst) {
                PACKET_HOST
            } else {
                PACKET_OTHERHOST
            };
            let mut addr = [0u8; 8];
            addr[..6].copy_from_slice(&frame[6..12]);
            let from = SockaddrLl {
                protocol: ethertype.to_be(),
                ifindex: at.ifindex as i32,
                hatype: if at.mac.is_none() {
                    ARPHRD_LOOPBACK
                } else {
                    ARPHRD_ETHER
                },
                pkttype,
                halen: 6,
                addr,
            };
            let dgram = self.ty == kestrel_abi::net::SOCK_DGRAM;
            let full = if dgram { &frame[ETH_HLEN..] } else { frame };
            // The socket filter sees what the socket takes, and says how much
            // of it to keep (0: nothing, the frame is not counted).
            let keep = match &st.filter {
                None => full.len(),
                Some(prog) => {
                    let meta = crate::bpf::Meta {
                        protocol: ethertype,
                        pkttype,
                        ifindex: at.ifindex,
                        hatype: from.hatype,
                        net_off: if dgram { 0 } else { ETH_HLEN as i64 },
                        mac_off: if dgram { -(ETH_HLEN as i64) } else { 0 },
                    };
                    crate::bpf::run(prog, full, &meta) as usize
                }
            };
            if keep == 0 {
                return;
            }
            let data = &full[..keep.min(full.len())];
            let frame = &frame[..frame.len() - (full.len() - data.len())];
            let cost = frame.len() + OVERHEAD;
            if st.rings[0].is_none() && st.queued >= st.rcvbuf {
                st.drops = st.drops.wrapping_add(1);
                return;
            }
            if let Some(ring) = st.rings[0].as_mut() {
                let hdr = hdrlen(ring.version).unwrap_or(TPACKET_HDRLEN);
                let (macoff, mut netoff);
                if dgram {
                    netoff = align(hdr, TPACKET_ALIGNMENT) + 16 + st.reserve;
                    macoff = netoff;
                } else {
                    netoff = align(hdr + 16, TPACKET_ALIGNMENT) + st.reserve;
                    if st.vnet_hdr {
                        netoff += VNET_HDR_LEN as u32;
                    }
                    macoff = netoff - ETH_HLEN as u32;
                }
                if netoff > u32::from(u16::MAX) {
                    st.drops = st.drops.wrapping_add(1);
                    return;
                }
                let ok = st.rings[0]
                    .as_mut()
                    .is_some_and(|r| r.fill(data, full.len() as u32, macoff, netoff, &from));
                if ok {
                    st.packets = st.packets.wrapping_add(1);
                } else {
                    st.drops = st.drops.wrapping_add(1);
                }
                drop(st);
                if ok {
                    self.wq.wake(u32::from(POLLIN | POLLRDNORM));
                }
                return;
            }
            st.packets = st.packets.wrapping_add(1);
            st.queued += cost;
            st.queue.push_back(Frame {
                data: frame.to_vec(),
                from,
            });
        }
        self.wq.wake(u32::from(POLLIN | POLLRDNORM));
    }

    /// Receives the next frame into a buffer of up to `len` bytes (the rest
    /// is cut off): its bytes (SOCK_DGRAM: without the link header), its
    /// whole length and where it came from. EAGAIN when there is none.
    pub fn recv(&self, len: usize, peek: bool) -> KResult<(Vec<u8>, usize, SockaddrLl)> {
        let mut st = self.st.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        let f = if peek { st.queue.front() } else { None };
        let (bytes, from) = match f {
            Some(f) => (self.payload(&f.data).to_vec(), f.from),
            None if peek => return Err(Errno::EAGAIN),
            None => {
                let f = st.queue.pop_front().ok_or(Errno::EAGAIN)?;
                st.queued = st.queued.saturating_sub(f.data.len() + OVERHEAD);
                let p = self.payload(&f.data).to_vec();
                (p, f.from)
            }
        };
        drop(st);
        let full = bytes.len();
        let mut bytes = bytes;
        bytes.truncate(len);
        Ok((bytes, full, from))
    }

    fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        if self.ty == kestrel_abi::net::SOCK_DGRAM {
            &frame[ETH_HLEN.min(frame.len())..]
        } else {
            frame
        }
    }

    /// The length of the next frame (SIOCINQ), 0 if none.
    pub fn next_len(&self) -> usize {
        self.st
            .lock()
            .queue
            .front()
            .map_or(0, |f| self.payload(&f.data).len())
    }

    /// Sends `data` (SOCK_RAW: a whole frame; SOCK_DGRAM: a payload to put
    /// behind a header to `dst`) on the interface `ifindex` with the
    /// Ethertype `protocol` (network order): ENXIO for no interface,
    /// ENETDOWN for a down one, EMSGSIZE past its MTU, EINVAL for a raw frame
    /// shorter than a link header.
    pub fn send(
        &self,
        data: &[u8],
        ifindex: i32,
        protocol: u16,
        dst: Option<[u8; 6]>,
    ) -> KResult<usize> {
        let shared = self.shared.as_ref().ok_or(Errno::ENXIO)?;
        let info = shared
            .interfaces()
            .into_iter()
            .find(|f| ifindex > 0 && f.index as i32 == ifindex)
            .ok_or(Errno::ENXIO)?;
        if !info.up {
            return Err(Errno::ENETDOWN);
        }
        let vnet = self.st.lock().vnet_hdr;
        let data = if vnet {
            // The virtio_net_hdr's offloads are not done: it is skipped.
            data.get(VNET_HDR_LEN..).ok_or(Errno::EINVAL)?
        } else {
            data
        };
        let mut frame;
        if self.ty == kestrel_abi::net::SOCK_DGRAM {
            if data.len() > info.mtu {
                return Err(Errno::EMSGSIZE);
            }
            frame = Vec::new();
            frame
                .try_reserve_exact(ETH_HLEN + data.len())
                .map_err(|_| Errno::ENOBUFS)?;
            frame.extend_from_slice(&dst.unwrap_or([0; 6]));
            frame.extend_from_slice(&info.mac.unwrap_or([0; 6]));
            frame.extend_from_slice(&protocol.to_ne_bytes());
            frame.extend_from_slice(data);
        } else {
            if data.len() > info.mtu + ETH_HLEN {
                return Err(Errno::EMSGSIZE);
            }
            if data.len() < ETH_HLEN {
                return Err(Errno::EINVAL);
            }
            frame = Vec::new();
            frame
                .try_reserve_exact(data.len())
                .map_err(|_| Errno::ENOBUFS)?;
            frame.extend_from_slice(data);
        }
        let n = data.len();
        shared.packet_xmit(&info, frame, self as *const _ as usize)?;
        Ok(n)
    }

    pub fn poll_mask(&self) -> u16 {
        let mut st = self.st.lock();
        let mut m = POLLOUT | POLLWRNORM;
        let ring_ready = st.rings[0].as_mut().is_some_and(Ring::readable);
        if !st.queue.is_empty() || ring_ready {
            m |= POLLIN | POLLRDNORM;
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

    pub fn buf(&self, send: bool) -> usize {
        let st = self.st.lock();
        if send { st.sndbuf } else { st.rcvbuf }
    }

    /// SO_SNDBUF/SO_RCVBUF: doubled, within Linux's bounds (`force`: past
    /// the maximum).
    pub fn set_buf(&self, send: bool, v: usize, force: bool) {
        let v = if force { v } else { v.min(MAX_BUF / 2) };
        let v = v.saturating_mul(2).min(i32::MAX as usize);
        let mut st = self.st.lock();
        if send {
            st.sndbuf = v.max(MIN_SNDBUF);
        } else {
            st.rcvbuf = v.max(MIN_RCVBUF);
        }
    }

    pub fn timeout(&self, send: bool) -> Option<u64> {
        self.st.lock().timeouts[usize::from(send)]
    }

    pub fn set_timeout(&self, send: bool, ns: Option<u64>) {
        self.st.lock().timeouts[usize::from(send)] = ns;
    }

    /// Changes the socket's state with `set` unless a ring exists (EBUSY): a
    /// ring's layout depends on the version, the reserve and the vnet header.
    fn set_without_ring(&self, set: impl FnOnce(&mut State)) -> KResult<()> {
        let mut st = self.st.lock();
        if st.rings.iter().any(Option::is_some) {
            return Err(Errno::EBUSY);
        }
        set(&mut st);
        Ok(())
    }

    /// PACKET_VERSION: V1, V2 or V3 (EINVAL), not while a ring exists (EBUSY).
    pub fn set_version(&self, v: i32) -> KResult<()> {
        let v = u32::try_from(v).map_err(|_| Errno::EINVAL)?;
        hdrlen(v).ok_or(Errno::EINVAL)?;
        self.set_without_ring(|st| st.version = v)
    }

    pub fn version(&self) -> u32 {
        self.st.lock().version
    }

    /// PACKET_RESERVE: at most INT_MAX (EINVAL), not while a ring exists.
    pub fn set_reserve(&self, v: u32) -> KResult<()> {
        if v > i32::MAX as u32 {
            return Err(Errno::EINVAL);
        }
        self.set_without_ring(|st| st.reserve = v)
    }

    pub fn reserve(&self) -> u32 {
        self.st.lock().reserve
    }

    /// PACKET_VNET_HDR: SOCK_RAW only (EINVAL), not while a ring exists.
    pub fn set_vnet_hdr(&self, on: bool) -> KResult<()> {
        if self.ty != kestrel_abi::net::SOCK_RAW {
            return Err(Errno::EINVAL);
        }
        self.set_without_ring(|st| st.vnet_hdr = on)
    }

    pub fn vnet_hdr(&self) -> bool {
        self.st.lock().vnet_hdr
    }

    /// The length PACKET_RX_RING/PACKET_TX_RING read for the socket's
    /// version: a tpacket_req, or a tpacket_req3 for V3.
    pub fn ring_req_len(&self) -> usize {
        if self.version() == TPACKET_V3 {
            TPACKET_REQ3_LEN
        } else {
            TPACKET_REQ_LEN
        }
    }

    /// PACKET_RX_RING/PACKET_TX_RING: sets up the ring (EBUSY if there is
    /// one; see [`check_ring`]), or with no blocks tears it down. Checked
    /// and set under the socket's lock, so PACKET_RESERVE and PACKET_VERSION
    /// cannot change beneath it.
    ///
    /// `alloc` makes the ring's memory (None: ENOMEM), called without the
    /// lock; the checks are made again once it is taken back.
    pub fn set_ring(
        &self,
        req: &RingReq,
        tx: bool,
        alloc: &dyn Fn(usize) -> Option<Arc<dyn RingMem>>,
    ) -> KResult<()> {
        let slot = usize::from(tx);
        let check = |st: &State| {
            if req.block_nr != 0 && st.rings[slot].is_some() {
                return Err(Errno::EBUSY);
            }
            check_ring(req, st.version, st.reserve, tx)
        };
        {
            let mut st = self.st.lock();
            check(&st)?;
            if req.block_nr == 0 {
                st.rings[slot] = None;
                return Ok(());
            }
        }
        let bytes = req.block_size as usize * req.block_nr as usize;
        let mem = alloc(bytes).ok_or(Errno::ENOMEM)?;
        let mut st = self.st.lock();
        check(&st)?;
        if !tx {
            // Frames go to the ring from now on.
            st.queue.clear();
            st.queued = 0;
        }
        st.rings[slot] = Some(Ring {
            req: *req,
            version: st.version,
            mem,
            head: 0,
            open: false,
            off: 0,
            last: None,
            pkts: 0,
            seq: 0,
            losing: false,
        });
        Ok(())
    }

    /// The memory of the RX and TX rings, for mmap.
    pub fn ring_mems(&self) -> [Option<Arc<dyn RingMem>>; 2] {
        let st = self.st.lock();
        [
            st.rings[0].as_ref().map(|r| r.mem.clone()),
            st.rings[1].as_ref().map(|r| r.mem.clone()),
        ]
    }

    /// PACKET_STATISTICS: (packets, drops) since the last read, and reset.
    /// Linux counts the drops among the packets.
    pub fn take_stats(&self) -> (u32, u32) {
        let mut st = self.st.lock();
        let r = (st.packets.wrapping_add(st.drops), st.drops);
        st.packets = 0;
        st.drops = 0;
        r
    }

    /// The integer options kept for getsockopt (ENOPROTOOPT for others).
    pub fn set_flag(&self, name: i32, v: i32) -> KResult<()> {
        let mut st = self.st.lock();
        let f = &mut st.flags;
        match name {
            PACKET_AUXDATA => f.auxdata = v != 0,
            PACKET_ORIGDEV => f.origdev = v != 0,
            PACKET_LOSS => f.loss = v != 0,
            PACKET_TIMESTAMP => f.timestamp = v,
            PACKET_QDISC_BYPASS => f.qdisc_bypass = v != 0,
            PACKET_IGNORE_OUTGOING => {
                if !(0..=1).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                f.ignore_outgoing = v != 0
            }
            PACKET_COPY_THRESH => f.copy_thresh = v,
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    pub fn flag(&self, name: i32) -> KResult<i32> {
        let st = self.st.lock();
        let f = &st.flags;
        Ok(match name {
            PACKET_AUXDATA => i32::from(f.auxdata),
            PACKET_ORIGDEV => i32::from(f.origdev),
            PACKET_LOSS => i32::from(f.loss),
            PACKET_TIMESTAMP => f.timestamp,
            PACKET_QDISC_BYPASS => i32::from(f.qdisc_bypass),
            PACKET_IGNORE_OUTGOING => i32::from(f.ignore_outgoing),
            PACKET_COPY_THRESH => f.copy_thresh,
            _ => return Err(Errno::ENOPROTOOPT),
        })
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

    /// The last file closed: no more frames, the queue freed.
    pub fn release(&self) {
        let mut st = self.st.lock();
        st.released = true;
        st.queue.clear();
        st.queued = 0;
        st.rings = [None, None];
    }
}

impl FileOps for PacketSocket {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let (b, _, _) = self.recv(buf.len(), false)?;
        buf[..b.len()].copy_from_slice(&b);
        Ok(b.len())
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
        queue_ioctl(self.shared.as_ref(), || self.next_len(), cmd, arg, mem)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// ioctl of a socket that queues whole packets (packet and raw sockets):
/// the interface requests through the stack, SIOCINQ the next packet's
/// length (`next_len`), SIOCOUTQ 0 (sends leave at once); ENOTTY else.
pub(crate) fn queue_ioctl(
    shared: Option<&Arc<Shared>>,
    next_len: impl FnOnce() -> usize,
    cmd: u32,
    arg: u64,
    mem: &dyn kestrel_vfs::UserSpace,
) -> KResult<u64> {
    if crate::inet::ifreq::is_ifreq(cmd)
        && let Some(shared) = shared
    {
        return crate::inet::ifreq::ioctl(shared, cmd, arg, mem);
    }
    match cmd {
        kestrel_abi::net::SIOCINQ | kestrel_abi::net::SIOCOUTQ => {
            let n = if cmd == kestrel_abi::net::SIOCINQ {
                next_len().min(i32::MAX as usize) as i32
            } else {
                0
            };
            kestrel_vfs::UserPtr::<i32>::new(arg).write(mem, &n)?;
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// The packet sockets of one stack, for its taps.
#[derive(Default)]
pub struct Taps {
    list: spin::Mutex<Vec<Weak<PacketSocket>>>,
    count: core::sync::atomic::AtomicUsize,
}

impl Taps {
    pub fn add(&self, s: Weak<PacketSocket>) {
        let mut l = self.list.lock();
        l.retain(|w| w.strong_count() > 0);
        l.push(s);
        self.count
            .store(l.len(), core::sync::atomic::Ordering::Release);
    }

    /// Whether any packet socket may want frames (cheap: no lock).
    pub fn any(&self) -> bool {
        self.count.load(core::sync::atomic::Ordering::Acquire) > 0
    }

    /// Hands an Ethernet frame that passed `at` to every packet socket.
    pub fn tap(&self, at: &TapPoint, frame: &[u8]) {
        if !self.any() {
            return;
        }
        let socks: Vec<Arc<PacketSocket>> = {
            let mut l = self.list.lock();
            l.retain(|w| w.strong_count() > 0);
            self.count
                .store(l.len(), core::sync::atomic::Ordering::Release);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        for s in socks {
            s.deliver(at, frame);
        }
    }

    /// A raw IP packet of lo as a frame: an all-zero Ethernet header with
    /// the Ethertype of its IP version.
    pub fn tap_ip(&self, at: &TapPoint, packet: &[u8]) {
        if !self.any() || packet.is_empty() {
            return;
        }
        let ethertype: u16 = if packet[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
        let mut frame = Vec::with_capacity(ETH_HLEN + packet.len());
        frame.extend_from_slice(&[0u8; 12]);
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(packet);
        self.tap(at, &frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(bs: u32, bn: u32, fs: u32, fnr: u32) -> RingReq {
        RingReq {
            block_size: bs,
            block_nr: bn,
            frame_size: fs,
            frame_nr: fnr,
            ..Default::default()
        }
    }

    #[test]
    fn ring_checks() {
        let ok = req(4096, 2, 4096, 2);
        assert_eq!(check_ring(&ok, TPACKET_V3, 0, false), Ok(()));
        let mut r = ok;
        r.sizeof_priv = 3 << 30;
        assert_eq!(check_ring(&r, TPACKET_V3, 0, false), Err(Errno::EINVAL));
        r.sizeof_priv = 512;
        assert_eq!(check_ring(&r, TPACKET_V3, 0, false), Ok(()));
        // Not page aligned, negative.
        assert_eq!(
            check_ring(&req(4000, 1, 16 * 250, 1), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ring(&req(0x8000_0000, 1, 4096, 1), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        // Frame smaller than header + reserve.
        assert_eq!(
            check_ring(&req(4096, 1, 16, 256), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ring(&req(4096, 1, 64, 64), TPACKET_V2, 1 << 30, false),
            Err(Errno::EINVAL)
        );
        // Unaligned frames, wrong counts, overflow.
        assert_eq!(
            check_ring(&req(4096, 1, 100, 40), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ring(&req(4096, 1, 64, 63), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_ring(&req(4096, 0x1000_0000, 64, 0), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        // Teardown needs no frames.
        assert_eq!(check_ring(&req(0, 0, 0, 0), TPACKET_V2, 0, false), Ok(()));
        assert_eq!(
            check_ring(&req(0, 0, 0, 1), TPACKET_V2, 0, false),
            Err(Errno::EINVAL)
        );
        // Too big to have.
        assert_eq!(
            check_ring(&req(1 << 24, 128, 1 << 24, 128), TPACKET_V2, 0, false),
            Err(Errno::ENOMEM)
        );
    }

    struct VecMem(spin::Mutex<Vec<u8>>);

    impl RingMem for VecMem {
        fn write(&self, off: usize, b: &[u8]) {
            self.0.lock()[off..off + b.len()].copy_from_slice(b);
        }
        fn load_u32(&self, off: usize) -> u32 {
            let m = self.0.lock();
            u32::from_ne_bytes([m[off], m[off + 1], m[off + 2], m[off + 3]])
        }
        fn store_u32(&self, off: usize, v: u32) {
            self.write(off, &v.to_ne_bytes());
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    fn vec_alloc(n: usize) -> Option<Arc<dyn RingMem>> {
        Some(Arc::new(VecMem(spin::Mutex::new(vec![0; n]))))
    }

    fn mem_of(s: &PacketSocket) -> Arc<dyn RingMem> {
        s.ring_mems()[0].clone().unwrap()
    }

    #[test]
    fn v2_ring_fills_frames() {
        let s = PacketSocket::new(kestrel_abi::net::SOCK_RAW, ETH_P_ALL.to_be(), None);
        s.set_version(TPACKET_V2 as i32).unwrap();
        s.set_ring(&req(4096, 1, 2048, 2), false, &vec_alloc)
            .unwrap();
        let m = mem_of(&s);
        let at = TapPoint {
            ifindex: 1,
            mac: None,
            outgoing: false,
            sender: 0,
        };
        let f = vec![7u8; 100];
        assert_eq!(s.poll_mask() & POLLIN, 0);
        s.deliver(&at, &f);
        assert_eq!(s.poll_mask() & POLLIN, POLLIN);
        assert_eq!(m.load_u32(0), TP_STATUS_USER);
        assert_eq!(m.load_u32(4), 100);
        assert_eq!(m.load_u32(8), 100);
        // tp_mac = align16(52 + 16) - 14 = 66, tp_net 80.
        assert_eq!(m.load_u32(12), 66 | (80 << 16));
        s.deliver(&at, &f);
        // Full: the third is dropped until the first frame is given back.
        s.deliver(&at, &f);
        assert_eq!(s.take_stats(), (3, 1));
        m.store_u32(0, 0);
        s.deliver(&at, &f);
        assert_eq!(m.load_u32(0), TP_STATUS_USER | TP_STATUS_LOSING);
    }

    #[test]
    fn v3_ring_fills_blocks() {
        let s = PacketSocket::new(kestrel_abi::net::SOCK_DGRAM, ETH_P_ALL.to_be(), None);
        s.set_version(TPACKET_V3 as i32).unwrap();
        s.set_ring(&req(4096, 2, 2048, 4), false, &vec_alloc)
            .unwrap();
        let m = mem_of(&s);
        let at = TapPoint {
            ifindex: 1,
            mac: None,
            outgoing: false,
            sender: 0,
        };
        let f = vec![7u8; 114];
        s.deliver(&at, &f);
        s.deliver(&at, &f);
        // Open: not the user's yet; a look retires it.
        assert_eq!(m.load_u32(8), 0);
        assert_eq!(s.poll_mask() & POLLIN, POLLIN);
        assert_eq!(m.load_u32(8), TP_STATUS_USER);
        assert_eq!(m.load_u32(12), 2);
        assert_eq!(m.load_u32(16), 48);
        // The first packet: next offset, snaplen 100 (DGRAM), mac = net =
        // align16(68) + 16 = 96.
        let p = 48;
        let len = align(96 + 100, 8);
        assert_eq!(m.load_u32(p), len);
        assert_eq!(m.load_u32(p + 12), 100);
        assert_eq!(m.load_u32(p + 24), 96 | (96 << 16));
        assert_eq!(m.load_u32(p + len as usize), 0);
        assert_eq!(m.load_u32(20), 48 + 2 * len);
    }

    #[test]
    fn socket_options_and_ring_lock() {
        let s = PacketSocket::new(kestrel_abi::net::SOCK_RAW, ETH_P_ALL.to_be(), None);
        assert_eq!(s.set_version(3), Err(Errno::EINVAL));
        s.set_version(TPACKET_V3 as i32).unwrap();
        assert_eq!(s.set_reserve(u32::MAX - 51), Err(Errno::EINVAL));
        s.set_ring(&req(4096, 1, 4096, 1), false, &vec_alloc)
            .unwrap();
        assert_eq!(s.set_reserve(1 << 30), Err(Errno::EBUSY));
        assert_eq!(s.set_version(1), Err(Errno::EBUSY));
        assert_eq!(
            s.set_ring(&req(4096, 1, 4096, 1), false, &vec_alloc),
            Err(Errno::EBUSY)
        );
        s.set_ring(&req(4096, 0, 4096, 0), false, &vec_alloc)
            .unwrap();
        s.set_version(TPACKET_V2 as i32).unwrap();
        s.set_ring(&req(4096, 0, 4096, 0), false, &vec_alloc)
            .unwrap();
    }

    #[test]
    fn delivery_filters() {
        let all = PacketSocket::new(kestrel_abi::net::SOCK_RAW, ETH_P_ALL.to_be(), None);
        let ip = PacketSocket::new(kestrel_abi::net::SOCK_DGRAM, 0x0800u16.to_be(), None);
        let none = PacketSocket::new(kestrel_abi::net::SOCK_RAW, 0, None);
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0]);
        let rx = TapPoint {
            ifindex: 2,
            mac: Some([2, 0, 0, 0, 0, 9]),
            outgoing: false,
            sender: 0,
        };
        let tx = TapPoint {
            outgoing: true,
            ..rx
        };
        for s in [&all, &ip, &none] {
            s.deliver(&rx, &f);
            s.deliver(&tx, &f);
        }
        let (b, n, from) = all.recv(4, false).unwrap();
        assert_eq!(
            (b.len(), n, from.pkttype, from.ifindex),
            (4, 16, PACKET_BROADCAST, 2)
        );
        assert_eq!(all.recv(100, false).unwrap().2.pkttype, PACKET_OUTGOING);
        assert_eq!(all.recv(100, false).err(), Some(Errno::EAGAIN));
        let (b, _, from) = ip.recv(100, false).unwrap();
        assert_eq!(b, [0x45, 0]);
        assert_eq!(from.protocol, 0x0800u16.to_be());
        assert_eq!(&from.addr[..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(ip.recv(100, false).err(), Some(Errno::EAGAIN));
        assert_eq!(none.recv(100, false).err(), Some(Errno::EAGAIN));
    }

    #[test]
    fn queue_is_bounded() {
        let s = PacketSocket::new(kestrel_abi::net::SOCK_RAW, ETH_P_ALL.to_be(), None);
        let at = TapPoint {
            ifindex: 1,
            mac: None,
            outgoing: false,
            sender: 0,
        };
        let f = vec![0u8; 1500];
        for _ in 0..1000 {
            s.deliver(&at, &f);
        }
        let (p, d) = s.take_stats();
        assert_eq!(p, 1000);
        assert!(d > 800, "{d}");
        assert_eq!(s.take_stats(), (0, 0));
    }
}
