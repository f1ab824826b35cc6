//! Socket system calls over [`kestrel_net::unix`]: socket, socketpair, bind,
//! listen, accept, connect, send/recv and their msg forms (iovecs, SCM_RIGHTS,
//! SCM_CREDENTIALS), shutdown, names and options.
//!
//! Only AF_UNIX exists so far: AF_INET and AF_INET6 give EAFNOSUPPORT from
//! socket() (EOPNOTSUPP from socketpair(), as Linux's inet sockets would). The
//! socket operations never block; waiting is done here, on the socket's wait
//! queue, honouring O_NONBLOCK, MSG_DONTWAIT, SO_RCVTIMEO/SO_SNDTIMEO and signals.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_net::unix::{Addr, Cred, Kind, NameKey, Parsed, Received, Rights, UnixSocket};
use kestrel_vfs::OpenFile;
use kestrel_vfs::inode::{NodeKind, access, check_access};

use super::{Args, Ctx, arg_i32, wait_for};
use crate::process::signal::interruptible;

/// The socket behind `fd`: EBADF for a bad descriptor, ENOTSOCK for another file.
fn socket_file(ctx: &Ctx<'_>, fd: i32) -> KResult<Arc<OpenFile>> {
    let f = ctx.file(fd)?;
    if UnixSocket::of(&f).is_none() {
        return Err(Errno::ENOTSOCK);
    }
    Ok(f)
}

fn sock(f: &OpenFile) -> &UnixSocket {
    UnixSocket::of(f).expect("checked by socket_file")
}

/// The caller's credentials as SO_PEERCRED records them (effective ids).
fn peer_cred(ctx: &Ctx<'_>) -> Cred {
    let c = ctx.process().cred.lock();
    Ucred {
        pid: ctx.process().pid,
        uid: c.euid,
        gid: c.egid,
    }
}

/// The caller's credentials as SCM_CREDENTIALS sends them by default (real ids).
fn scm_cred(ctx: &Ctx<'_>) -> Cred {
    let c = ctx.process().cred.lock();
    Ucred {
        pid: ctx.process().pid,
        uid: c.uid,
        gid: c.gid,
    }
}

fn new_file(s: Arc<UnixSocket>, nonblock: bool) -> Arc<OpenFile> {
    crate::fs::anon::socket_file(s, O_RDWR | if nonblock { O_NONBLOCK } else { 0 })
}

/// The type argument of socket/socketpair: (kind, cloexec, nonblock).
fn parse_type(domain: u32, ty: u32) -> KResult<(Kind, bool, bool)> {
    if ty & !(SOCK_TYPE_MASK | SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let base = ty & SOCK_TYPE_MASK;
    if base == 0 || base > 10 {
        return Err(Errno::EINVAL);
    }
    if domain >= AF_MAX {
        return Err(Errno::EAFNOSUPPORT);
    }
    if domain != AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    // AF_UNIX treats SOCK_RAW as SOCK_DGRAM (unix_create).
    let kind = match base {
        SOCK_RAW => Kind::Dgram,
        b => Kind::from_type(b).ok_or(Errno::ESOCKTNOSUPPORT)?,
    };
    Ok((kind, ty & SOCK_CLOEXEC != 0, ty & SOCK_NONBLOCK != 0))
}

pub async fn sys_socket(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (domain, ty, protocol) = (a[0] as u32, a[1] as u32, arg_i32(a[2]));
    let (kind, cloexec, nonblock) = parse_type(domain, ty)?;
    if protocol != 0 && protocol != AF_UNIX as i32 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let f = new_file(UnixSocket::new(kind, peer_cred(ctx)), nonblock);
    ctx.install(f, cloexec).map(|fd| fd as u64)
}

pub async fn sys_socketpair(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (domain, ty, protocol, sv) = (a[0] as u32, a[1] as u32, arg_i32(a[2]), a[3]);
    if matches!(domain, AF_INET | AF_INET6) {
        return Err(Errno::EOPNOTSUPP);
    }
    let (kind, cloexec, nonblock) = parse_type(domain, ty)?;
    if protocol != 0 && protocol != AF_UNIX as i32 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let (x, y) = UnixSocket::pair(kind, peer_cred(ctx));
    let fx = ctx.install(new_file(x, nonblock), cloexec)?;
    let fy = match ctx.install(new_file(y, nonblock), cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let f = ctx.process().files().lock().remove(fx);
            drop(f);
            return Err(e);
        }
    };
    if let Err(e) = ctx.write(sv, &[fx, fy]) {
        let closed = {
            let files = ctx.process().files();
            let mut t = files.lock();
            (t.remove(fx), t.remove(fy))
        };
        drop(closed);
        return Err(e);
    }
    Ok(0)
}

/// Reads a sockaddr of `len` bytes (EINVAL for a negative or huge length).
fn read_addr(ctx: &Ctx<'_>, ptr: u64, len: u64) -> KResult<Parsed> {
    let len = len as u32 as usize;
    if len > 128 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len];
    ctx.mm().read_user(ptr, &mut raw)?;
    Addr::parse(&raw)
}

/// Writes `addr` to a (sockaddr, socklen_t) pair: truncated to the caller's
/// length, which is set to the full length (accept, getsockname, recvfrom).
fn write_addr(ctx: &Ctx<'_>, addr: &Addr, ptr: u64, len_ptr: u64) -> KResult<()> {
    if ptr == 0 || len_ptr == 0 {
        return Ok(());
    }
    let room: i32 = ctx.read(len_ptr)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let bytes = addr.to_sockaddr();
    let n = bytes.len().min(room as usize);
    ctx.mm().write_user(ptr, &bytes[..n])?;
    ctx.write(len_ptr, &(bytes.len() as i32))
}

/// The socket registered under the name `addr` (ECONNREFUSED if none): a path
/// must be a socket file the caller may write.
fn find_target(ctx: &Ctx<'_>, addr: &Addr) -> KResult<Arc<UnixSocket>> {
    let key = match addr {
        Addr::Path(p) => {
            let d = ctx.resolve(AT_FDCWD, p, true)?;
            let m = d.inode.metadata();
            check_access(&m, &ctx.process().cred.lock().fs_cred(), access::WRITE)?;
            if m.file_type() != S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            NameKey::File(m.dev, m.ino)
        }
        Addr::Abstract(n) => NameKey::Abstract(n.clone()),
        Addr::Unnamed => return Err(Errno::EINVAL),
    };
    kestrel_net::unix::lookup(&key).ok_or(Errno::ECONNREFUSED)
}

pub async fn sys_bind(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    let s = sock(&f);
    match read_addr(ctx, a[1], a[2])? {
        Parsed::FamilyOnly => s.autobind()?,
        Parsed::Addr(Addr::Abstract(n)) => {
            s.bind(Addr::Abstract(n.clone()), NameKey::Abstract(n))?
        }
        Parsed::Addr(Addr::Path(p)) => {
            if s.is_bound() {
                return Err(Errno::EINVAL);
            }
            // The socket file: mode 0777 less the umask, EADDRINUSE if the name exists.
            let parent = ctx.resolve_parent(AT_FDCWD, &p)?;
            if parent.name == b"."
                || parent.name == b".."
                || parent.dir.inode.lookup(&parent.name).is_ok()
            {
                return Err(Errno::EADDRINUSE);
            }
            check_access(
                &parent.dir.inode.metadata(),
                &ctx.process().cred.lock().fs_cred(),
                access::WRITE | access::EXEC,
            )?;
            let c = ctx.process().cred.lock().clone();
            let mode = 0o777 & !ctx.process().fs().lock().umask;
            let inode =
                parent
                    .dir
                    .inode
                    .create(&parent.name, NodeKind::Socket, mode, c.fsuid, c.fsgid)?;
            let m = inode.metadata();
            if let Err(e) = s.bind(Addr::Path(p), NameKey::File(m.dev, m.ino)) {
                let _ = parent.dir.inode.unlink(&parent.name);
                return Err(e);
            }
        }
        Parsed::Addr(Addr::Unnamed) => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub async fn sys_listen(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    // A negative backlog is taken as the maximum, as Linux's unsigned compare does.
    let backlog = arg_i32(a[1]).try_into().unwrap_or(4096usize);
    sock(&f).listen(backlog, peer_cred(ctx))?;
    Ok(0)
}

/// Waits until `file` reports `events`, for at most `timeout` (then EAGAIN); a
/// signal ends the wait with ERESTARTSYS, or EINTR when a timeout was set
/// (sock_intr_errno).
async fn wait_ready(
    ctx: &Ctx<'_>,
    file: &OpenFile,
    events: u16,
    timeout: Option<u64>,
) -> KResult<()> {
    let code = if timeout.is_some() {
        Errno::EINTR
    } else {
        Errno::ERESTARTSYS
    };
    let waiting = interruptible(ctx.thread, code, async {
        wait_for(file, events).await;
        Ok(())
    });
    match timeout {
        None => waiting.await,
        Some(ns) => crate::task::timeout(ns, waiting)
            .await
            .unwrap_or(Err(Errno::EAGAIN)),
    }
}

async fn accept(ctx: &Ctx<'_>, a: Args, flags: u32) -> KResult<u64> {
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let f = socket_file(ctx, arg_i32(a[0]))?;
    let s = sock(&f);
    if s.kind() == Kind::Dgram {
        return Err(Errno::EOPNOTSUPP);
    }
    let conn = loop {
        match s.accept() {
            Err(Errno::EAGAIN) if !f.nonblocking() => {
                wait_ready(ctx, &f, POLLIN, s.timeout(false)).await?
            }
            r => break r?,
        }
    };
    let peer = conn.peer_addr().unwrap_or(Addr::Unnamed);
    let fd = ctx.install(
        new_file(conn, flags & SOCK_NONBLOCK != 0),
        flags & SOCK_CLOEXEC != 0,
    )?;
    if let Err(e) = write_addr(ctx, &peer, a[1], a[2]) {
        let closed = ctx.process().files().lock().remove(fd);
        drop(closed);
        return Err(e);
    }
    Ok(fd as u64)
}

pub async fn sys_accept(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    accept(ctx, a, 0).await
}

pub async fn sys_accept4(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    accept(ctx, a, a[3] as u32).await
}

pub async fn sys_connect(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    let s = sock(&f);
    let mut raw = [0u8; 2];
    if a[2] >= 2 {
        ctx.mm().read_user(a[1], &mut raw)?;
    }
    // AF_UNSPEC dissolves a datagram socket's association.
    if u32::from(u16::from_ne_bytes(raw)) == AF_UNSPEC && a[2] >= 2 && s.kind() == Kind::Dgram {
        s.disconnect();
        return Ok(0);
    }
    let addr = match read_addr(ctx, a[1], a[2])? {
        Parsed::Addr(addr) => addr,
        Parsed::FamilyOnly => return Err(Errno::EINVAL),
    };
    let target = find_target(ctx, &addr)?;
    if target.kind() != s.kind() {
        return Err(Errno::EPROTOTYPE);
    }
    if s.kind() == Kind::Dgram {
        s.connect(&target, peer_cred(ctx))?;
        return Ok(0);
    }
    if !target.is_listening() {
        return Err(Errno::ECONNREFUSED);
    }
    loop {
        match s.connect(&target, peer_cred(ctx)) {
            Err(Errno::EAGAIN) if !f.nonblocking() => {
                // The listener's queue is full: wait for accept to make room.
                let waiting = interruptible(ctx.thread, Errno::ERESTARTSYS, async {
                    target
                        .wait_queue()
                        .wait_until(|| {
                            (!target.is_listening() || target.accept_room()).then_some(())
                        })
                        .await;
                    Ok(())
                });
                waiting.await?;
            }
            r => return r.map(|_| 0),
        }
    }
}

/// Gathers `iovecs` of user memory into one buffer (EFAULT if unreadable).
fn gather(ctx: &Ctx<'_>, iovecs: &[Iovec]) -> KResult<Vec<u8>> {
    let total: usize = iovecs.iter().map(|v| v.len as usize).sum();
    let mut out = Vec::new();
    out.try_reserve_exact(total.min(super::MAX_RW_COUNT))
        .map_err(|_| Errno::ENOMEM)?;
    for v in iovecs {
        let start = out.len();
        let n = (v.len as usize).min(super::MAX_RW_COUNT - start);
        out.resize(start + n, 0);
        ctx.mm().read_user(v.base, &mut out[start..])?;
        if out.len() >= super::MAX_RW_COUNT {
            break;
        }
    }
    Ok(out)
}

/// Scatters `data` over `iovecs` of user memory.
fn scatter(ctx: &Ctx<'_>, iovecs: &[Iovec], data: &[u8]) -> KResult<()> {
    let mut at = 0;
    for v in iovecs {
        if at >= data.len() {
            break;
        }
        let n = (v.len as usize).min(data.len() - at);
        ctx.mm().write_user(v.base, &data[at..at + n])?;
        at += n;
    }
    Ok(())
}

/// Sends `data` (with `rights` and `cred`) on the socket file `f`, waiting for room
/// unless non-blocking; a stream socket sends it all. EPIPE raises SIGPIPE unless
/// MSG_NOSIGNAL.
async fn send_data(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    data: &[u8],
    mut rights: Option<Rights>,
    cred: Cred,
    to: Option<Arc<UnixSocket>>,
    flags: u32,
) -> KResult<usize> {
    let s = sock(f);
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let mut done = 0;
    loop {
        let r = s.send(&data[done..], rights.take(), cred, to.clone());
        match r {
            Ok(n) => {
                done += n;
                if done == data.len() || s.kind() != Kind::Stream {
                    return Ok(done);
                }
            }
            Err(Errno::EAGAIN) if !dontwait => {}
            Err(Errno::EPIPE) => {
                if flags & MSG_NOSIGNAL == 0 {
                    crate::process::signal::send(ctx.process(), kestrel_abi::signal::SIGPIPE);
                }
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EPIPE)
                };
            }
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
        let ready = match &to {
            // Room at a datagram receiver appears in its queue, not ours.
            Some(t) => {
                let waiting = interruptible(ctx.thread, Errno::ERESTARTSYS, async {
                    t.wait_queue()
                        .wait_until(|| t.has_dgram_room().then_some(()))
                        .await;
                    Ok(())
                });
                match s.timeout(true) {
                    None => waiting.await,
                    Some(ns) => crate::task::timeout(ns, waiting)
                        .await
                        .unwrap_or(Err(Errno::EAGAIN)),
                }
            }
            None => wait_ready(ctx, f, POLLOUT, s.timeout(true)).await,
        };
        if let Err(e) = ready {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
    }
}

/// Receives into a buffer of `len` bytes, waiting unless non-blocking; MSG_WAITALL
/// on a stream waits until it is full (or end-of-file, a signal, an error).
async fn recv_data(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    len: usize,
    flags: u32,
) -> KResult<(Vec<u8>, Received)> {
    let s = sock(f);
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let peek = flags & MSG_PEEK != 0;
    let waitall = flags & MSG_WAITALL != 0 && s.kind() == Kind::Stream && !peek;
    let mut buf = vec![0u8; len.min(super::MAX_RW_COUNT)];
    let mut got = 0;
    let mut first: Option<Received> = None;
    loop {
        match s.recv(&mut buf[got..], peek) {
            Ok(r) => {
                let n = r.len;
                got += n;
                let eof = n == 0;
                match &mut first {
                    None => first = Some(r),
                    Some(f0) => {
                        f0.len = got;
                        f0.full_len = got;
                    }
                }
                if !waitall || got == buf.len() || eof {
                    break;
                }
            }
            Err(Errno::EAGAIN) if !dontwait => {}
            Err(e) if got > 0 && e != Errno::EAGAIN => break,
            Err(e) => {
                if got > 0 {
                    break;
                }
                return Err(e);
            }
        }
        if let Err(e) = wait_ready(ctx, f, POLLIN, s.timeout(false)).await {
            if got > 0 {
                break;
            }
            return Err(e);
        }
    }
    let mut r = first.unwrap_or_default();
    r.len = got.max(r.len.min(got));
    buf.truncate(r.len);
    Ok((buf, r))
}

pub async fn sys_sendto(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, buf, len, flags, addr, addrlen) =
        (arg_i32(a[0]), a[1], a[2] as usize, a[3] as u32, a[4], a[5]);
    let f = socket_file(ctx, fd)?;
    let to = if addr != 0 {
        Some(destination(ctx, &f, addr, addrlen)?)
    } else {
        None
    };
    let data = gather(
        ctx,
        &[Iovec {
            base: buf,
            len: len as u64,
        }],
    )?;
    send_data(ctx, &f, &data, None, scm_cred(ctx), to, flags)
        .await
        .map(|n| n as u64)
}

/// The socket a datagram's address names (stream sockets ignore an address if
/// connected, as Linux's unix_stream_sendmsg would refuse one: EOPNOTSUPP /
/// EISCONN).
fn destination(ctx: &Ctx<'_>, f: &OpenFile, addr: u64, addrlen: u64) -> KResult<Arc<UnixSocket>> {
    let s = sock(f);
    if s.kind() != Kind::Dgram {
        return Err(if s.peer_addr().is_ok() {
            Errno::EISCONN
        } else {
            Errno::EOPNOTSUPP
        });
    }
    match read_addr(ctx, addr, addrlen)? {
        Parsed::Addr(a) => {
            let t = find_target(ctx, &a)?;
            if t.kind() != Kind::Dgram {
                return Err(Errno::EPROTOTYPE);
            }
            Ok(t)
        }
        Parsed::FamilyOnly => Err(Errno::EINVAL),
    }
}

pub async fn sys_recvfrom(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, buf, len, flags, addr, addrlen) =
        (arg_i32(a[0]), a[1], a[2] as usize, a[3] as u32, a[4], a[5]);
    let f = socket_file(ctx, fd)?;
    let (data, r) = recv_data(ctx, &f, len, flags).await?;
    ctx.mm().write_user(buf, &data)?;
    if let Some(from) = &r.from {
        write_addr(ctx, from, addr, addrlen)?;
    } else if addrlen != 0 && addr != 0 {
        write_addr(ctx, &Addr::Unnamed, addr, addrlen)?;
    }
    Ok(if flags & MSG_TRUNC != 0 {
        r.full_len as u64
    } else {
        data.len() as u64
    })
}

/// Parses the control messages of sendmsg: descriptors to pass and credentials
/// to claim (checked against the caller's).
fn parse_control(ctx: &Ctx<'_>, ptr: u64, len: u64) -> KResult<(Option<Rights>, Option<Cred>)> {
    if len == 0 {
        return Ok((None, None));
    }
    if len > 1 << 16 {
        return Err(Errno::ENOBUFS);
    }
    let mut raw = vec![0u8; len as usize];
    ctx.mm().read_user(ptr, &mut raw)?;
    let (mut rights, mut cred) = (None::<Rights>, None);
    let mut at = 0;
    while at + core::mem::size_of::<Cmsghdr>() <= raw.len() {
        let h: Cmsghdr = kestrel_abi::bytemuck::pod_read_unaligned(&raw[at..at + 16]);
        let clen = h.cmsg_len as usize;
        if clen < 16 || at + clen > raw.len() {
            return Err(Errno::EINVAL);
        }
        let data = &raw[at + 16..at + clen];
        match (h.cmsg_level, h.cmsg_type) {
            (SOL_SOCKET, SCM_RIGHTS) => {
                let fds: Vec<i32> = data
                    .chunks_exact(4)
                    .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let list = rights.get_or_insert_with(Vec::new);
                if list.len() + fds.len() > SCM_MAX_FD {
                    return Err(Errno::EINVAL);
                }
                for fd in fds {
                    list.push(ctx.file(fd)?);
                }
            }
            (SOL_SOCKET, SCM_CREDENTIALS) => {
                if data.len() < 12 {
                    return Err(Errno::EINVAL);
                }
                let u: Ucred = kestrel_abi::bytemuck::pod_read_unaligned(&data[..12]);
                let c = ctx.process().cred.lock().clone();
                let admin = c.capable(kestrel_abi::cap::CAP_SYS_ADMIN);
                let ok_pid = u.pid == ctx.process().pid || admin;
                let ok_uid = [c.uid, c.euid, c.suid].contains(&u.uid)
                    || c.capable(kestrel_abi::cap::CAP_SETUID);
                let ok_gid = [c.gid, c.egid, c.sgid].contains(&u.gid)
                    || c.capable(kestrel_abi::cap::CAP_SETGID);
                if !(ok_pid && ok_uid && ok_gid) {
                    return Err(Errno::EPERM);
                }
                cred = Some(u);
            }
            _ => return Err(Errno::EINVAL),
        }
        at += cmsg_align(clen);
    }
    Ok((rights, cred))
}

pub async fn sys_sendmsg(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    let hdr: Msghdr = ctx.read(a[1])?;
    sendmsg(ctx, &f, &hdr, a[2] as u32).await.map(|n| n as u64)
}

async fn sendmsg(ctx: &Ctx<'_>, f: &OpenFile, hdr: &Msghdr, flags: u32) -> KResult<usize> {
    let iovecs = super::fs::read_iovecs(ctx, hdr.msg_iov, hdr.msg_iovlen as usize)?;
    let to = if hdr.msg_name != 0 && hdr.msg_namelen != 0 {
        Some(destination(
            ctx,
            f,
            hdr.msg_name,
            u64::from(hdr.msg_namelen),
        )?)
    } else {
        None
    };
    let (rights, cred) = parse_control(ctx, hdr.msg_control, hdr.msg_controllen)?;
    let data = gather(ctx, &iovecs)?;
    send_data(
        ctx,
        f,
        &data,
        rights,
        cred.unwrap_or_else(|| scm_cred(ctx)),
        to,
        flags,
    )
    .await
}

pub async fn sys_recvmsg(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    let mut hdr: Msghdr = ctx.read(a[1])?;
    let n = recvmsg(ctx, &f, &mut hdr, a[2] as u32).await?;
    ctx.write(a[1], &hdr)?;
    Ok(n as u64)
}

async fn recvmsg(ctx: &Ctx<'_>, f: &OpenFile, hdr: &mut Msghdr, flags: u32) -> KResult<usize> {
    let iovecs = super::fs::read_iovecs(ctx, hdr.msg_iov, hdr.msg_iovlen as usize)?;
    let want: usize = iovecs.iter().map(|v| v.len as usize).sum();
    let (data, r) = recv_data(ctx, f, want, flags).await?;
    scatter(ctx, &iovecs, &data)?;
    let mut msg_flags = 0;
    if r.truncated {
        msg_flags |= MSG_TRUNC;
    }
    // The sender's name.
    if hdr.msg_name != 0 {
        let from = r.from.clone().unwrap_or(Addr::Unnamed);
        let bytes = from.to_sockaddr();
        let n = bytes.len().min(hdr.msg_namelen as usize);
        ctx.mm().write_user(hdr.msg_name, &bytes[..n])?;
        hdr.msg_namelen = bytes.len() as u32;
    } else {
        hdr.msg_namelen = 0;
    }
    // Control messages: the sender's credentials (SO_PASSCRED), the descriptors.
    let room = hdr.msg_controllen as usize;
    let mut control = Vec::new();
    if sock(f).passcred()
        && let Some(c) = r.cred
    {
        push_cmsg(
            &mut control,
            SCM_CREDENTIALS,
            kestrel_abi::bytemuck_bytes(&c),
            room,
            &mut msg_flags,
        );
    }
    if let Some(rights) = r.rights {
        let left = room.saturating_sub(control.len());
        let fits = left.saturating_sub(16) / 4;
        let take = rights.len().min(fits);
        let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
        let mut fds = Vec::new();
        for file in rights.into_iter().take(take) {
            match ctx.install(file, cloexec) {
                Ok(fd) => fds.push(fd),
                Err(_) => {
                    msg_flags |= MSG_CTRUNC;
                    break;
                }
            }
        }
        // Descriptors that do not fit are closed, never leaked (MSG_CTRUNC).
        if take == 0 || fds.len() < take || take < fds.len() {
            msg_flags |= MSG_CTRUNC;
        }
        if !fds.is_empty() {
            let bytes: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
            push_cmsg(&mut control, SCM_RIGHTS, &bytes, room, &mut msg_flags);
        }
    }
    if hdr.msg_control != 0 && !control.is_empty() {
        ctx.mm().write_user(hdr.msg_control, &control)?;
    }
    hdr.msg_controllen = control.len() as u64;
    hdr.msg_flags = msg_flags;
    Ok(if flags & MSG_TRUNC != 0 {
        r.full_len
    } else {
        data.len()
    })
}

/// Appends one control message if it fits in `room`, else sets MSG_CTRUNC.
fn push_cmsg(out: &mut Vec<u8>, ty: i32, data: &[u8], room: usize, flags: &mut u32) {
    let len = 16 + data.len();
    if out.len() + len > room {
        *flags |= MSG_CTRUNC;
        return;
    }
    let h = Cmsghdr {
        cmsg_len: len as u64,
        cmsg_level: SOL_SOCKET,
        cmsg_type: ty,
    };
    out.extend_from_slice(kestrel_abi::bytemuck_bytes(&h));
    out.extend_from_slice(data);
    let aligned = cmsg_align(len).min(room - (out.len() - len));
    out.resize(out.len() - len + aligned, 0);
}

pub async fn sys_shutdown(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    sock(&f).shutdown(a[1] as u32)?;
    Ok(0)
}

pub async fn sys_getsockname(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    write_addr(ctx, &sock(&f).local_addr(), a[1], a[2])?;
    Ok(0)
}

pub async fn sys_getpeername(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = socket_file(ctx, arg_i32(a[0]))?;
    let peer = sock(&f).peer_addr()?;
    write_addr(ctx, &peer, a[1], a[2])?;
    Ok(0)
}

/// SO_RCVTIMEO/SO_SNDTIMEO: zero means no timeout; a negative one times out at
/// once (sock_set_timeout).
fn ns_of_timeval(tv: kestrel_abi::time::Timeval) -> KResult<Option<u64>> {
    if tv.tv_sec < 0 {
        return Ok(Some(0));
    }
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EDOM);
    }
    let ns = (tv.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(tv.tv_usec as u64 * 1000);
    Ok((ns != 0).then_some(ns))
}

pub async fn sys_setsockopt(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, level, name, val, len) = (
        arg_i32(a[0]),
        arg_i32(a[1]),
        arg_i32(a[2]),
        a[3],
        a[4] as u32,
    );
    let f = socket_file(ctx, fd)?;
    let s = sock(&f);
    if level != SOL_SOCKET {
        return Err(Errno::ENOPROTOOPT);
    }
    let int = || -> KResult<i32> {
        if len < 4 {
            return Err(Errno::EINVAL);
        }
        ctx.read::<i32>(val)
    };
    match name {
        SO_PASSCRED => s.set_passcred(int()? != 0),
        SO_SNDBUF | SO_RCVBUF | SO_SNDBUFFORCE | SO_RCVBUFFORCE => {
            let v = int()?.max(0) as usize;
            s.set_buf(matches!(name, SO_SNDBUF | SO_SNDBUFFORCE), v);
        }
        SO_RCVTIMEO | SO_SNDTIMEO => {
            if (len as usize) < core::mem::size_of::<kestrel_abi::time::Timeval>() {
                return Err(Errno::EINVAL);
            }
            let tv: kestrel_abi::time::Timeval = ctx.read(val)?;
            s.set_timeout(name == SO_SNDTIMEO, ns_of_timeval(tv)?);
        }
        // Accepted and without effect for AF_UNIX (as in Linux).
        SO_REUSEADDR | SO_REUSEPORT | SO_KEEPALIVE | SO_BROADCAST | SO_DEBUG | SO_DONTROUTE
        | SO_OOBINLINE | SO_PRIORITY | SO_RCVLOWAT | SO_PASSSEC | SO_LINGER => {
            if name == SO_LINGER {
                if (len as usize) < core::mem::size_of::<Linger>() {
                    return Err(Errno::EINVAL);
                }
            } else {
                int()?;
            }
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

pub async fn sys_getsockopt(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, level, name, val, len_ptr) = (arg_i32(a[0]), arg_i32(a[1]), arg_i32(a[2]), a[3], a[4]);
    let f = socket_file(ctx, fd)?;
    let s = sock(&f);
    if level != SOL_SOCKET {
        return Err(Errno::ENOPROTOOPT);
    }
    let room: i32 = ctx.read(len_ptr)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = match name {
        SO_TYPE => (s.kind().to_type() as i32).to_ne_bytes().to_vec(),
        SO_DOMAIN => (AF_UNIX as i32).to_ne_bytes().to_vec(),
        SO_PROTOCOL => 0i32.to_ne_bytes().to_vec(),
        SO_ACCEPTCONN => i32::from(s.is_listening()).to_ne_bytes().to_vec(),
        SO_ERROR => s
            .take_error()
            .map_or(0, |e| e as i32)
            .to_ne_bytes()
            .to_vec(),
        SO_PASSCRED => i32::from(s.passcred()).to_ne_bytes().to_vec(),
        SO_SNDBUF => (s.buf(true) as i32).to_ne_bytes().to_vec(),
        SO_RCVBUF => (s.buf(false) as i32).to_ne_bytes().to_vec(),
        SO_REUSEADDR | SO_KEEPALIVE | SO_BROADCAST | SO_DEBUG | SO_DONTROUTE | SO_OOBINLINE
        | SO_PRIORITY | SO_PASSSEC | SO_REUSEPORT => 0i32.to_ne_bytes().to_vec(),
        SO_RCVLOWAT => 1i32.to_ne_bytes().to_vec(),
        SO_LINGER => kestrel_abi::bytemuck_bytes(&Linger::default()).to_vec(),
        SO_PEERCRED => {
            // Unconnected: the "no one" triple Linux reports.
            let c = s.peercred().unwrap_or(Ucred {
                pid: 0,
                uid: u32::MAX,
                gid: u32::MAX,
            });
            kestrel_abi::bytemuck_bytes(&c).to_vec()
        }
        SO_RCVTIMEO | SO_SNDTIMEO => {
            let ns = s.timeout(name == SO_SNDTIMEO).unwrap_or(0);
            kestrel_abi::bytemuck_bytes(&kestrel_abi::time::Timeval::from_ns(ns)).to_vec()
        }
        _ => return Err(Errno::ENOPROTOOPT),
    };
    if (room as usize) < bytes.len()
        && !matches!(name, SO_PEERCRED | SO_LINGER | SO_RCVTIMEO | SO_SNDTIMEO)
        && room < 4
    {
        return Err(Errno::EINVAL);
    }
    let n = bytes.len().min(room as usize);
    ctx.mm().write_user(val, &bytes[..n])?;
    ctx.write(len_ptr, &(n as i32))?;
    Ok(0)
}

/// readv on a socket: one receive scattered over the vectors.
pub async fn readv(ctx: &Ctx<'_>, f: &OpenFile, iovecs: &[Iovec]) -> KResult<u64> {
    let want: usize = iovecs.iter().map(|v| v.len as usize).sum();
    let (data, _) = recv_data(ctx, f, want, 0).await?;
    scatter(ctx, iovecs, &data)?;
    Ok(data.len() as u64)
}

/// writev on a socket: one message gathered from the vectors.
pub async fn writev(ctx: &Ctx<'_>, f: &OpenFile, iovecs: &[Iovec]) -> KResult<u64> {
    let data = gather(ctx, iovecs)?;
    send_data(ctx, f, &data, None, scm_cred(ctx), None, 0)
        .await
        .map(|n| n as u64)
}

/// Whether `f` is a socket (read/write/readv/writev go through here for sockets).
pub fn is_socket(f: &OpenFile) -> bool {
    UnixSocket::of(f).is_some()
}

pub async fn sys_sendmmsg(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, vec, vlen, flags) = (arg_i32(a[0]), a[1], (a[2] as u32).min(1024), a[3] as u32);
    let f = socket_file(ctx, fd)?;
    let size = core::mem::size_of::<Mmsghdr>() as u64;
    let mut sent = 0u32;
    while sent < vlen {
        let at = vec + u64::from(sent) * size;
        let mut m: Mmsghdr = ctx.read(at)?;
        match sendmsg(ctx, &f, &m.msg_hdr, flags).await {
            Ok(n) => {
                m.msg_len = n as u32;
                ctx.write(at, &m)?;
                sent += 1;
            }
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(u64::from(sent))
}

pub async fn sys_recvmmsg(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, vec, vlen, flags) = (arg_i32(a[0]), a[1], (a[2] as u32).min(1024), a[3] as u32);
    let f = socket_file(ctx, fd)?;
    let size = core::mem::size_of::<Mmsghdr>() as u64;
    let mut got = 0u32;
    while got < vlen {
        let at = vec + u64::from(got) * size;
        let mut m: Mmsghdr = ctx.read(at)?;
        // After the first message, only what is already there (MSG_WAITFORONE-like).
        let fl = if got > 0 { flags | MSG_DONTWAIT } else { flags };
        match recvmsg(ctx, &f, &mut m.msg_hdr, fl).await {
            Ok(n) => {
                m.msg_len = n as u32;
                ctx.write(at, &m)?;
                got += 1;
            }
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(u64::from(got))
}
