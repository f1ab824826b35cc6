//! The socket calls on AF_PACKET sockets ([`kestrel_net::packet`]).
//!
//! socket(2) needs CAP_NET_RAW; bind, sends and receives carry a struct
//! sockaddr_ll. A receive waits on the socket's wait queue for a frame the
//! stack's taps queued. An RX ring is pages allocated here and mapped by
//! mmap(2) ([`mmap_backing`]); a TX ring sends nothing (partial).

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_net::packet::{self as pk, PacketSocket, SockaddrLl};
use kestrel_usermem::UserIoVecs;
use kestrel_vfs::OpenFile;

use crate::mm::vm::{Backing, SharedPages};

use super::super::args::*;
use super::super::{Ctx, zeroed_vec};
use super::inet::{int_bytes, read_buf_size, read_int};
use super::{RawAddr, deadline, read_timeout, wait_ready, write_addr};

/// socket(AF_PACKET, type, protocol) as packet_create: CAP_NET_RAW (EPERM)
/// first, then SOCK_RAW or SOCK_DGRAM (ESOCKTNOSUPPORT; SOCK_PACKET, the
/// old interface, is not there). The protocol is an Ethertype in network
/// order, kept to 16 bits as Linux keeps it.
pub fn socket(ctx: &Ctx<'_>, base: u32, protocol: i32) -> KResult<Arc<PacketSocket>> {
    if !ctx.capable(kestrel_abi::cap::CAP_NET_RAW) {
        return Err(Errno::EPERM);
    }
    if base != SOCK_RAW && base != SOCK_DGRAM {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    Ok(PacketSocket::new(
        base,
        protocol as u16,
        crate::net::shared(),
    ))
}

/// bind(2): a whole sockaddr_ll (EINVAL if shorter or another family).
pub fn bind(ctx: &Ctx<'_>, s: &PacketSocket, ptr: UserPtr<u8>, len: u32) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let b = &raw.bytes[..raw.len];
    if b.len() < pk::SOCKADDR_LL_LEN || SockaddrLl::family(b) != Some(AF_PACKET) {
        return Err(Errno::EINVAL);
    }
    let a = SockaddrLl::parse(b);
    s.bind(a.ifindex, a.protocol)?;
    Ok(0)
}

/// Sends the bytes of `src` as one frame: to the sockaddr_ll `to` (its
/// interface, protocol and, for SOCK_DGRAM, destination address), else on
/// the bound interface with the socket's protocol (ENXIO when unbound).
pub fn send(s: &PacketSocket, src: &mut UserIoVecs<'_>, to: Option<&RawAddr>) -> KResult<usize> {
    let (ifindex, protocol, dst) = match to {
        None => {
            let n = s.local_name();
            (n.ifindex, n.protocol, None)
        }
        Some(r) => {
            let b = &r.bytes[..r.len];
            if b.len() < pk::SOCKADDR_LL_LEN {
                return Err(Errno::EINVAL);
            }
            let a = SockaddrLl::parse(b);
            if b.len() < pk::SLL_ADDR_OFF + usize::from(a.halen) {
                return Err(Errno::EINVAL);
            }
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&a.addr[..6]);
            (a.ifindex, a.protocol, Some(mac))
        }
    };
    let total = src.remaining();
    // Nothing larger than the biggest MTU with its header can go out.
    if total > 65535 + pk::ETH_HLEN + pk::VNET_HDR_LEN {
        return Err(Errno::EMSGSIZE);
    }
    let mut data: Vec<u8> = zeroed_vec(total)?;
    if src.read(&mut data) < total {
        return Err(Errno::EFAULT);
    }
    s.send(&data, ifindex, protocol, dst)
}

/// What a receive delivered (as for an inet socket: the sender's sockaddr_ll
/// in `from`).
pub use super::inet::Got;

/// Receives one frame into `dst`, waiting unless non-blocking; what does not
/// fit is cut off (MSG_TRUNC). Flags other than MSG_PEEK, MSG_DONTWAIT,
/// MSG_TRUNC and MSG_ERRQUEUE are EINVAL (packet_recvmsg).
pub async fn recv(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &PacketSocket,
    dst: &mut UserIoVecs<'_>,
    flags: u32,
) -> KResult<Got> {
    const MSG_CMSG_COMPAT: u32 = 0x8000_0000;
    if flags & !(MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_COMPAT | MSG_ERRQUEUE) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MSG_ERRQUEUE != 0 {
        return Err(Errno::EAGAIN);
    }
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.timeout(false));
    let len = dst.remaining();
    let (buf, full, from) = loop {
        match s.recv(len, flags & MSG_PEEK != 0) {
            Err(Errno::EAGAIN) if !dontwait => wait_ready(ctx, f, POLLIN, until).await?,
            r => break r?,
        }
    };
    if dst.write(&buf) < buf.len() {
        return Err(Errno::EFAULT);
    }
    Ok(Got {
        len: buf.len(),
        full_len: full,
        // A whole sockaddr_ll, the address zero past its length (Linux
        // reports at least sizeof(struct sockaddr_ll)).
        from: from.to_bytes().to_vec(),
        rx: None,
        oob: false,
    })
}

/// SO_ATTACH_FILTER and SO_DETACH_FILTER: classic BPF ([`kestrel_net::bpf`]).
const SO_ATTACH_FILTER: i32 = 26;
const SO_DETACH_FILTER: i32 = 27;
/// struct packet_mreq's length and where its address starts.
const PACKET_MREQ_LEN: u32 = 16;

/// An int option's value as packet_setsockopt reads it: at least an int
/// (EINVAL), then the int (EFAULT).
fn int_opt(ctx: &Ctx<'_>, val: UserPtr<u8>, len: u32, exact: bool) -> KResult<i32> {
    if exact && len != 4 {
        return Err(Errno::EINVAL);
    }
    super::inet::read_int(ctx, val, len)
}

pub fn setsockopt(
    ctx: &Ctx<'_>,
    s: &PacketSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<u64> {
    match (level, name) {
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF | SO_SNDBUFFORCE | SO_RCVBUFFORCE) => {
            let (v, force) = read_buf_size(ctx, name, val, len)?;
            s.set_buf(matches!(name, SO_SNDBUF | SO_SNDBUFFORCE), v, force);
        }
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            s.set_timeout(name == SO_SNDTIMEO, read_timeout(ctx, val, len)?);
        }
        (SOL_SOCKET, SO_ATTACH_FILTER) => s.set_filter(Some(read_sock_fprog(ctx, val, len)?))?,
        (SOL_SOCKET, SO_DETACH_FILTER) => s.set_filter(None)?,
        (SOL_SOCKET, SO_REUSEADDR | SO_KEEPALIVE | SO_PRIORITY | SO_BROADCAST) => {
            read_int(ctx, val, len)?;
        }
        (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (pk::SOL_PACKET, pk::PACKET_ADD_MEMBERSHIP | pk::PACKET_DROP_MEMBERSHIP) => {
            // struct packet_mreq: mr_ifindex, mr_type, mr_alen, mr_address[8].
            if len < PACKET_MREQ_LEN {
                return Err(Errno::EINVAL);
            }
            let mut m = [0u8; 16];
            ctx.mm().reader(val, 16)?.read_exact(&mut m)?;
            let alen = u16::from_ne_bytes([m[6], m[7]]);
            if usize::from(alen) + 8 > len.min(PACKET_MREQ_LEN) as usize {
                return Err(Errno::EINVAL);
            }
            let ifindex = i32::from_ne_bytes([m[0], m[1], m[2], m[3]]);
            let exists = s
                .shared()
                .is_some_and(|sh| sh.interfaces().iter().any(|f| f.index as i32 == ifindex));
            if !exists {
                return Err(Errno::ENODEV);
            }
            // Promiscuous and multicast membership change nothing here: every
            // frame the interface passes is already seen (partial).
        }
        (pk::SOL_PACKET, pk::PACKET_RX_RING | pk::PACKET_TX_RING) => {
            let need = s.ring_req_len();
            if (len as usize) < need {
                return Err(Errno::EINVAL);
            }
            // A fault reading the request is EINVAL, as Linux's
            // copy_from_sockptr(...) ? -EINVAL here.
            let mut b = [0u8; pk::TPACKET_REQ3_LEN];
            ctx.mm()
                .reader(val, need)
                .and_then(|mut r| r.read_exact(&mut b[..need]))
                .map_err(|_| Errno::EINVAL)?;
            let req = pk::RingReq::parse(&b[..need]);
            s.set_ring(&req, name == pk::PACKET_TX_RING, &ring_memory)?;
        }
        (pk::SOL_PACKET, pk::PACKET_VERSION) => {
            let v = int_opt(ctx, val, len, true)?;
            s.set_version(v)?;
        }
        (pk::SOL_PACKET, pk::PACKET_RESERVE) => {
            let v = int_opt(ctx, val, len, true)?;
            s.set_reserve(v as u32)?;
        }
        (pk::SOL_PACKET, pk::PACKET_VNET_HDR) => {
            if s.sock_type() != SOCK_RAW {
                return Err(Errno::EINVAL);
            }
            let v = int_opt(ctx, val, len, false)?;
            s.set_vnet_hdr(v != 0)?;
        }
        (
            pk::SOL_PACKET,
            pk::PACKET_AUXDATA
            | pk::PACKET_ORIGDEV
            | pk::PACKET_LOSS
            | pk::PACKET_TIMESTAMP
            | pk::PACKET_QDISC_BYPASS
            | pk::PACKET_IGNORE_OUTGOING
            | pk::PACKET_COPY_THRESH,
        ) => {
            let v = int_opt(ctx, val, len, false)?;
            s.set_flag(name, v)?;
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

pub fn getsockopt(
    ctx: &Ctx<'_>,
    s: &PacketSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len_ptr: UserPtr<u32>,
) -> KResult<u64> {
    let room = super::optlen_room(ctx, len_ptr)?;
    let bytes = match (level, name) {
        (SOL_SOCKET, SO_TYPE) => int_bytes(s.sock_type() as i32),
        (SOL_SOCKET, SO_DOMAIN) => int_bytes(AF_PACKET as i32),
        (SOL_SOCKET, SO_PROTOCOL) => int_bytes(i32::from(s.protocol())),
        (SOL_SOCKET, SO_ERROR) => int_bytes(s.take_error().map_or(0, |e| e as i32)),
        (SOL_SOCKET, SO_SNDBUF) => int_bytes(s.buf(true) as i32),
        (SOL_SOCKET, SO_RCVBUF) => int_bytes(s.buf(false) as i32),
        (SOL_SOCKET, SO_ACCEPTCONN | SO_REUSEADDR | SO_KEEPALIVE | SO_BROADCAST) => int_bytes(0),
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            let ns = s.timeout(name == SO_SNDTIMEO).unwrap_or(0);
            kestrel_abi::bytemuck_bytes(&kestrel_abi::time::Timeval::from_ns(ns)).to_vec()
        }
        (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (pk::SOL_PACKET, pk::PACKET_VERSION) => int_bytes(s.version() as i32),
        (pk::SOL_PACKET, pk::PACKET_RESERVE) => int_bytes(s.reserve() as i32),
        (pk::SOL_PACKET, pk::PACKET_VNET_HDR) => int_bytes(i32::from(s.vnet_hdr())),
        (pk::SOL_PACKET, pk::PACKET_HDRLEN) => {
            // The version asked about comes in the buffer.
            let n = room.min(4);
            let mut b = [0u8; 4];
            ctx.mm().reader(val, n)?.read_exact(&mut b[..n])?;
            let v = i32::from_ne_bytes(b);
            // The size of the version's frame header (not TPACKET*_HDRLEN).
            let h = match u32::try_from(v) {
                Ok(pk::TPACKET_V1 | pk::TPACKET_V2) => 32,
                Ok(pk::TPACKET_V3) => 48,
                _ => return Err(Errno::EINVAL),
            };
            int_bytes(h)
        }
        (pk::SOL_PACKET, pk::PACKET_STATISTICS) => {
            // struct tpacket_stats (V1, V2) or tpacket_stats_v3 (a freeze
            // count too).
            let (p, d) = s.take_stats();
            let mut b = Vec::with_capacity(12);
            b.extend_from_slice(&p.to_ne_bytes());
            b.extend_from_slice(&d.to_ne_bytes());
            if s.version() == pk::TPACKET_V3 {
                b.extend_from_slice(&0u32.to_ne_bytes());
            }
            b
        }
        (pk::SOL_PACKET, _) => int_bytes(s.flag(name)?),
        _ => return Err(Errno::ENOPROTOOPT),
    };
    // packet_getsockopt writes the length before the value (not sk_getsockopt's
    // order): a bad optval after a good optlen leaves the length written.
    let n = bytes.len().min(room);
    ctx.write(len_ptr, &(n as u32))?;
    ctx.mm().writer(val, n)?.write_all(&bytes[..n])?;
    Ok(0)
}

/// A ring's memory: zeroed pages, all there from the start, that user space
/// maps and the taps write.
struct RingPages(Arc<SharedPages>, usize);

impl pk::RingMem for RingPages {
    fn write(&self, off: usize, b: &[u8]) {
        self.0.write_bytes(off as u64, b);
    }
    fn load_u32(&self, off: usize) -> u32 {
        self.0.load_u32(off as u64)
    }
    fn store_u32(&self, off: usize, v: u32) {
        self.0.store_u32(off as u64, v);
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

fn ring_memory(bytes: usize) -> Option<Arc<dyn pk::RingMem>> {
    let pages = SharedPages::allocate(bytes.div_ceil(4096))?;
    Some(Arc::new(RingPages(Arc::new(pages), bytes)))
}

/// What mmap(2) of a packet socket maps (None: not one): its RX ring, from
/// offset 0 and exactly its size (EINVAL otherwise, and with no ring, as
/// packet_mmap). Partial: a socket with a TX ring cannot be mapped (ENODEV).
pub fn mmap_backing(f: &OpenFile, offset: u64, len: u64) -> Option<KResult<Backing>> {
    let s = PacketSocket::of(f)?;
    let [rx, tx] = s.ring_mems();
    if offset != 0 {
        return Some(Err(Errno::EINVAL));
    }
    if tx.is_some() {
        return Some(Err(Errno::ENODEV));
    }
    let Some(rx) = rx else {
        return Some(Err(Errno::EINVAL));
    };
    let Some(pages) = rx.as_any().downcast_ref::<RingPages>() else {
        return Some(Err(Errno::EINVAL));
    };
    if len.div_ceil(4096) != (pages.1 as u64).div_ceil(4096) {
        return Some(Err(Errno::EINVAL));
    }
    Some(Ok(Backing::SharedAnonymous {
        pages: pages.0.clone(),
        offset: 0,
        segment: None,
    }))
}

/// getsockname: the sockaddr_ll up to its hardware address.
pub fn name(ctx: &Ctx<'_>, s: &PacketSocket, addr: UserPtr<u8>, len: UserPtr<u32>) -> KResult<u64> {
    let a = s.local_name();
    write_addr(ctx, &a.to_bytes()[..a.len()], addr, len)?;
    Ok(0)
}

/// SO_ATTACH_FILTER's argument, a struct sock_fprog (the length, then a
/// pointer to the program), read and checked as a classic BPF program
/// (EINVAL for a wrong size, an empty or too long program, a bad one).
pub(super) fn read_sock_fprog(
    ctx: &Ctx<'_>,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<Vec<kestrel_net::bpf::Insn>> {
    if len != 16 {
        return Err(Errno::EINVAL);
    }
    let mut b = [0u8; 16];
    ctx.mm().reader(val, 16)?.read_exact(&mut b)?;
    let n = usize::from(u16::from_ne_bytes([b[0], b[1]]));
    if n == 0 || n > kestrel_net::bpf::MAX_INSNS {
        return Err(Errno::EINVAL);
    }
    let mut code: Vec<u8> = zeroed_vec(n * 8)?;
    let at = UserPtr::<u8>::new(u64::from_ne_bytes(b[8..16].try_into().unwrap_or([0; 8])));
    ctx.mm().reader(at, n * 8)?.read_exact(&mut code)?;
    kestrel_net::bpf::parse(&code)
}
