//! The socket calls on AF_INET and AF_INET6 sockets ([`kestrel_net::inet`]).
//!
//! The sockets never block: each operation works on the socket's queues and
//! says EAGAIN when it would wait. Waiting is done here, on the socket's wait
//! queue (the one poll, select and epoll use), which the network task wakes
//! when the stack changes what the socket would report; O_NONBLOCK,
//! MSG_DONTWAIT, SO_RCVTIMEO/SO_SNDTIMEO and signals end a wait as for AF_UNIX.
//!
//! User data is copied a bounded chunk at a time (a stream) or whole up to the
//! largest datagram UDP carries (a datagram): nothing the caller names sizes a
//! kernel allocation beyond those.

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_net::inet::addr::{self, SockAddr};
use kestrel_net::inet::socket::{RxInfo, SendCtl, UDP_MAX_V4, UDP_MAX_V6};
use kestrel_net::inet::{Family, InetSocket, Kind};
use kestrel_usermem::UserIoVecs;
use kestrel_vfs::OpenFile;
use smoltcp::wire::IpAddress;

use super::super::args::*;
use super::super::{Ctx, MAX_RW_COUNT, zeroed_vec};
use super::{CHUNK, RawAddr, bounded, deadline, read_timeout, wait_ready, write_addr};

/// Roughly the most one socket holds in the kernel: its receive queue
/// (SO_RCVBUF), its send queue, and smoltcp's buffers.
const SOCKET_MEMORY: usize = 512 * 1024;

/// IPPROTO_TCP and IPPROTO_UDP as socket(2)'s protocol.
const TCP: i32 = IPPROTO_TCP;
const UDP: i32 = IPPROTO_UDP;

/// The kind of inet socket a type and protocol make (see [`socket`]).
pub fn kind_of(base: u32, protocol: i32) -> KResult<Kind> {
    match (base, protocol) {
        (SOCK_STREAM, 0 | TCP) => Ok(Kind::Stream),
        (SOCK_DGRAM, 0 | UDP) => Ok(Kind::Dgram),
        (SOCK_STREAM | SOCK_DGRAM | SOCK_RAW, _) => Err(Errno::EPROTONOSUPPORT),
        _ => Err(Errno::ESOCKTNOSUPPORT),
    }
}

/// socket(2) for AF_INET/AF_INET6: the protocol must be 0 or the type's own
/// (EPROTONOSUPPORT); SOCK_RAW needs raw sockets this kernel does not have
/// (EPROTONOSUPPORT: inet_create finds no protocol for it), and types no inet
/// protocol has are ESOCKTNOSUPPORT.
pub fn socket(domain: u32, base: u32, protocol: i32) -> KResult<Arc<InetSocket>> {
    let family = Family::from_domain(domain).ok_or(Errno::EAFNOSUPPORT)?;
    let kind = kind_of(base, protocol)?;
    let shared = crate::net::shared().ok_or(Errno::EAFNOSUPPORT)?;
    // What a socket may come to hold (its queues and smoltcp's buffers) must
    // fit in the memory user data may use, or the socket is not made.
    if !kestrel_vfs::may_hold(SOCKET_MEMORY) {
        return Err(Errno::ENOBUFS);
    }
    Ok(InetSocket::new(&shared, family, kind))
}

fn parse(s: &InetSocket, raw: &RawAddr) -> KResult<SockAddr> {
    addr::parse(s.family(), &raw.bytes[..raw.len])
}

pub fn bind(ctx: &Ctx<'_>, s: &InetSocket, ptr: UserPtr<u8>, len: u32) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let a = parse(s, &raw)?;
    // Ports below 1024 (Linux's default net.ipv4.ip_unprivileged_port_start)
    // need CAP_NET_BIND_SERVICE.
    if let SockAddr::Inet(_, port) = a
        && port != 0
        && port < 1024
        && !ctx
            .process()
            .cred
            .lock()
            .capable(kestrel_abi::cap::CAP_NET_BIND_SERVICE)
    {
        return Err(Errno::EACCES);
    }
    s.bind(a)?;
    Ok(0)
}

pub fn listen(s: &InetSocket, backlog: i32) -> KResult<u64> {
    // A negative backlog is taken as the maximum (an unsigned compare in Linux).
    let backlog = usize::try_from(backlog).unwrap_or(SOMAXCONN);
    s.listen(backlog)?;
    Ok(0)
}

/// accept/accept4 after the checks every family shares (see socket.rs).
pub async fn accept(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
    flags: u32,
) -> KResult<u64> {
    let until = deadline(s.timeout(false));
    let conn = loop {
        match s.accept() {
            Err(Errno::EAGAIN) if !f.nonblocking() => wait_ready(ctx, f, POLLIN, until).await?,
            r => break r?,
        }
    };
    let peer = conn.peer_name().unwrap_or_default();
    let file = crate::fs::anon::socket_file(
        conn,
        O_RDWR
            | if flags & SOCK_NONBLOCK != 0 {
                O_NONBLOCK
            } else {
                0
            },
    );
    let fd = ctx.install(file, flags & SOCK_CLOEXEC != 0)?;
    if !addr.is_null()
        && let Err(e) = write_addr(ctx, &peer, addr, addrlen)
    {
        let closed = ctx.process().files().lock().remove(fd);
        drop(closed);
        return Err(e);
    }
    Ok(fd as u64)
}

/// connect(2): a stream waits for the handshake unless non-blocking
/// (EINPROGRESS, then POLLOUT and SO_ERROR tell how it went); SO_SNDTIMEO
/// bounds the wait (EINPROGRESS after it, as inet_stream_connect).
pub async fn connect(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    ptr: UserPtr<u8>,
    len: u32,
) -> KResult<u64> {
    let raw = RawAddr::copy_in(ctx, ptr, len)?;
    let a = parse(s, &raw)?;
    match s.connect(a) {
        Err(Errno::EINPROGRESS) if !f.nonblocking() && s.kind() == Kind::Stream => {}
        r => return r.map(|_| 0),
    }
    let until = deadline(s.timeout(true));
    let mut outcome = None;
    let done = s.wait_queue().wait_until(|| {
        outcome = s.connect_result();
        outcome.map(|_| ())
    });
    match bounded(ctx, until, done).await {
        Ok(()) => outcome.unwrap_or(Err(Errno::ECONNREFUSED)).map(|_| 0),
        Err(Errno::EAGAIN) => Err(Errno::EINPROGRESS),
        Err(e) => Err(e),
    }
}

/// EPIPE from a stream raises SIGPIPE unless MSG_NOSIGNAL (sk_stream_error).
fn pipe_signal(ctx: &Ctx<'_>, s: &InetSocket, e: Errno, flags: u32) {
    if e == Errno::EPIPE && s.kind() == Kind::Stream && flags & MSG_NOSIGNAL == 0 {
        crate::process::signal::send(ctx.process(), kestrel_abi::signal::SIGPIPE);
    }
}

/// Sends the bytes of `src`: a stream a chunk at a time until all are queued
/// (or non-blocking and full), a datagram whole, to `to` or the peer.
pub async fn send(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    src: &mut UserIoVecs<'_>,
    to: Option<&RawAddr>,
    flags: u32,
) -> KResult<usize> {
    send_ctl(ctx, f, s, src, to, flags, SendCtl::default()).await
}

/// [`send`] with what sendmsg's control messages asked ([`send_control`]).
pub async fn send_ctl(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    src: &mut UserIoVecs<'_>,
    to: Option<&RawAddr>,
    flags: u32,
    ctl: SendCtl,
) -> KResult<usize> {
    let r = match s.kind() {
        Kind::Stream => send_stream(ctx, f, s, src, flags).await,
        Kind::Dgram => send_dgram(ctx, f, s, src, to, flags, ctl).await,
    };
    if let Err(e) = r {
        pipe_signal(ctx, s, e, flags);
    }
    r
}

async fn send_stream(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    src: &mut UserIoVecs<'_>,
    flags: u32,
) -> KResult<usize> {
    let oob = flags & MSG_OOB != 0;
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.timeout(true));
    let total = src.remaining().min(MAX_RW_COUNT);
    let mut buf = super::super::fs::bounce(total.clamp(1, CHUNK))?;
    let mut done = 0;
    loop {
        let want = (total - done).min(CHUNK);
        let got = src.read(&mut buf[..want]);
        if got < want {
            return if done > 0 {
                Ok(done)
            } else {
                Err(Errno::EFAULT)
            };
        }
        let mut off = 0;
        loop {
            // MSG_MORE holds back all but a last piece that fills the queue.
            let more = flags & MSG_MORE != 0;
            // MSG_OOB: the last byte queued by this call is urgent.
            match s.send_stream_flags(&buf[off..got], more, oob) {
                Ok(n) => off += n,
                Err(Errno::EAGAIN) if !dontwait => {
                    if let Err(e) = wait_ready(ctx, f, POLLOUT, until).await {
                        return partial(done + off, e);
                    }
                }
                Err(e) => {
                    if e == Errno::EPIPE && done + off > 0 {
                        // The bytes queued so far count; the next send raises SIGPIPE.
                        return Ok(done + off);
                    }
                    return partial(done + off, e);
                }
            }
            if off == got {
                break;
            }
        }
        done += got;
        if done == total {
            return Ok(done);
        }
    }
}

/// What a call that moved `done` bytes before `e` returns.
fn partial(done: usize, e: Errno) -> KResult<usize> {
    if done > 0 { Ok(done) } else { Err(e) }
}

async fn send_dgram(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    src: &mut UserIoVecs<'_>,
    to: Option<&RawAddr>,
    flags: u32,
    ctl: SendCtl,
) -> KResult<usize> {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let to = to.map(|r| parse(s, r)).transpose()?;
    let max = match s.family() {
        Family::V4 => UDP_MAX_V4,
        Family::V6 => UDP_MAX_V6,
    };
    let total = src.remaining();
    if total > max {
        return Err(Errno::EMSGSIZE);
    }
    let mut data: Vec<u8> = zeroed_vec(total)?;
    if src.read(&mut data) < total {
        return Err(Errno::EFAULT);
    }
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.timeout(true));
    loop {
        match s.send_dgram_ctl(&data, to, flags & MSG_MORE != 0, ctl) {
            Err(Errno::EAGAIN) if !dontwait => wait_ready(ctx, f, POLLOUT, until).await?,
            r => return r,
        }
    }
}

/// sendmsg's control messages on an internet socket, as Linux reads them:
/// a message that does not fit the buffer is EINVAL (CMSG_OK); SOL_SOCKET
/// ones as __sock_cmsg_send (SO_MARK needs CAP_NET_RAW or CAP_NET_ADMIN,
/// SO_TIMESTAMPING a u32 of transmit bits, SCM_TXTIME needs SO_TXTIME,
/// SCM_RIGHTS and SCM_CREDENTIALS are ignored, others EINVAL). TCP reads no
/// more (tcp_sendmsg: any error is EINVAL). UDP reads IPPROTO_IP's IP_TTL
/// (1-255), IP_TOS (an int or a byte, 0-255) and IP_PKTINFO (the source
/// address), as ip_cmsg_send, or IPPROTO_IPV6's IPV6_HOPLIMIT (-1-255),
/// IPV6_TCLASS (-1-255), IPV6_PKTINFO (the source) and IPV6_DONTFRAG, as
/// ip6_datagram_send_ctl; another type of its level is EINVAL, other levels
/// are skipped. The TTL or hop limit and the source reach the wire; the
/// traffic class and DONTFRAG are checked and not applied (smoltcp sets
/// neither), and IP options and IPv6 extension headers are EINVAL.
pub fn send_control(ctx: &Ctx<'_>, s: &InetSocket, ptr: u64, len: u64) -> KResult<SendCtl> {
    let mut ctl = SendCtl::default();
    if len == 0 {
        return Ok(ctl);
    }
    // sysctl_optmem_max bounds the control buffer (__sys_sendmsg).
    if len > 1 << 16 {
        return Err(Errno::ENOBUFS);
    }
    let raw = ctx
        .mm()
        .reader(UserPtr::<u8>::new(ptr), len as usize)?
        .read_to_vec()?;
    let stream = s.kind() == Kind::Stream;
    let v6 = s.family() == Family::V6;
    let int = |d: &[u8]| -> Option<i32> {
        (d.len() == 4).then(|| i32::from_ne_bytes([d[0], d[1], d[2], d[3]]))
    };
    let mut at = 0;
    while at + core::mem::size_of::<Cmsghdr>() <= raw.len() {
        let h: Cmsghdr = kestrel_abi::bytemuck::pod_read_unaligned(&raw[at..at + 16]);
        let clen = h.cmsg_len as usize;
        if clen < 16 || clen > raw.len() - at {
            return Err(Errno::EINVAL);
        }
        let data = &raw[at + 16..at + clen];
        match (h.cmsg_level, h.cmsg_type) {
            (SOL_SOCKET, SO_MARK) => {
                let c = ctx.process().cred.lock().clone();
                if !c.capable(kestrel_abi::cap::CAP_NET_RAW)
                    && !c.capable(kestrel_abi::cap::CAP_NET_ADMIN)
                {
                    return Err(if stream { Errno::EINVAL } else { Errno::EPERM });
                }
                int(data).ok_or(Errno::EINVAL)?;
            }
            (SOL_SOCKET, SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW) => {
                let bits = int(data).ok_or(Errno::EINVAL)? as u32;
                if bits & !SOF_TIMESTAMPING_TX_RECORD_MASK != 0 {
                    return Err(Errno::EINVAL);
                }
            }
            (SOL_SOCKET, SCM_RIGHTS | SCM_CREDENTIALS) => {}
            // SCM_TXTIME needs SO_TXTIME, which sockets here never have.
            (SOL_SOCKET, _) => return Err(Errno::EINVAL),
            _ if stream => {}
            // An IPv6 socket may give an IPv4-mapped source (ip_cmsg_send's
            // allow_ipv6), and sets IPv6's own.
            (SOL_IP, IP_TTL) if !v6 => {
                let v = int(data).ok_or(Errno::EINVAL)?;
                if !(1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                ctl.hop_limit = Some(v as u8);
            }
            (SOL_IP, IP_TOS) if !v6 => {
                let v = match data.len() {
                    4 => int(data).unwrap_or(-1),
                    1 => i32::from(data[0]),
                    _ => return Err(Errno::EINVAL),
                };
                if !(0..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
            }
            (SOL_IP, IP_PKTINFO) if !v6 => {
                // struct in_pktinfo: ifindex, spec_dst, addr (12 bytes).
                if data.len() != 12 {
                    return Err(Errno::EINVAL);
                }
                let a = [data[4], data[5], data[6], data[7]];
                if a != [0; 4] {
                    ctl.src = Some(IpAddress::v4(a[0], a[1], a[2], a[3]));
                }
            }
            (SOL_IP, _) if !v6 => return Err(Errno::EINVAL),
            (SOL_IPV6, IPV6_PKTINFO | IPV6_2292PKTINFO) if v6 => {
                // struct in6_pktinfo: the address, then the ifindex.
                if data.len() < 20 {
                    return Err(Errno::EINVAL);
                }
                let mut b = [0u8; 16];
                b.copy_from_slice(&data[..16]);
                let a = smoltcp::wire::Ipv6Address::from_octets(b);
                if !a.is_unspecified() {
                    ctl.src = Some(IpAddress::Ipv6(a));
                }
            }
            (SOL_IPV6, IPV6_HOPLIMIT | IPV6_2292HOPLIMIT) if v6 => {
                let v = int(data).ok_or(Errno::EINVAL)?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                ctl.hop_limit = u8::try_from(v).ok();
            }
            (SOL_IPV6, IPV6_TCLASS) if v6 => {
                let v = int(data).ok_or(Errno::EINVAL)?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
            }
            (SOL_IPV6, IPV6_DONTFRAG) if v6 => {
                let v = int(data).ok_or(Errno::EINVAL)?;
                if !(0..=1).contains(&v) {
                    return Err(Errno::EINVAL);
                }
            }
            (SOL_IPV6, _) if v6 => return Err(Errno::EINVAL),
            _ => {}
        }
        at += cmsg_align(clen);
    }
    Ok(ctl)
}

/// What a receive delivered: bytes copied, the datagram's full length, the
/// sender's sockaddr.
pub struct Got {
    pub len: usize,
    pub full_len: usize,
    pub from: Vec<u8>,
    /// A datagram's packet details, for recvmsg's control messages.
    pub rx: Option<RxMeta>,
    /// The urgent byte (recv with MSG_OOB): MSG_OOB in msg_flags.
    pub oob: bool,
}

/// What recvmsg's control messages say about a received datagram.
pub struct RxMeta {
    /// The packet was IPv4 (on an AF_INET6 socket: from a v4-mapped peer).
    pub v4: bool,
    /// The address it was sent to.
    pub local: Option<IpAddress>,
    pub info: RxInfo,
}

/// Receives into `dst`, waiting unless non-blocking. A stream takes only what
/// the buffers can hold (never losing bytes to EFAULT) and, without
/// MSG_WAITALL, returns what is there once something is; a datagram is taken
/// whole, the part that does not fit discarded (MSG_TRUNC).
pub async fn recv(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    s: &InetSocket,
    dst: &mut UserIoVecs<'_>,
    flags: u32,
) -> KResult<Got> {
    if flags & MSG_ERRQUEUE != 0 {
        // The error queue (IP_RECVERR, timestamps) is always empty.
        return Err(Errno::EAGAIN);
    }
    // UDP ignores MSG_OOB on receive (udp_recvmsg); sending is EOPNOTSUPP.
    if flags & MSG_OOB != 0 && s.kind() == Kind::Stream {
        // TCP's urgent byte (tcp_recv_urg): never waits. With no room it is
        // still taken, and MSG_TRUNC says so; MSG_TRUNC in the flags takes
        // it without copying and counts it.
        let byte = s.recv_oob(flags & MSG_PEEK != 0)?;
        let Some(b) = byte else {
            return Ok(Got {
                len: 0,
                full_len: 0,
                from: Vec::new(),
                rx: None,
                oob: false,
            });
        };
        let room = dst.remaining();
        let len = if room > 0 && flags & MSG_TRUNC == 0 {
            if dst.write(&[b]) < 1 {
                return Err(Errno::EFAULT);
            }
            1
        } else {
            0
        };
        return Ok(Got {
            len,
            full_len: 1,
            from: Vec::new(),
            rx: None,
            oob: true,
        });
    }
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.timeout(false));
    let peek = flags & MSG_PEEK != 0;
    let len = dst.remaining().min(MAX_RW_COUNT);
    if s.kind() == Kind::Dgram {
        // The datagram itself is handed over (no buffer the size of the
        // caller's, zeroed at every call: 64 KiB for a one-byte datagram read
        // into a big buffer, most of a UDP round trip).
        let (data, full, from, rx) = loop {
            match s.take_dgram(peek, len) {
                Err(Errno::EAGAIN) if !dontwait => {
                    wait_ready(ctx, f, POLLIN, until).await?;
                }
                r => break r?,
            }
        };
        let n = data.len().min(len);
        if dst.write(&data[..n]) < n {
            return Err(Errno::EFAULT);
        }
        let v4 = match from.addr {
            IpAddress::Ipv4(_) => true,
            IpAddress::Ipv6(a) => a.to_ipv4_mapped().is_some(),
        };
        let rx = rx.map(|(local, info)| RxMeta { v4, local, info });
        let from = if full == 0 && from.port == 0 {
            Vec::new()
        } else {
            addr::endpoint_sockaddr(s.family(), from)
        };
        return Ok(Got {
            len: n,
            full_len: full,
            from,
            rx,
            oob: false,
        });
    }
    let waitall = flags & MSG_WAITALL != 0 && !peek;
    let mut buf = super::super::fs::bounce(len.clamp(1, CHUNK))?;
    let mut got = 0;
    loop {
        // Proving the buffer writable costs a page walk per page: only as far
        // as what is queued now (at least a byte), not the whole buffer asked.
        let queued = s.inq().unwrap_or(usize::MAX).max(1);
        let want = (len - got).min(buf.len()).min(queued);
        let room = dst.writable(want);
        if room == 0 && want > 0 {
            if got > 0 {
                break;
            }
            return Err(Errno::EFAULT);
        }
        match s.recv_stream(&mut buf[..room], peek) {
            Ok(0) => break,
            Ok(n) => {
                let put = dst.write(&buf[..n]);
                got += put;
                // A read stops at the urgent mark, MSG_WAITALL or not.
                if got == len || put < n || peek || s.at_mark() {
                    break;
                }
                // More may be queued already: take it without waiting,
                // unless MSG_WAITALL asks for all of it.
                continue;
            }
            Err(Errno::EAGAIN) if !dontwait && (got == 0 || waitall) => {}
            Err(e) => {
                if got > 0 {
                    break;
                }
                return Err(e);
            }
        }
        if let Err(e) = wait_ready(ctx, f, POLLIN, until).await {
            if got > 0 {
                break;
            }
            return Err(e);
        }
    }
    // TCP names no sender: recvfrom and recvmsg report an empty address
    // (length 0, nothing written), as Linux's tcp_recvmsg leaves msg_name.
    Ok(Got {
        len: got,
        full_len: got,
        from: Vec::new(),
        rx: None,
        oob: false,
    })
}

/// The control messages a received datagram carries, in the order Linux
/// puts them (sock_recv_cmsgs, then ip_cmsg_recv or the IPv6 common and
/// specific ones): (level, type, data).
pub fn control_messages(s: &InetSocket, rx: &RxMeta) -> Vec<(i32, i32, Vec<u8>)> {
    use kestrel_net::inet::socket::cmsg;
    let want = s.with_opts(|o| o.cmsg);
    let mut out = Vec::new();
    if want == 0 {
        return out;
    }
    let i = &rx.info;
    if want & cmsg::TIMESTAMP != 0 {
        let (sec, ns) = (
            (i.stamp_ns / 1_000_000_000) as i64,
            (i.stamp_ns % 1_000_000_000) as i64,
        );
        let sub = if want & cmsg::TIMESTAMPNS != 0 {
            ns
        } else {
            ns / 1000
        };
        let ty = match (want & cmsg::TSTAMP_NEW != 0, want & cmsg::TIMESTAMPNS != 0) {
            (false, false) => SO_TIMESTAMP_OLD,
            (false, true) => SO_TIMESTAMPNS_OLD,
            (true, false) => SO_TIMESTAMP_NEW,
            (true, true) => SO_TIMESTAMPNS_NEW,
        };
        let mut b = sec.to_ne_bytes().to_vec();
        b.extend_from_slice(&sub.to_ne_bytes());
        out.push((SOL_SOCKET, ty, b));
    }
    // The destination as IPv4 and as IPv6 (v4-mapped for an IPv4 packet).
    let (dst4, dst6) = match rx.local {
        Some(IpAddress::Ipv4(a)) => (a.octets(), a.to_ipv6_mapped().octets()),
        Some(IpAddress::Ipv6(a)) => (
            a.to_ipv4_mapped().map_or([0; 4], |v| v.octets()),
            a.octets(),
        ),
        None => ([0; 4], [0; 16]),
    };
    let v6 = s.family() == Family::V6;
    if v6 && want & cmsg::V6_PKTINFO != 0 {
        let mut b = dst6.to_vec();
        b.extend_from_slice(&(i.ifindex as i32).to_ne_bytes());
        out.push((SOL_IPV6, IPV6_PKTINFO, b));
    }
    if rx.v4 {
        if want & cmsg::PKTINFO != 0 {
            // struct in_pktinfo: the interface, the local address the
            // packet was for (ipi_spec_dst), its header's destination.
            let mut b = (i.ifindex as i32).to_ne_bytes().to_vec();
            b.extend_from_slice(&dst4);
            b.extend_from_slice(&dst4);
            out.push((SOL_IP, IP_PKTINFO, b));
        }
        if want & cmsg::RECVTTL != 0 {
            out.push((SOL_IP, IP_TTL, i32::from(i.ttl).to_ne_bytes().to_vec()));
        }
        if want & cmsg::RECVTOS != 0 {
            out.push((SOL_IP, IP_TOS, alloc::vec![i.tos]));
        }
        if want & cmsg::ORIGDSTADDR != 0 {
            let mut b = alloc::vec![0u8; 16];
            b[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
            b[2..4].copy_from_slice(&i.port.to_be_bytes());
            b[4..8].copy_from_slice(&dst4);
            out.push((SOL_IP, IP_ORIGDSTADDR, b));
        }
    } else if v6 {
        if want & cmsg::V6_HOPLIMIT != 0 {
            out.push((
                SOL_IPV6,
                IPV6_HOPLIMIT,
                i32::from(i.ttl).to_ne_bytes().to_vec(),
            ));
        }
        if want & cmsg::V6_TCLASS != 0 {
            out.push((
                SOL_IPV6,
                IPV6_TCLASS,
                i32::from(i.tos).to_ne_bytes().to_vec(),
            ));
        }
        if want & cmsg::V6_ORIGDSTADDR != 0 {
            let mut b = alloc::vec![0u8; 28];
            b[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
            b[2..4].copy_from_slice(&i.port.to_be_bytes());
            b[8..24].copy_from_slice(&dst6);
            out.push((SOL_IPV6, IPV6_ORIGDSTADDR, b));
        }
    }
    out
}

/// The receive control message option `name` at `level` stands for, as a
/// [`kestrel_net::inet::socket::cmsg`] bit (IP-level ones on either family,
/// IPv6 ones on AF_INET6).
fn cmsg_bit(s: &InetSocket, level: i32, name: i32) -> Option<u16> {
    use kestrel_net::inet::socket::cmsg;
    match (level, name) {
        (IPPROTO_IP, IP_PKTINFO) => Some(cmsg::PKTINFO),
        (IPPROTO_IP, IP_RECVTTL) => Some(cmsg::RECVTTL),
        (IPPROTO_IP, IP_RECVTOS) => Some(cmsg::RECVTOS),
        (IPPROTO_IP, IP_RECVORIGDSTADDR) => Some(cmsg::ORIGDSTADDR),
        (IPPROTO_IPV6, _) if s.family() != Family::V6 => None,
        (IPPROTO_IPV6, IPV6_RECVPKTINFO) => Some(cmsg::V6_PKTINFO),
        (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => Some(cmsg::V6_HOPLIMIT),
        (IPPROTO_IPV6, IPV6_RECVTCLASS) => Some(cmsg::V6_TCLASS),
        (IPPROTO_IPV6, IPV6_RECVORIGDSTADDR) => Some(cmsg::V6_ORIGDSTADDR),
        _ => None,
    }
}

/// SO_TIMESTAMP and its three siblings (sock_set_timestamp): on, each sets
/// the microsecond/nanosecond and old/new choice; off, timestamps stop.
fn set_timestamp(o: &mut kestrel_net::inet::socket::Opts, name: i32, on: bool) {
    use kestrel_net::inet::socket::cmsg;
    let all = cmsg::TIMESTAMP | cmsg::TIMESTAMPNS | cmsg::TSTAMP_NEW;
    if !on {
        o.cmsg &= !(cmsg::TIMESTAMP | cmsg::TIMESTAMPNS);
        return;
    }
    o.cmsg &= !all;
    o.cmsg |= cmsg::TIMESTAMP;
    if matches!(name, SO_TIMESTAMPNS_OLD | SO_TIMESTAMPNS_NEW) {
        o.cmsg |= cmsg::TIMESTAMPNS;
    }
    if matches!(name, SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_NEW) {
        o.cmsg |= cmsg::TSTAMP_NEW;
    }
}

/// getsockopt of SO_TIMESTAMP and its siblings (sk_getsockopt).
fn get_timestamp(cm: u16, name: i32) -> bool {
    use kestrel_net::inet::socket::cmsg;
    let (on, ns, new) = (
        cm & cmsg::TIMESTAMP != 0,
        cm & cmsg::TIMESTAMPNS != 0,
        cm & cmsg::TSTAMP_NEW != 0,
    );
    match name {
        SO_TIMESTAMP_OLD => on && !new && !ns,
        SO_TIMESTAMPNS_OLD => ns && !new,
        SO_TIMESTAMP_NEW => on && new && !ns,
        _ => ns && new,
    }
}

pub fn shutdown(s: &InetSocket, how: u32) -> KResult<u64> {
    s.shutdown(how)?;
    Ok(0)
}

pub(super) fn int_bytes(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// Reads an int option value: at least 4 bytes (EINVAL).
pub(super) fn read_int(ctx: &Ctx<'_>, val: UserPtr<u8>, len: u32) -> KResult<i32> {
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    ctx.read(val.cast::<i32>())
}

/// SO_SNDBUF/SO_RCVBUF and their FORCE forms, for every family: the size
/// asked (a negative one as 0) and whether it is forced. As sk_setsockopt:
/// the int is read first (EINVAL, EFAULT), then a FORCE form without
/// CAP_NET_ADMIN is EPERM.
pub(super) fn read_buf_size(
    ctx: &Ctx<'_>,
    name: i32,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<(usize, bool)> {
    let v = read_int(ctx, val, len)?;
    let force = matches!(name, SO_SNDBUFFORCE | SO_RCVBUFFORCE);
    if force && !ctx.capable(kestrel_abi::cap::CAP_NET_ADMIN) {
        return Err(Errno::EPERM);
    }
    Ok((v.max(0) as usize, force))
}

/// setsockopt on an internet socket. Options marked "accepted" are taken and
/// remembered or ignored without effect (docs/syscalls.md, partial).
pub fn setsockopt(
    ctx: &Ctx<'_>,
    s: &InetSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<u64> {
    let int = || read_int(ctx, val, len);
    let stream = s.kind() == Kind::Stream;
    // The receive control-message switches (IP_PKTINFO, IPV6_RECVHOPLIMIT, ...).
    if let Some(bit) = cmsg_bit(s, level, name) {
        let on = int()? != 0;
        s.with_opts(|o| {
            if on {
                o.cmsg |= bit;
            } else {
                o.cmsg &= !bit;
            }
        });
        return Ok(0);
    }
    match (level, name) {
        (SOL_SOCKET, SO_REUSEADDR) => {
            let v = int()? != 0;
            s.with_opts(|o| o.reuseaddr = v);
        }
        (SOL_SOCKET, SO_REUSEPORT) => {
            let v = int()? != 0;
            s.with_opts(|o| o.reuseport = v);
        }
        (SOL_SOCKET, SO_KEEPALIVE) => {
            let v = int()? != 0;
            s.with_opts(|o| o.keepalive = v);
            s.options_changed();
        }
        (SOL_SOCKET, SO_BROADCAST) => {
            let v = int()? != 0;
            s.with_opts(|o| o.broadcast = v);
        }
        (SOL_SOCKET, SO_LINGER) => {
            if (len as usize) < core::mem::size_of::<Linger>() {
                return Err(Errno::EINVAL);
            }
            let l: Linger = ctx.read(val.cast())?;
            s.with_opts(|o| o.linger = (l.l_onoff != 0).then_some(l.l_linger.max(0)));
        }
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF | SO_SNDBUFFORCE | SO_RCVBUFFORCE) => {
            let (v, _) = read_buf_size(ctx, name, val, len)?;
            s.set_buf(matches!(name, SO_SNDBUF | SO_SNDBUFFORCE), v);
        }
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            let ns = read_timeout(ctx, val, len)?;
            s.with_opts(|o| {
                if name == SO_SNDTIMEO {
                    o.sndtimeo = ns;
                } else {
                    o.rcvtimeo = ns;
                }
            });
        }
        (SOL_SOCKET, SO_OOBINLINE) => {
            let v = int()? != 0;
            s.with_opts(|o| o.oobinline = v);
        }
        // Accepted without effect.
        (SOL_SOCKET, SO_DEBUG | SO_DONTROUTE | SO_PRIORITY | SO_RCVLOWAT | SO_NO_CHECK) => {
            int()?;
        }
        (IPPROTO_TCP, TCP_NODELAY) if stream => {
            let v = int()? != 0;
            s.with_opts(|o| o.nodelay = v);
            s.options_changed();
        }
        (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL) if stream => {
            let v = int()?;
            if !(1..=32767).contains(&v) {
                return Err(Errno::EINVAL);
            }
            s.with_opts(|o| {
                if name == TCP_KEEPIDLE {
                    o.keepidle = v as u32;
                } else {
                    o.keepintvl = v as u32;
                }
            });
            s.options_changed();
        }
        (IPPROTO_TCP, TCP_KEEPCNT) if stream => {
            let v = int()?;
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            s.with_opts(|o| o.keepcnt = v as u32);
        }
        // Accepted without effect: smoltcp chooses its segments and ACKs.
        (IPPROTO_TCP, TCP_CORK | TCP_QUICKACK | TCP_MAXSEG) if stream => {
            int()?;
        }
        (IPPROTO_IP, IP_TTL) if s.family() == Family::V4 => {
            let v = int()?;
            let ttl = match v {
                -1 => 64,
                1..=255 => v as u8,
                _ => return Err(Errno::EINVAL),
            };
            s.with_opts(|o| o.ttl = ttl);
        }
        (IPPROTO_IP, IP_TOS) if s.family() == Family::V4 => {
            int()?;
        }
        // glibc's resolver sets it on its UDP socket and gives up if it fails.
        (IPPROTO_IP, IP_RECVERR) | (IPPROTO_IPV6, IPV6_RECVERR)
            if (level == IPPROTO_IP) == (s.family() == Family::V4) =>
        {
            let v = int()? != 0;
            s.with_opts(|o| o.recverr = v);
        }
        (IPPROTO_IPV6, IPV6_ADDRFORM) if s.family() == Family::V6 => {
            // Only to AF_INET (EINVAL otherwise).
            if int()? != AF_INET as i32 {
                return Err(Errno::EINVAL);
            }
            s.to_ipv4()?;
        }
        (IPPROTO_IPV6, IPV6_V6ONLY) if s.family() == Family::V6 => {
            let v = int()? != 0;
            // Only before the socket is bound (inet6: EINVAL after).
            if s.is_bound() {
                return Err(Errno::EINVAL);
            }
            s.with_opts(|o| o.v6only = v);
        }
        (IPPROTO_IPV6, IPV6_UNICAST_HOPS) if s.family() == Family::V6 => {
            let v = int()?;
            let ttl = match v {
                -1 => 64,
                0..=255 => v as u8,
                _ => return Err(Errno::EINVAL),
            };
            s.with_opts(|o| o.ttl = ttl);
        }
        (
            SOL_SOCKET,
            SO_TIMESTAMP_OLD | SO_TIMESTAMPNS_OLD | SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_NEW,
        ) => {
            let on = int()? != 0;
            s.with_opts(|o| set_timestamp(o, name, on));
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

/// Whether some layer of `s` has options at `level`.
fn known_level(s: &InetSocket, level: i32) -> bool {
    match level {
        SOL_SOCKET | IPPROTO_IP => true,
        IPPROTO_TCP => s.kind() == Kind::Stream,
        IPPROTO_UDP => s.kind() == Kind::Dgram,
        IPPROTO_IPV6 => s.family() == Family::V6,
        _ => false,
    }
}

/// struct tcp_info up to tcpi_total_retrans (104 bytes: the fields every
/// version has). Only the state, the MSS fields and the window scale are
/// filled; counters and timers read 0 (partial).
fn tcp_info(s: &InetSocket) -> Vec<u8> {
    let mut b = alloc::vec![0u8; 104];
    b[0] = s.tcpi_state();
    // tcpi_snd_mss and tcpi_rcv_mss (offsets 16 and 20): the default MSS.
    b[16..20].copy_from_slice(&536u32.to_ne_bytes());
    b[20..24].copy_from_slice(&536u32.to_ne_bytes());
    b
}

pub fn getsockopt(
    ctx: &Ctx<'_>,
    s: &InetSocket,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len_ptr: UserPtr<u32>,
) -> KResult<u64> {
    let room = super::optlen_room(ctx, len_ptr)?;
    let stream = s.kind() == Kind::Stream;
    let o = s.with_opts(|o| o.clone());
    let bytes = match (level, name) {
        (l, n) if let Some(bit) = cmsg_bit(s, l, n) => int_bytes(i32::from(o.cmsg & bit != 0)),
        (SOL_SOCKET, SO_TYPE) => int_bytes(if stream { SOCK_STREAM } else { SOCK_DGRAM } as i32),
        (SOL_SOCKET, SO_DOMAIN) => int_bytes(s.family().domain() as i32),
        (SOL_SOCKET, SO_PROTOCOL) => int_bytes(if stream { TCP } else { UDP }),
        (SOL_SOCKET, SO_ACCEPTCONN) => int_bytes(i32::from(s.is_listening())),
        (SOL_SOCKET, SO_ERROR) => int_bytes(s.take_error().map_or(0, |e| e as i32)),
        (SOL_SOCKET, SO_REUSEADDR) => int_bytes(i32::from(o.reuseaddr)),
        (SOL_SOCKET, SO_REUSEPORT) => int_bytes(i32::from(o.reuseport)),
        (SOL_SOCKET, SO_KEEPALIVE) => int_bytes(i32::from(o.keepalive)),
        (SOL_SOCKET, SO_BROADCAST) => int_bytes(i32::from(o.broadcast)),
        (SOL_SOCKET, SO_SNDBUF) => int_bytes(o.sndbuf as i32),
        (SOL_SOCKET, SO_RCVBUF) => int_bytes(o.rcvbuf as i32),
        (SOL_SOCKET, SO_LINGER) => {
            let l = Linger {
                l_onoff: i32::from(o.linger.is_some()),
                l_linger: o.linger.unwrap_or(0),
            };
            kestrel_abi::bytemuck_bytes(&l).to_vec()
        }
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            let ns = if name == SO_SNDTIMEO {
                o.sndtimeo
            } else {
                o.rcvtimeo
            };
            let tv = kestrel_abi::time::Timeval::from_ns(ns.unwrap_or(0));
            kestrel_abi::bytemuck_bytes(&tv).to_vec()
        }
        (SOL_SOCKET, SO_OOBINLINE) => int_bytes(i32::from(o.oobinline)),
        (SOL_SOCKET, SO_DEBUG | SO_DONTROUTE | SO_PRIORITY | SO_NO_CHECK) => int_bytes(0),
        (SOL_SOCKET, SO_RCVLOWAT | SO_SNDLOWAT) => int_bytes(1),
        (IPPROTO_TCP, TCP_NODELAY) if stream => int_bytes(i32::from(o.nodelay)),
        (IPPROTO_TCP, TCP_KEEPIDLE) if stream => int_bytes(o.keepidle as i32),
        (IPPROTO_TCP, TCP_KEEPINTVL) if stream => int_bytes(o.keepintvl as i32),
        (IPPROTO_TCP, TCP_KEEPCNT) if stream => int_bytes(o.keepcnt as i32),
        (IPPROTO_TCP, TCP_MAXSEG) if stream => int_bytes(536),
        (IPPROTO_TCP, TCP_CORK) if stream => int_bytes(0),
        (IPPROTO_TCP, TCP_QUICKACK) if stream => int_bytes(1),
        (IPPROTO_TCP, TCP_INFO) if stream => tcp_info(s),
        (IPPROTO_IP, IP_TTL) if s.family() == Family::V4 => int_bytes(i32::from(o.ttl)),
        (IPPROTO_IP, IP_TOS) if s.family() == Family::V4 => int_bytes(0),
        (IPPROTO_IP, IP_RECVERR) | (IPPROTO_IPV6, IPV6_RECVERR)
            if (level == IPPROTO_IP) == (s.family() == Family::V4) =>
        {
            int_bytes(i32::from(o.recverr))
        }
        (
            SOL_SOCKET,
            SO_TIMESTAMP_OLD | SO_TIMESTAMPNS_OLD | SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_NEW,
        ) => int_bytes(i32::from(get_timestamp(o.cmsg, name))),
        (IPPROTO_IPV6, IPV6_V6ONLY) if s.family() == Family::V6 => int_bytes(i32::from(o.v6only)),
        (IPPROTO_IPV6, IPV6_UNICAST_HOPS) if s.family() == Family::V6 => {
            int_bytes(i32::from(o.ttl))
        }
        // A level no layer of the socket knows: ip_getsockopt says
        // EOPNOTSUPP, ipv6_getsockopt ENOPROTOOPT.
        (l, _) if !known_level(s, l) && s.family() == Family::V4 => {
            return Err(Errno::EOPNOTSUPP);
        }
        _ => return Err(Errno::ENOPROTOOPT),
    };
    super::put_optval(ctx, val, len_ptr, room, &bytes)
}
