//! The socket calls on AF_NETLINK sockets ([`kestrel_net::netlink`]).
//!
//! Only NETLINK_ROUTE exists; every other protocol is EPROTONOSUPPORT, as
//! on a Linux whose module for it is missing. Requests are answered while
//! they are sent, so a receive waits only for another process's unicast
//! (on the socket's wait queue, as every socket waits). Messages are copied
//! whole, bounded by the send buffer (EMSGSIZE beyond it) and the largest
//! receive buffer.

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_net::netlink::{self, NetlinkSocket};
use kestrel_usermem::UserIoVecs;
use kestrel_vfs::OpenFile;

use super::super::args::*;
use super::super::{Ctx, zeroed_vec};
use super::{RawAddr, deadline, read_timeout, wait_ready, write_addr};

/// socket(AF_NETLINK, type, protocol): SOCK_RAW or SOCK_DGRAM
/// (ESOCKTNOSUPPORT), a protocol below MAX_LINKS (EPROTONOSUPPORT) that
/// Kestrel has (NETLINK_ROUTE only).
pub fn socket(base: u32, protocol: i32) -> KResult<Arc<NetlinkSocket>> {
    if base != SOCK_RAW && base != SOCK_DGRAM {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    if protocol < 0 || protocol as u32 >= netlink::MAX_LINKS {
        return Err(Errno::EPROTONOSUPPORT);
    }
    if protocol as u32 != netlink::NETLINK_ROUTE {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let shared = crate::net::shared();
    Ok(NetlinkSocket::new(protocol as u32, base, shared))
}

/// The caller's process id: the port id autobind tries first.
fn pid(ctx: &Ctx<'_>) -> u32 {
    ctx.process().pid
}

fn admin(ctx: &Ctx<'_>) -> bool {
    ctx.process()
        .cred
        .lock()
        .capable(kestrel_abi::cap::CAP_NET_ADMIN)
}

pub fn bind(ctx: &Ctx<'_>, s: &NetlinkSocket, ptr: UserPtr<u8>, len: u32) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let (portid, groups) = netlink::parse_sockaddr(&raw.bytes[..raw.len])?;
    s.bind(pid(ctx), portid, groups)?;
    Ok(0)
}

pub fn connect(ctx: &Ctx<'_>, s: &NetlinkSocket, ptr: UserPtr<u8>, len: u32) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let b = &raw.bytes[..raw.len];
    if b.len() >= 2 && u32::from(u16::from_ne_bytes([b[0], b[1]])) == AF_UNSPEC {
        s.connect(pid(ctx), None)?;
        return Ok(0);
    }
    let dst = netlink::parse_sockaddr(b)?;
    s.connect(pid(ctx), Some(dst))?;
    Ok(0)
}

/// Sends the bytes of `src` as one message batch to `to` (else the
/// connected destination, else the kernel).
pub fn send(
    ctx: &Ctx<'_>,
    s: &NetlinkSocket,
    src: &mut UserIoVecs<'_>,
    to: Option<&RawAddr>,
) -> KResult<usize> {
    let to = to
        .map(|r| netlink::parse_sockaddr(&r.bytes[..r.len]))
        .transpose()?;
    let total = src.remaining();
    if total > s.buf(true).saturating_sub(32) {
        return Err(Errno::EMSGSIZE);
    }
    let mut data: Vec<u8> = zeroed_vec(total)?;
    if src.read(&mut data) < total {
        return Err(Errno::EFAULT);
    }
    s.send(&data, to, pid(ctx), admin(ctx))
}

/// What a receive delivered.
pub struct Got {
    pub len: usize,
    pub full_len: usize,
    pub from: [u8; netlink::SOCKADDR_NL_LEN],
}

/// Receives one datagram into `dst`, waiting unless non-blocking; what does
/// not fit is discarded (MSG_TRUNC). The kernel's copy is the datagram's own
/// buffer (at most a send buffer), whatever size the caller's is.
pub async fn recv(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &NetlinkSocket,
    dst: &mut UserIoVecs<'_>,
    flags: u32,
) -> KResult<Got> {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & MSG_ERRQUEUE != 0 {
        return Err(Errno::EAGAIN);
    }
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.timeout(false));
    let len = dst.remaining();
    let (buf, r) = loop {
        match s.recv_vec(len, flags & MSG_PEEK != 0) {
            Err(Errno::EAGAIN) if !dontwait => wait_ready(ctx, f, POLLIN, until).await?,
            r => break r?,
        }
    };
    if dst.write(&buf) < r.len {
        return Err(Errno::EFAULT);
    }
    Ok(Got {
        len: r.len,
        full_len: r.full_len,
        from: netlink::sockaddr(r.from, 0),
    })
}

/// SO_ATTACH_FILTER: a socket filter (accepted, not run: partial).
const SO_ATTACH_FILTER: i32 = 26;

use super::inet::{int_bytes, read_int};

pub fn setsockopt(
    ctx: &Ctx<'_>,
    s: &NetlinkSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<u64> {
    match (level, name) {
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF | SO_SNDBUFFORCE | SO_RCVBUFFORCE) => {
            let (v, _) = super::inet::read_buf_size(ctx, name, val, len)?;
            s.set_buf(matches!(name, SO_SNDBUF | SO_SNDBUFFORCE), v);
        }
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            s.set_timeout(name == SO_SNDTIMEO, read_timeout(ctx, val, len)?);
        }
        (
            SOL_SOCKET,
            SO_PASSCRED | SO_REUSEADDR | SO_KEEPALIVE | SO_PRIORITY | SO_ATTACH_FILTER,
        ) => {
            if name != SO_ATTACH_FILTER {
                read_int(ctx, val, len)?;
            }
        }
        (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (
            netlink::SOL_NETLINK,
            netlink::NETLINK_ADD_MEMBERSHIP | netlink::NETLINK_DROP_MEMBERSHIP,
        ) => {
            let g = read_int(ctx, val, len)? as u32;
            s.membership(g, name == netlink::NETLINK_ADD_MEMBERSHIP)?;
        }
        (netlink::SOL_NETLINK, _) => {
            let v = read_int(ctx, val, len)?;
            s.set_flag(name, v != 0)?;
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

pub fn getsockopt(
    ctx: &Ctx<'_>,
    s: &NetlinkSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len_ptr: UserPtr<u32>,
) -> KResult<u64> {
    let room = super::optlen_room(ctx, len_ptr)?;
    let bytes = match (level, name) {
        (SOL_SOCKET, SO_TYPE) => int_bytes(s.sock_type() as i32),
        (SOL_SOCKET, SO_DOMAIN) => int_bytes(AF_NETLINK as i32),
        (SOL_SOCKET, SO_PROTOCOL) => int_bytes(s.protocol() as i32),
        (SOL_SOCKET, SO_ERROR) => int_bytes(s.take_error().map_or(0, |e| e as i32)),
        (SOL_SOCKET, SO_SNDBUF) => int_bytes(s.buf(true) as i32),
        (SOL_SOCKET, SO_RCVBUF) => int_bytes(s.buf(false) as i32),
        (SOL_SOCKET, SO_ACCEPTCONN | SO_PASSCRED | SO_REUSEADDR | SO_KEEPALIVE) => int_bytes(0),
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            let ns = s.timeout(name == SO_SNDTIMEO).unwrap_or(0);
            kestrel_abi::bytemuck_bytes(&kestrel_abi::time::Timeval::from_ns(ns)).to_vec()
        }
        (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
        (netlink::SOL_NETLINK, _) => {
            // netlink_getsockopt wants room for an int (EINVAL).
            if room < 4 {
                return Err(Errno::EINVAL);
            }
            int_bytes(i32::from(s.flag(name)?))
        }
        _ => return Err(Errno::ENOPROTOOPT),
    };
    super::put_optval(ctx, val, len_ptr, room, &bytes)
}

/// getsockname/getpeername.
pub fn name(
    ctx: &Ctx<'_>,
    s: &NetlinkSocket,
    peer: bool,
    addr: UserPtr<u8>,
    len: UserPtr<u32>,
) -> KResult<u64> {
    let b = if peer { s.peer_name() } else { s.local_name() };
    write_addr(ctx, &b, addr, len)?;
    Ok(0)
}
