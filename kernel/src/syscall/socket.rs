//! Socket system calls over [`kestrel_net::unix`]: socket, socketpair, bind,
//! listen, accept, connect, send/recv and their msg forms (iovecs, SCM_RIGHTS,
//! SCM_CREDENTIALS), shutdown, names and options.
//!
//! AF_INET and AF_INET6 sockets ([`kestrel_net::inet`]) are routed to
//! [`inet`] by each call once the descriptor is known to be one. The socket
//! operations never block; waiting is done here, on the socket's wait queue,
//! honouring O_NONBLOCK, MSG_DONTWAIT, SO_RCVTIMEO/SO_SNDTIMEO and signals.

use alloc::sync::Arc;

use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use kestrel_net::inet::InetSocket;
use kestrel_net::netlink::NetlinkSocket;
use kestrel_net::packet::PacketSocket;
use kestrel_net::raw::RawSocket;
use kestrel_net::unix::{Addr, Cred, Kind, NameKey, Parsed, Received, Rights, UnixSocket};
use kestrel_usermem::UserIoVecs;

use crate::mm::vm::AddressSpace;
use kestrel_vfs::OpenFile;
use kestrel_vfs::inode::{NodeKind, access, check_access};

use super::args::*;
use super::{Ctx, wait_for};
use crate::process::signal::interruptible;

mod inet;
mod netlink;
mod packet;
mod raw;

pub use packet::mmap_backing as packet_mmap_backing;

/// The socket behind `fd`: EBADF for a bad descriptor, ENOTSOCK for another file.
/// The open file behind `fd` as the socket calls look it up (Linux's fdget): an
/// O_PATH descriptor has no file to operate on there, so it is EBADF, not ENOTSOCK.
fn fd_file(ctx: &Ctx<'_>, fd: i32) -> KResult<Arc<OpenFile>> {
    let f = ctx.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

fn socket_file(ctx: &Ctx<'_>, fd: i32) -> KResult<Arc<OpenFile>> {
    let f = fd_file(ctx, fd)?;
    if UnixSocket::of(&f).is_none()
        && InetSocket::of(&f).is_none()
        && NetlinkSocket::of(&f).is_none()
        && PacketSocket::of(&f).is_none()
        && RawSocket::of(&f).is_none()
    {
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

/// The type and protocol arguments of socket/socketpair: (kind, cloexec,
/// nonblock), checked in Linux's order: unknown flag bits (EINVAL, __sys_socket),
/// a family beyond AF_MAX (EAFNOSUPPORT) and a type beyond SOCK_MAX (EINVAL,
/// __sock_create), a family with no sockets here (EAFNOSUPPORT), then
/// unix_create: the protocol (EPROTONOSUPPORT) and a type unix sockets do not have
/// (ESOCKTNOSUPPORT, type 0 included).
fn parse_type(domain: u32, ty: u32, protocol: i32) -> KResult<(Kind, bool, bool)> {
    if ty & !(SOCK_TYPE_MASK | SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    if domain >= AF_MAX {
        return Err(Errno::EAFNOSUPPORT);
    }
    let base = ty & SOCK_TYPE_MASK;
    if base >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    if domain != AF_UNIX && domain != AF_INET && domain != AF_INET6 {
        return Err(Errno::EAFNOSUPPORT);
    }
    if domain != AF_UNIX {
        // The caller (sys_socket) makes inet sockets; socketpair has none.
        return Err(Errno::EOPNOTSUPP);
    }
    if protocol != 0 && protocol != AF_UNIX as i32 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    // AF_UNIX treats SOCK_RAW as SOCK_DGRAM (unix_create).
    let kind = match base {
        SOCK_RAW => Kind::Dgram,
        b => Kind::from_type(b).ok_or(Errno::ESOCKTNOSUPPORT)?,
    };
    Ok((kind, ty & SOCK_CLOEXEC != 0, ty & SOCK_NONBLOCK != 0))
}

pub async fn sys_socket(ctx: &mut Ctx<'_>, domain: u32, ty: u32, protocol: i32) -> KResult<u64> {
    // Sockets reach the network (and netlink its interfaces): not before the
    // boot has set it up (drivers/mod.rs, "Setting up in the background").
    crate::drivers::settled().await;
    if matches!(domain, AF_INET | AF_INET6)
        && ty & !(SOCK_TYPE_MASK | SOCK_CLOEXEC | SOCK_NONBLOCK) == 0
    {
        let base = ty & SOCK_TYPE_MASK;
        if base >= SOCK_MAX {
            return Err(Errno::EINVAL);
        }
        let nonblock = if ty & SOCK_NONBLOCK != 0 {
            O_NONBLOCK
        } else {
            0
        };
        if raw::is_raw(domain, base, protocol) {
            let s = raw::socket(ctx, domain, base, protocol)?;
            let f = crate::fs::anon::socket_file(s, O_RDWR | nonblock);
            return ctx.install(f, ty & SOCK_CLOEXEC != 0).map(|fd| fd as u64);
        }
        let s = inet::socket(domain, base, protocol)?;
        let f = crate::fs::anon::socket_file(s, O_RDWR | nonblock);
        return ctx.install(f, ty & SOCK_CLOEXEC != 0).map(|fd| fd as u64);
    }
    if domain == AF_NETLINK
        && ty & !(SOCK_TYPE_MASK | SOCK_CLOEXEC | SOCK_NONBLOCK) == 0
        && ty & SOCK_TYPE_MASK < SOCK_MAX
    {
        let s = netlink::socket(ty & SOCK_TYPE_MASK, protocol)?;
        let nonblock = if ty & SOCK_NONBLOCK != 0 {
            O_NONBLOCK
        } else {
            0
        };
        let f = crate::fs::anon::socket_file(s, O_RDWR | nonblock);
        return ctx.install(f, ty & SOCK_CLOEXEC != 0).map(|fd| fd as u64);
    }
    if domain == AF_PACKET
        && ty & !(SOCK_TYPE_MASK | SOCK_CLOEXEC | SOCK_NONBLOCK) == 0
        && ty & SOCK_TYPE_MASK < SOCK_MAX
    {
        let s = packet::socket(ctx, ty & SOCK_TYPE_MASK, protocol)?;
        let nonblock = if ty & SOCK_NONBLOCK != 0 {
            O_NONBLOCK
        } else {
            0
        };
        let f = crate::fs::anon::socket_file(s, O_RDWR | nonblock);
        return ctx.install(f, ty & SOCK_CLOEXEC != 0).map(|fd| fd as u64);
    }
    let (kind, cloexec, nonblock) = parse_type(domain, ty, protocol)?;
    let f = new_file(UnixSocket::new(kind, peer_cred(ctx)), nonblock);
    ctx.install(f, cloexec).map(|fd| fd as u64)
}

pub async fn sys_socketpair(
    ctx: &mut Ctx<'_>,
    domain: u32,
    ty: u32,
    protocol: i32,
    sv: UserPtr<[i32; 2]>,
) -> KResult<u64> {
    crate::drivers::settled().await;
    // Linux checks the type's flag bits first (EINVAL), then makes the
    // socket (its type and protocol errors), which then refuses to pair.
    if ty & !(SOCK_TYPE_MASK | SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    if domain == AF_PACKET {
        if ty & SOCK_TYPE_MASK >= SOCK_MAX {
            return Err(Errno::EINVAL);
        }
        packet::socket(ctx, ty & SOCK_TYPE_MASK, protocol)?;
        return Err(Errno::EOPNOTSUPP);
    }
    if matches!(domain, AF_INET | AF_INET6 | AF_NETLINK) {
        if ty & SOCK_TYPE_MASK >= SOCK_MAX {
            return Err(Errno::EINVAL);
        }
        if domain != AF_NETLINK {
            if raw::is_raw(domain, ty & SOCK_TYPE_MASK, protocol) {
                raw::socket(ctx, domain, ty & SOCK_TYPE_MASK, protocol)?;
            } else {
                inet::kind_of(ty & SOCK_TYPE_MASK, protocol)?;
            }
        }
        return Err(Errno::EOPNOTSUPP);
    }
    let (kind, cloexec, nonblock) = parse_type(domain, ty, protocol)?;
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

/// A socket address copied in from the caller, as Linux's move_addr_to_kernel
/// copies it: at most a sockaddr_storage, not yet looked at.
struct RawAddr {
    bytes: [u8; 128],
    len: usize,
}

impl RawAddr {
    /// Copies `len` bytes at `ptr` (EINVAL for a negative length or one beyond a
    /// sockaddr_storage, EFAULT for a bad pointer).
    fn copy_in(ctx: &Ctx<'_>, ptr: UserPtr<u8>, len: u32) -> KResult<Self> {
        let len = len as usize;
        if len > 128 {
            return Err(Errno::EINVAL);
        }
        let mut raw = Self {
            bytes: [0; 128],
            len,
        };
        ctx.mm()
            .reader(ptr, len)?
            .read_exact(&mut raw.bytes[..len])?;
        Ok(raw)
    }

    fn parse(&self) -> KResult<Parsed> {
        Addr::parse(&self.bytes[..self.len])
    }
}

/// Reads and parses a sockaddr of `len` bytes.
fn read_addr(ctx: &Ctx<'_>, ptr: UserPtr<u8>, len: u32) -> KResult<Parsed> {
    RawAddr::copy_in(ctx, ptr, len)?.parse()
}

/// The room a caller gives for a socket option or address: the socklen_t
/// at `len_ptr` (EFAULT), EINVAL if negative.
pub(super) fn optlen_room(ctx: &Ctx<'_>, len_ptr: UserPtr<u32>) -> KResult<usize> {
    let room = ctx.read(len_ptr)? as i32;
    usize::try_from(room).map_err(|_| Errno::EINVAL)
}

/// getsockopt's reply as sk_getsockopt gives it: a shorter buffer gets the
/// first bytes of the value and the length says how many; a longer one is cut
/// down to the value's size. The value is written before the length.
pub(super) fn put_optval(
    ctx: &Ctx<'_>,
    val: UserPtr<u8>,
    len_ptr: UserPtr<u32>,
    room: usize,
    bytes: &[u8],
) -> KResult<u64> {
    let n = bytes.len().min(room);
    ctx.mm().writer(val, n)?.write_all(&bytes[..n])?;
    ctx.write(len_ptr, &(n as u32))?;
    Ok(0)
}

/// Writes the sockaddr `bytes` to a (sockaddr, socklen_t) pair as Linux's
/// move_addr_to_user does: the caller's length is read (EFAULT, EINVAL if
/// negative), the address truncated to it, and the full length written back.
fn write_addr(ctx: &Ctx<'_>, bytes: &[u8], ptr: UserPtr<u8>, len_ptr: UserPtr<u32>) -> KResult<()> {
    let room = optlen_room(ctx, len_ptr)?;
    let n = bytes.len().min(room);
    if n > 0 {
        ctx.mm().writer(ptr, n)?.write_all(&bytes[..n])?;
    }
    ctx.write(len_ptr, &(bytes.len() as u32))
}

/// The name a receive reports for `from`: none for an unnamed sender (the
/// length comes back 0, as Linux's unix_copy_addr leaves it).
fn sender_name(from: Option<&Addr>) -> Vec<u8> {
    match from {
        None | Some(Addr::Unnamed) => Vec::new(),
        Some(a) => a.to_sockaddr(),
    }
}

/// The socket registered under the name `addr` (ECONNREFUSED if none): a path
/// must be a socket file the caller may write; an abstract name is looked up
/// among the sockets of type `kind` (unix_find_other).
async fn find_target(ctx: &Ctx<'_>, addr: &Addr, kind: Kind) -> KResult<Arc<UnixSocket>> {
    let key = match addr {
        Addr::Path(p) => {
            let d = ctx.resolve(AT_FDCWD, p, true).await?;
            let m = d.inode.metadata();
            // Write permission: never on an immutable file (inode_permission).
            if m.is_immutable() {
                return Err(Errno::EPERM);
            }
            check_access(&m, &ctx.process().cred.lock().fs_cred(), access::WRITE)?;
            if m.file_type() != S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            NameKey::File(m.dev, m.ino)
        }
        Addr::Abstract(n) => NameKey::Abstract(kind, n.clone()),
        Addr::Unnamed => return Err(Errno::EINVAL),
    };
    kestrel_net::unix::lookup(&key).ok_or(Errno::ECONNREFUSED)
}

pub async fn sys_bind(ctx: &mut Ctx<'_>, fd: Fd, addr: UserPtr<u8>, addrlen: u32) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::bind(ctx, s, addr, addrlen);
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        return netlink::bind(ctx, s, addr, addrlen);
    }
    if let Some(s) = PacketSocket::of(&f) {
        return packet::bind(ctx, s, addr, addrlen);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::bind(ctx, s, addr, addrlen);
    }
    let s = sock(&f);
    match read_addr(ctx, addr, addrlen)? {
        Parsed::FamilyOnly => s.autobind()?,
        Parsed::Addr(Addr::Abstract(n)) => {
            s.bind(Addr::Abstract(n.clone()), NameKey::Abstract(s.kind(), n))?
        }
        Parsed::Addr(Addr::Path(p)) => {
            // The socket file: mode 0777 less the umask, EADDRINUSE if the name
            // exists. Linux makes the file before it checks whether the socket is
            // already bound, and removes it again if so (unix_bind_bsd): an
            // existing file is EADDRINUSE even for a bound socket.
            let parent = ctx.resolve_parent(AT_FDCWD, &p).await?;
            if parent.name == b"."
                || parent.name == b".."
                || parent.dir.inode.lookup_async(&parent.name).await.is_ok()
            {
                return Err(Errno::EADDRINUSE);
            }
            super::mount::want_write(&parent.dir)?;
            // No new names in an immutable directory.
            if parent.dir.inode.metadata().is_immutable() {
                return Err(Errno::EPERM);
            }
            check_access(
                &parent.dir.inode.metadata(),
                &ctx.process().cred.lock().fs_cred(),
                access::WRITE | access::EXEC,
            )?;
            let c = ctx.process().cred.lock().clone();
            let mode = 0o777 & !ctx.process().fs().lock().umask;
            let inode = parent
                .dir
                .inode
                .create_async(&parent.name, NodeKind::Socket, mode, c.fsuid, c.fsgid)
                .await?;
            let m = inode.metadata();
            if let Err(e) = s.bind(Addr::Path(p), NameKey::File(m.dev, m.ino)) {
                let _ = parent.dir.inode.unlink_async(&parent.name).await;
                return Err(e);
            }
        }
        Parsed::Addr(Addr::Unnamed) => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub async fn sys_listen(ctx: &mut Ctx<'_>, fd: Fd, backlog: i32) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::listen(s, backlog);
    }
    if NetlinkSocket::of(&f).is_some()
        || PacketSocket::of(&f).is_some()
        || RawSocket::of(&f).is_some()
    {
        return Err(Errno::EOPNOTSUPP);
    }
    // A negative backlog is taken as the maximum, as Linux's unsigned compare does.
    let backlog = backlog.try_into().unwrap_or(4096usize);
    sock(&f).listen(backlog, peer_cred(ctx))?;
    Ok(0)
}

/// When a socket call's waits end: SO_RCVTIMEO or SO_SNDTIMEO from the start of
/// the call (Linux counts the timeout down across the waits of one call).
fn deadline(timeout: Option<u64>) -> Option<u64> {
    timeout.map(|ns| crate::time::now_ns().saturating_add(ns))
}

/// Runs the wait `fut` until `deadline` (then EAGAIN); a signal ends it with
/// ERESTARTSYS, or EINTR when a timeout was set (sock_intr_errno).
async fn bounded(
    ctx: &Ctx<'_>,
    deadline: Option<u64>,
    fut: impl core::future::Future<Output = ()>,
) -> KResult<()> {
    let code = if deadline.is_some() {
        Errno::EINTR
    } else {
        Errno::ERESTARTSYS
    };
    let waiting = interruptible(ctx.thread, code, async {
        fut.await;
        Ok(())
    });
    match deadline {
        None => waiting.await,
        Some(d) => crate::task::timeout(d.saturating_sub(crate::time::now_ns()), waiting)
            .await
            .unwrap_or(Err(Errno::EAGAIN)),
    }
}

/// Waits until `file` reports `events` (see [`bounded`]).
async fn wait_ready(
    ctx: &Ctx<'_>,
    file: &OpenFile,
    events: u16,
    deadline: Option<u64>,
) -> KResult<()> {
    bounded(ctx, deadline, wait_for(file, events)).await
}

async fn accept(
    ctx: &Ctx<'_>,
    fd: Fd,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
    flags: u32,
) -> KResult<u64> {
    // __sys_accept4's order: the descriptor (EBADF), the flags (EINVAL), a free
    // slot for the new descriptor (EMFILE: reserved before a connection is
    // taken, which therefore stays queued), then the socket (ENOTSOCK,
    // EOPNOTSUPP).
    fd_file(ctx, fd)?;
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let free_slot = || {
        let limit = ctx.process().nofile();
        ctx.process()
            .files()
            .lock()
            .lowest_free(0, limit)
            .map(|_| ())
    };
    free_slot()?;
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::accept(ctx, &f, s, addr, addrlen, flags).await;
    }
    if NetlinkSocket::of(&f).is_some()
        || PacketSocket::of(&f).is_some()
        || RawSocket::of(&f).is_some()
    {
        return Err(Errno::EOPNOTSUPP);
    }
    let s = sock(&f);
    if s.kind() == Kind::Dgram {
        return Err(Errno::EOPNOTSUPP);
    }
    let until = deadline(s.timeout(false));
    let conn = loop {
        // Again after a wait: another thread may have taken the last slot.
        free_slot()?;
        match s.accept() {
            // Shut down for reading: a blocking accept that would wait is EINVAL
            // (unix_accept), a non-blocking one EAGAIN.
            Err(Errno::EAGAIN) if !f.nonblocking() && s.read_shut_down() => {
                return Err(Errno::EINVAL);
            }
            Err(Errno::EAGAIN) if !f.nonblocking() => wait_ready(ctx, &f, POLLIN, until).await?,
            r => break r?,
        }
    };
    let peer = conn.peer_addr().unwrap_or(Addr::Unnamed);
    let fd = ctx.install(
        new_file(conn, flags & SOCK_NONBLOCK != 0),
        flags & SOCK_CLOEXEC != 0,
    )?;
    let written = if addr.is_null() {
        Ok(())
    } else {
        write_addr(ctx, &peer.to_sockaddr(), addr, addrlen)
    };
    if let Err(e) = written {
        let closed = ctx.process().files().lock().remove(fd);
        drop(closed);
        return Err(e);
    }
    Ok(fd as u64)
}

pub async fn sys_accept(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
) -> KResult<u64> {
    accept(ctx, fd, addr, addrlen, 0).await
}

pub async fn sys_accept4(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
    flags: u32,
) -> KResult<u64> {
    accept(ctx, fd, addr, addrlen, flags).await
}

pub async fn sys_connect(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    addr: UserPtr<u8>,
    addrlen: u32,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::connect(ctx, &f, s, addr, addrlen).await;
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        return netlink::connect(ctx, s, addr, addrlen);
    }
    if PacketSocket::of(&f).is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::connect(ctx, s, addr, addrlen);
    }
    let s = sock(&f);
    // AF_UNSPEC dissolves a datagram socket's association.
    if addrlen >= 2 && s.kind() == Kind::Dgram {
        let family: u16 = ctx.read(addr.cast())?;
        if u32::from(family) == AF_UNSPEC {
            s.disconnect();
            return Ok(0);
        }
    }
    let addr = match read_addr(ctx, addr, addrlen)? {
        Parsed::Addr(addr) => addr,
        Parsed::FamilyOnly => return Err(Errno::EINVAL),
    };
    // With SO_PASSCRED the socket gets a name first, even if the connect fails
    // (unix_stream_connect, unix_dgram_connect).
    if s.needs_autobind(true) {
        s.autobind()?;
    }
    let target = find_target(ctx, &addr, s.kind()).await?;
    if target.kind() != s.kind() {
        return Err(Errno::EPROTOTYPE);
    }
    let until = deadline(s.timeout(true));
    loop {
        match s.connect(&target, peer_cred(ctx)) {
            Err(Errno::EAGAIN) if !f.nonblocking() => {
                // The listener's queue is full: wait (at most SO_SNDTIMEO) for
                // accept to make room, then try again (unix_wait_for_peer).
                let room = target
                    .wait_queue()
                    .wait_until(|| target.accept_room().then_some(()));
                bounded(ctx, until, room).await?;
            }
            r => return r.map(|_| 0),
        }
    }
}

/// Bytes moved per step through a stream socket.
const CHUNK: usize = 64 * 1024;

/// Stream sends and receives of at most this many bytes use a buffer on the
/// stack (in the call's future) instead of one on the heap.
const SMALL_IO: usize = 64;

/// Where and how one send call sends.
struct SendTo {
    /// The destination a datagram's address named (else the peer).
    to: Option<Arc<UnixSocket>>,
    /// MSG_* flags.
    flags: u32,
    /// When waiting for room ends (SO_SNDTIMEO).
    until: Option<u64>,
}

/// Sends `data` (with `rights` and `cred`) on the socket file `f`, waiting for room
/// unless `dontwait`; a stream socket sends it all. Returns how much was sent, or
/// the error when nothing was. EPIPE on a stream raises SIGPIPE unless MSG_NOSIGNAL.
async fn send_buf(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    data: &[u8],
    rights: &mut Option<Rights>,
    cred: Cred,
    how: &SendTo,
) -> KResult<usize> {
    let s = sock(f);
    let SendTo { to, flags, until } = how;
    let (flags, until) = (*flags, *until);
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
                // A stream write goes a segment at a time: try the next one.
                continue;
            }
            Err(Errno::EAGAIN) if !dontwait => {}
            Err(Errno::EPIPE) => {
                // Only the stream path raises SIGPIPE (unix_stream_sendmsg); datagram
                // and seqpacket sends just fail (unix_dgram_sendmsg).
                if flags & MSG_NOSIGNAL == 0 && s.kind() == Kind::Stream {
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
        // EAGAIN: the sender's own buffer is full (wait for its receivers to
        // read), or a datagram receiver's queue is (wait on that queue).
        let ready = if !s.can_send() || s.kind() == Kind::Stream {
            let room = s.wait_queue().wait_until(|| s.can_send().then_some(()));
            bounded(ctx, until, room).await
        } else {
            match to.clone().or_else(|| s.peer_socket()) {
                Some(t) => {
                    let room = t
                        .wait_queue()
                        .wait_until(|| t.has_room_for(s).then_some(()));
                    bounded(ctx, until, room).await
                }
                None => Ok(()),
            }
        };
        if let Err(e) = ready {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
    }
}

/// Sends the bytes of `src` on the socket file `f`. A message (datagram,
/// seqpacket) goes whole, so it is checked against the largest send buffer
/// before anything is copied (EMSGSIZE); a stream moves a chunk at a time,
/// never holding more than a chunk of the caller's data in the kernel.
async fn send_data(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    src: &mut UserIoVecs<'_>,
    mut rights: Option<Rights>,
    cred: Cred,
    addr: Option<Addr>,
    flags: u32,
) -> KResult<usize> {
    let total = src.remaining().min(super::MAX_RW_COUNT);
    let s = sock(f);
    let mut how = SendTo {
        to: None,
        flags,
        until: deadline(s.timeout(true)),
    };
    if s.kind() != Kind::Stream {
        // unix_dgram_sendmsg's order: the connection, the autobind, the size, the
        // pending error and shutdown; then the data is copied (EFAULT) and only
        // then is the address looked up.
        s.prepare_message(total, addr.is_some())?;
        if total > kestrel_net::unix::MAX_BUF {
            return Err(Errno::EMSGSIZE);
        }
        let mut data: Vec<u8> = super::zeroed_vec(total)?;
        if src.read(&mut data) < total {
            return Err(Errno::EFAULT);
        }
        how.to = match addr.as_ref() {
            Some(a) => Some(dgram_target(ctx, a).await?),
            None => None,
        };
        return send_buf(ctx, f, &data, &mut rights, cred, &how).await;
    }
    if total == 0 {
        return send_buf(ctx, f, &[], &mut rights, cred, &how).await;
    }
    // A small write (a byte of a request-reply exchange) goes through the
    // stack: no buffer to allocate and free at every call.
    let mut small = [0u8; SMALL_IO];
    let mut big;
    let buf: &mut [u8] = if total <= SMALL_IO {
        &mut small[..total]
    } else {
        big = super::fs::bounce(total.min(CHUNK))?;
        &mut big
    };
    let mut done = 0;
    while done < total {
        let want = (total - done).min(CHUNK);
        let got = src.read(&mut buf[..want]);
        // Like Linux, a piece that cannot be copied in whole is not sent.
        if got < want {
            return if done > 0 {
                Ok(done)
            } else {
                Err(Errno::EFAULT)
            };
        }
        match send_buf(ctx, f, &buf[..got], &mut rights, cred, &how).await {
            Ok(n) => {
                done += n;
                if n < got {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Receives into the user buffers `dst`, waiting unless non-blocking; MSG_WAITALL
/// on a stream waits until they are full (or end-of-file, a signal, an error).
/// Returns how many bytes were delivered and what the first receive said (its
/// sender, credentials, descriptors; `full_len` for MSG_TRUNC).
///
/// A stream moves a chunk at a time, taking from the socket only what the
/// buffers can hold, so data is never consumed and then lost to EFAULT; a message
/// is taken whole (a kernel buffer of at most the largest message) and what does
/// not fit is discarded, as Linux does.
async fn recv_data(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    dst: &mut UserIoVecs<'_>,
    flags: u32,
) -> KResult<(usize, Received)> {
    let s = sock(f);
    let dontwait = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(s.timeout(false));
    let peek = flags & MSG_PEEK != 0;
    let stream = s.kind() == Kind::Stream;
    let waitall = flags & MSG_WAITALL != 0 && stream && !peek;
    let len = dst.remaining().min(super::MAX_RW_COUNT);
    // A peek always starts at the front of the queue, which never holds more than
    // MAX_QUEUED bytes: one receive of that much sees all of it.
    let step = if stream && !peek {
        CHUNK
    } else {
        kestrel_net::unix::MAX_QUEUED
    };
    // A small stream receive goes through the stack, as a small send.
    // A larger one takes a bounce buffer from the pool the file reads use (a
    // 64 KiB buffer zeroed at every read was as much work as the copies).
    let mut small = [0u8; SMALL_IO];
    let mut pooled: super::fs::Bounce;
    let mut big: Vec<u8>;
    let buf: &mut [u8] = if stream && !peek && len <= SMALL_IO {
        &mut small[..len]
    } else if stream && !peek {
        pooled = super::fs::bounce(len.min(step))?;
        &mut pooled
    } else {
        big = super::zeroed_vec(len.min(step))?;
        &mut big
    };
    let mut got = 0;
    let mut first: Option<Received> = None;
    loop {
        let want = (len - got).min(buf.len());
        // A stream takes only what the writable part of the buffers can hold,
        // write by write (see UnixSocket::recv_within); a datagram is taken whole
        // and lost if it cannot be delivered, as on Linux.
        let mut room = if stream { dst.writable(want) } else { want };
        // Buffers in a file mapping not loaded yet: waited for, then measured
        // again (before anything is taken from the socket).
        let mut loads = 0;
        while stream && room < want && loads < 64 && ctx.load_pending().await {
            room = dst.writable(want);
            loads += 1;
        }
        match s.recv_within(&mut buf[..want], peek, room) {
            Err(Errno::EFAULT) if got > 0 => break,
            Ok(r) => {
                let n = r.len;
                let put = dst.write(&buf[..n]);
                // A message that cannot be copied out whole is lost and the
                // receive fails (skb_copy_datagram_msg), unless an earlier piece
                // of a MSG_WAITALL read was delivered.
                if put < n && got == 0 {
                    return Err(Errno::EFAULT);
                }
                got += put;
                let eof = n == 0;
                // Descriptors end a read (unix_stream_read_generic): a later piece
                // of a MSG_WAITALL read that brings some delivers them and stops.
                let rights = r.rights.is_some();
                match &mut first {
                    None => first = Some(r),
                    Some(f0) => {
                        f0.len = got;
                        f0.full_len = got;
                        if rights {
                            f0.rights = r.rights;
                        }
                    }
                }
                if !waitall || got == len || eof || put < n || rights {
                    break;
                }
                continue;
            }
            // A datagram socket shut down for reading: a receive that would wait
            // returns end-of-file instead (__skb_wait_for_more_packets).
            Err(Errno::EAGAIN) if !dontwait && s.kind() == Kind::Dgram && s.read_shut_down() => {
                break;
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
        if let Err(e) = wait_ready(ctx, f, POLLIN, until).await {
            if got > 0 {
                break;
            }
            return Err(e);
        }
    }
    let mut r = first.unwrap_or_default();
    r.len = got;
    Ok((got, r))
}

pub async fn sys_sendto(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    buf: UserPtr<u8>,
    len: usize,
    flags: u32,
    addr: UserPtr<u8>,
    addrlen: u32,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    let mm = ctx.mm();
    let mut src = UserIoVecs::single(&*mm, buf, len)?;
    if let Some(s) = InetSocket::of(&f) {
        let raw = if addr.is_null() {
            None
        } else {
            Some(RawAddr::copy_in(ctx, addr, addrlen)?).filter(|r| r.len > 0)
        };
        return inet::send(ctx, &f, s, &mut src, raw.as_ref(), flags)
            .await
            .map(|n| n as u64);
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        let raw = if addr.is_null() {
            None
        } else {
            Some(RawAddr::copy_in(ctx, addr, addrlen)?).filter(|r| r.len > 0)
        };
        return netlink::send(ctx, s, &mut src, raw.as_ref()).map(|n| n as u64);
    }
    if let Some(s) = PacketSocket::of(&f) {
        let raw = if addr.is_null() {
            None
        } else {
            Some(RawAddr::copy_in(ctx, addr, addrlen)?).filter(|r| r.len > 0)
        };
        return packet::send(s, &mut src, raw.as_ref()).map(|n| n as u64);
    }
    if let Some(s) = RawSocket::of(&f) {
        let to = if addr.is_null() {
            None
        } else {
            Some(RawAddr::copy_in(ctx, addr, addrlen)?).filter(|r| r.len > 0)
        };
        return raw::send(s, &mut src, to.as_ref(), flags).map(|n| n as u64);
    }
    // __sys_sendto copies the address in (a zero length is no address at all: the
    // socket's peer gets the data); the protocol looks at it afterwards.
    let raw = if addr.is_null() {
        None
    } else {
        Some(RawAddr::copy_in(ctx, addr, addrlen)?).filter(|r| r.len > 0)
    };
    let to = send_address(&f, raw.as_ref())?;
    send_data(ctx, &f, &mut src, None, scm_cred(ctx), to, flags)
        .await
        .map(|n| n as u64)
}

/// What a send's address `raw` says, as far as it is looked at before data moves:
/// a stream socket refuses any address (EISCONN if connected, EOPNOTSUPP if not,
/// without looking at it: unix_stream_sendmsg), a seqpacket socket ignores it
/// (unix_seqpacket_sendmsg), a datagram socket's must be a valid name (EINVAL);
/// the socket it names is found later, after the message is checked and copied.
fn send_address(f: &OpenFile, raw: Option<&RawAddr>) -> KResult<Option<Addr>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let s = sock(f);
    match s.kind() {
        Kind::Stream => Err(if s.is_connected() {
            Errno::EISCONN
        } else {
            Errno::EOPNOTSUPP
        }),
        Kind::SeqPacket => Ok(None),
        Kind::Dgram => match raw.parse()? {
            Parsed::Addr(a) => Ok(Some(a)),
            Parsed::FamilyOnly => Err(Errno::EINVAL),
        },
    }
}

/// The datagram socket `addr` names (ENOENT, ECONNREFUSED, EPROTOTYPE).
async fn dgram_target(ctx: &Ctx<'_>, addr: &Addr) -> KResult<Arc<UnixSocket>> {
    let t = find_target(ctx, addr, Kind::Dgram).await?;
    if t.kind() != Kind::Dgram {
        return Err(Errno::EPROTOTYPE);
    }
    Ok(t)
}

/// recvfrom's answer for a message that came with a sender's address (inet,
/// netlink and packet sockets): the address, if asked for, and the bytes
/// read, or the whole message's length with MSG_TRUNC in `flags`.
fn finish_recvfrom(
    ctx: &Ctx<'_>,
    from: &[u8],
    len: usize,
    full_len: usize,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
    flags: u32,
) -> KResult<u64> {
    if !addr.is_null() {
        write_addr(ctx, from, addr, addrlen)?;
    }
    Ok(if flags & MSG_TRUNC != 0 {
        full_len
    } else {
        len
    } as u64)
}

pub async fn sys_recvfrom(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    buf: UserPtr<u8>,
    len: usize,
    flags: u32,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    let mm = ctx.mm();
    let mut dst = UserIoVecs::single(&*mm, buf, len)?;
    if let Some(s) = InetSocket::of(&f) {
        let g = inet::recv(ctx, &f, s, &mut dst, flags).await?;
        return finish_recvfrom(ctx, &g.from, g.len, g.full_len, addr, addrlen, flags);
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        let g = netlink::recv(ctx, &f, s, &mut dst, flags).await?;
        return finish_recvfrom(ctx, &g.from, g.len, g.full_len, addr, addrlen, flags);
    }
    if let Some(s) = PacketSocket::of(&f) {
        let g = packet::recv(ctx, &f, s, &mut dst, flags).await?;
        return finish_recvfrom(ctx, &g.from, g.len, g.full_len, addr, addrlen, flags);
    }
    if let Some(s) = RawSocket::of(&f) {
        let (g, _) = raw::recv(ctx, &f, s, &mut dst, flags).await?;
        return finish_recvfrom(ctx, &g.from, g.len, g.full_len, addr, addrlen, flags);
    }
    let (n, r) = recv_data(ctx, &f, &mut dst, flags).await?;
    if !addr.is_null() {
        write_addr(ctx, &sender_name(r.from.as_ref()), addr, addrlen)?;
    }
    Ok(if flags & MSG_TRUNC != 0 {
        r.full_len as u64
    } else {
        n as u64
    })
}

/// Parses the control messages of sendmsg: descriptors to pass and credentials
/// to claim (checked against the caller's).
fn parse_control(ctx: &Ctx<'_>, ptr: u64, len: u64) -> KResult<(Option<Rights>, Option<Cred>)> {
    if len == 0 {
        return Ok((None, None));
    }
    // Linux's sysctl_optmem_max bounds the control buffer.
    if len > 1 << 16 {
        return Err(Errno::ENOBUFS);
    }
    let raw = ctx
        .mm()
        .reader(UserPtr::<u8>::new(ptr), len as usize)?
        .read_to_vec()?;
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

pub async fn sys_sendmsg(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    msg: UserPtr<Msghdr>,
    flags: u32,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    let hdr: Msghdr = ctx.read(msg)?;
    sendmsg(ctx, &f, &hdr, flags).await.map(|n| n as u64)
}

/// The checks Linux's __copy_msghdr makes of a message header: a negative
/// msg_namelen is EINVAL, more than UIO_MAXIOV iovecs EMSGSIZE (not the EINVAL of
/// readv). Returns msg_namelen cut down to a sockaddr_storage (0 without a name).
fn check_msghdr(hdr: &Msghdr) -> KResult<u32> {
    let namelen = if hdr.msg_name == 0 {
        0
    } else {
        hdr.msg_namelen
    };
    if (namelen as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(namelen.min(128))
}

/// More iovecs than UIO_MAXIOV in a msghdr: EMSGSIZE (__copy_msghdr).
fn check_iovlen(hdr: &Msghdr) -> KResult<usize> {
    if hdr.msg_iovlen > IOV_MAX as u64 {
        return Err(Errno::EMSGSIZE);
    }
    Ok(hdr.msg_iovlen as usize)
}

async fn sendmsg(ctx: &Ctx<'_>, f: &OpenFile, hdr: &Msghdr, flags: u32) -> KResult<usize> {
    // Linux's order: the name is copied in (EFAULT), the iovecs are counted and
    // read, the control messages parsed (EBADF, EINVAL); only then does the
    // protocol look at the name.
    let namelen = check_msghdr(hdr)?;
    let raw = if namelen > 0 {
        Some(RawAddr::copy_in(ctx, UserPtr::new(hdr.msg_name), namelen)?)
    } else {
        None
    };
    let iovlen = check_iovlen(hdr)?;
    let iovecs = super::fs::read_iovecs(ctx, UserPtr::new(hdr.msg_iov), iovlen)?;
    let mm = ctx.mm();
    let mut src = UserIoVecs::new(&*mm, &iovecs)?;
    if let Some(s) = InetSocket::of(f) {
        let ctl = inet::send_control(ctx, s, hdr.msg_control, hdr.msg_controllen)?;
        return inet::send_ctl(ctx, f, s, &mut src, raw.as_ref(), flags, ctl).await;
    }
    if let Some(s) = NetlinkSocket::of(f) {
        // Control messages are not read (netlink has none to send).
        return netlink::send(ctx, s, &mut src, raw.as_ref());
    }
    if let Some(s) = PacketSocket::of(f) {
        // Control messages are not read.
        return packet::send(s, &mut src, raw.as_ref());
    }
    if let Some(s) = RawSocket::of(f) {
        // Control messages (IP_TTL, IP_PKTINFO...) are not read: ignored.
        return raw::send(s, &mut src, raw.as_ref(), flags);
    }
    let (rights, cred) = parse_control(ctx, hdr.msg_control, hdr.msg_controllen)?;
    let to = send_address(f, raw.as_ref())?;
    send_data(
        ctx,
        f,
        &mut src,
        rights,
        cred.unwrap_or_else(|| scm_cred(ctx)),
        to,
        flags,
    )
    .await
}

pub async fn sys_recvmsg(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    msg: UserPtr<Msghdr>,
    flags: u32,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    let mut hdr: Msghdr = ctx.read(msg)?;
    let n = recvmsg(ctx, &f, &mut hdr, flags).await?;
    ctx.write(msg, &hdr)?;
    Ok(n as u64)
}

/// recvmsg's answer for a message that came with a sender's address (inet,
/// packet and netlink sockets): the address into msg_name, cut to
/// msg_namelen, which then says its whole length; no control messages;
/// MSG_TRUNC in msg_flags when `truncated`. The count is the bytes read, or
/// the whole message's with MSG_TRUNC in `flags`.
fn finish_recvmsg(
    mm: &crate::mm::vm::AddressSpace,
    hdr: &mut Msghdr,
    from: &[u8],
    len: usize,
    full_len: usize,
    truncated: bool,
    flags: u32,
) -> KResult<usize> {
    if hdr.msg_name != 0 {
        let k = from.len().min(hdr.msg_namelen as usize);
        if k > 0 {
            mm.writer(UserPtr::<u8>::new(hdr.msg_name), k)?
                .write_all(&from[..k])?;
        }
        hdr.msg_namelen = from.len() as u32;
    }
    hdr.msg_controllen = 0;
    hdr.msg_flags = if truncated { MSG_TRUNC } else { 0 };
    Ok(if flags & MSG_TRUNC != 0 {
        full_len
    } else {
        len
    })
}

async fn recvmsg(ctx: &Ctx<'_>, f: &OpenFile, hdr: &mut Msghdr, flags: u32) -> KResult<usize> {
    check_msghdr(hdr)?;
    let iovlen = check_iovlen(hdr)?;
    let iovecs = super::fs::read_iovecs(ctx, UserPtr::new(hdr.msg_iov), iovlen)?;
    let mm = ctx.mm();
    let mut dst = UserIoVecs::new(&*mm, &iovecs)?;
    if let Some(s) = InetSocket::of(f) {
        let g = inet::recv(ctx, f, s, &mut dst, flags).await?;
        // Only UDP reports truncation and control messages, and TCP's
        // urgent byte taken without room for it (tcp_recv_urg).
        let truncated = (s.kind() == kestrel_net::inet::Kind::Dgram || g.oob)
            && g.full_len > g.len
            && !(g.oob && flags & MSG_TRUNC != 0);
        let mut ctl = Control {
            at: hdr.msg_control,
            room: hdr.msg_controllen as usize,
            used: 0,
        };
        let mut ctl_flags = 0;
        if let Some(rx) = &g.rx {
            for (level, ty, data) in inet::control_messages(s, rx) {
                // Linux's put_cmsg: a message that cannot be stored is dropped.
                let _ = ctl.put_at(&mm, level, ty, &data, &mut ctl_flags);
            }
        }
        let n = finish_recvmsg(&mm, hdr, &g.from, g.len, g.full_len, truncated, flags)?;
        hdr.msg_controllen = ctl.used as u64;
        hdr.msg_flags |= ctl_flags;
        if g.oob {
            hdr.msg_flags |= MSG_OOB;
        }
        return Ok(n);
    }
    if let Some(s) = PacketSocket::of(f) {
        let g = packet::recv(ctx, f, s, &mut dst, flags).await?;
        let truncated = g.full_len > g.len;
        return finish_recvmsg(&mm, hdr, &g.from, g.len, g.full_len, truncated, flags);
    }
    if let Some(s) = RawSocket::of(f) {
        let (g, cmsgs) = raw::recv(ctx, f, s, &mut dst, flags).await?;
        let truncated = g.full_len > g.len;
        let mut ctl = Control {
            at: hdr.msg_control,
            room: hdr.msg_controllen as usize,
            used: 0,
        };
        let mut ctl_flags = 0;
        for (level, ty, data) in cmsgs {
            let _ = ctl.put_at(&mm, level, ty, &data, &mut ctl_flags);
        }
        let n = finish_recvmsg(&mm, hdr, &g.from, g.len, g.full_len, truncated, flags)?;
        hdr.msg_controllen = ctl.used as u64;
        hdr.msg_flags |= ctl_flags;
        return Ok(n);
    }
    if let Some(s) = NetlinkSocket::of(f) {
        let g = netlink::recv(ctx, f, s, &mut dst, flags).await?;
        let truncated = g.full_len > g.len;
        return finish_recvmsg(&mm, hdr, &g.from, g.len, g.full_len, truncated, flags);
    }
    let (n, r) = recv_data(ctx, f, &mut dst, flags).await?;
    let mut msg_flags = 0;
    if r.truncated {
        msg_flags |= MSG_TRUNC;
    }
    // The sender's name (none for an unnamed sender). Without msg_name, Linux
    // leaves msg_namelen as it was.
    if hdr.msg_name != 0 {
        let name = sender_name(r.from.as_ref());
        let k = name.len().min(hdr.msg_namelen as usize);
        if k > 0 {
            mm.writer(UserPtr::<u8>::new(hdr.msg_name), k)?
                .write_all(&name[..k])?;
        }
        hdr.msg_namelen = name.len() as u32;
    }
    // Control messages: the sender's credentials (SO_PASSCRED), the descriptors.
    let mut ctl = Control {
        at: hdr.msg_control,
        room: hdr.msg_controllen as usize,
        used: 0,
    };
    if sock(f).passcred()
        && let Some(c) = r.cred
    {
        // Linux's scm_recv ignores a failure to store the credentials.
        let _ = ctl.put(
            &mm,
            SCM_CREDENTIALS,
            kestrel_abi::bytemuck_bytes(&c),
            &mut msg_flags,
        );
    }
    if let Some(rights) = r.rights {
        ctl.put_rights(ctx, rights, flags & MSG_CMSG_CLOEXEC != 0, &mut msg_flags);
    }
    hdr.msg_controllen = ctl.used as u64;
    hdr.msg_flags = msg_flags;
    Ok(if flags & MSG_TRUNC != 0 {
        r.full_len
    } else {
        n
    })
}

/// The control buffer of a recvmsg, filled front to back as Linux's put_cmsg
/// and scm_detach_fds fill it.
struct Control {
    /// The user address of the next message.
    at: u64,
    /// Bytes left.
    room: usize,
    /// Bytes used (msg_controllen on return).
    used: usize,
}

impl Control {
    const HDR: usize = core::mem::size_of::<Cmsghdr>();

    fn advance(&mut self, space: usize) {
        let space = space.min(self.room);
        self.at += space as u64;
        self.room -= space;
        self.used += space;
    }

    fn header(&self, mm: &AddressSpace, len: usize, level: i32, ty: i32) -> KResult<()> {
        let h = Cmsghdr {
            cmsg_len: len as u64,
            cmsg_level: level,
            cmsg_type: ty,
        };
        mm.write(UserPtr::new(self.at), &h)
    }

    /// One SOL_SOCKET message of type `ty`, truncated (MSG_CTRUNC) to the
    /// room left.
    fn put(&mut self, mm: &AddressSpace, ty: i32, data: &[u8], flags: &mut u32) -> KResult<()> {
        self.put_at(mm, SOL_SOCKET, ty, data, flags)
    }

    /// One message at `level` of type `ty`, truncated (MSG_CTRUNC) to the
    /// room left.
    fn put_at(
        &mut self,
        mm: &AddressSpace,
        level: i32,
        ty: i32,
        data: &[u8],
        flags: &mut u32,
    ) -> KResult<()> {
        if self.at == 0 || self.room < Self::HDR {
            *flags |= MSG_CTRUNC;
            return Ok(());
        }
        let mut len = Self::HDR + data.len();
        if self.room < len {
            *flags |= MSG_CTRUNC;
            len = self.room;
        }
        self.header(mm, len, level, ty)?;
        mm.writer(
            UserPtr::<u8>::new(self.at + Self::HDR as u64),
            len - Self::HDR,
        )?
        .write_all(&data[..len - Self::HDR])?;
        self.advance(cmsg_align(Self::HDR + data.len()));
        Ok(())
    }

    /// SCM_RIGHTS: installs as many of `rights` as the room holds, storing each
    /// number before the next is taken; a number that cannot be stored closes its
    /// descriptor again. Descriptors that do not make it are closed (dropped) and
    /// MSG_CTRUNC says so; none is ever left behind unreported.
    fn put_rights(&mut self, ctx: &Ctx<'_>, rights: Rights, cloexec: bool, flags: &mut u32) {
        let mm = ctx.mm();
        let fdmax = if self.at == 0 || self.room <= Self::HDR {
            0
        } else {
            (self.room - Self::HDR) / 4
        };
        let count = rights.len();
        let mut stored = 0;
        for file in rights.into_iter().take(fdmax) {
            let Ok(fd) = ctx.install(file, cloexec) else {
                break;
            };
            let slot = UserPtr::<i32>::new(self.at + (Self::HDR + 4 * stored) as u64);
            if mm.write(slot, &fd).is_err() {
                let f = ctx.process().files().lock().remove(fd);
                drop(f);
                break;
            }
            stored += 1;
        }
        if stored > 0 {
            let len = Self::HDR + 4 * stored;
            if self.header(&mm, len, SOL_SOCKET, SCM_RIGHTS).is_ok() {
                self.advance(cmsg_align(len));
            }
        }
        if stored < count {
            *flags |= MSG_CTRUNC;
        }
    }
}

pub async fn sys_shutdown(ctx: &mut Ctx<'_>, fd: Fd, how: u32) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::shutdown(s, how);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::shutdown(s, how);
    }
    if NetlinkSocket::of(&f).is_some() || PacketSocket::of(&f).is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    sock(&f).shutdown(how)?;
    Ok(0)
}

pub async fn sys_getsockname(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        write_addr(ctx, &s.local_name(), addr, addrlen)?;
        return Ok(0);
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        return netlink::name(ctx, s, false, addr, addrlen);
    }
    if let Some(s) = PacketSocket::of(&f) {
        return packet::name(ctx, s, addr, addrlen);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::name(ctx, s, false, addr, addrlen);
    }
    write_addr(ctx, &sock(&f).local_addr().to_sockaddr(), addr, addrlen)?;
    Ok(0)
}

pub async fn sys_getpeername(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    addr: UserPtr<u8>,
    addrlen: UserPtr<u32>,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = NetlinkSocket::of(&f) {
        return netlink::name(ctx, s, true, addr, addrlen);
    }
    if PacketSocket::of(&f).is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::name(ctx, s, true, addr, addrlen);
    }
    if let Some(s) = InetSocket::of(&f) {
        let peer = s.peer_name()?;
        write_addr(ctx, &peer, addr, addrlen)?;
        return Ok(0);
    }
    let peer = sock(&f).peer_addr()?;
    write_addr(ctx, &peer.to_sockaddr(), addr, addrlen)?;
    Ok(0)
}

/// SO_RCVTIMEO/SO_SNDTIMEO: zero means no timeout; a negative one times out at
/// once (sock_set_timeout).
/// SO_RCVTIMEO/SO_SNDTIMEO's argument: a struct timeval (EINVAL if `len` is
/// shorter, EFAULT, EDOM for microseconds out of range), as sock_set_timeout
/// reads it: None for no timeout.
fn read_timeout(ctx: &Ctx<'_>, val: UserPtr<u8>, len: u32) -> KResult<Option<u64>> {
    if (len as usize) < core::mem::size_of::<kestrel_abi::time::Timeval>() {
        return Err(Errno::EINVAL);
    }
    ns_of_timeval(ctx.read(val.cast())?)
}

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

pub async fn sys_setsockopt(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len: u32,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::setsockopt(ctx, s, level, name, val, len);
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        return netlink::setsockopt(ctx, s, level, name, val, len);
    }
    if let Some(s) = PacketSocket::of(&f) {
        return packet::setsockopt(ctx, s, level, name, val, len);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::setsockopt(ctx, s, level, name, val, len);
    }
    let s = sock(&f);
    // Unix sockets have no protocol-level options: Linux's unix proto_ops have no
    // setsockopt, so every other level is EOPNOTSUPP (do_sock_setsockopt).
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let int = || -> KResult<i32> {
        if len < 4 {
            return Err(Errno::EINVAL);
        }
        ctx.read(val.cast::<i32>())
    };
    match name {
        SO_PASSCRED => s.set_passcred(int()? != 0),
        SO_SNDBUF | SO_RCVBUF | SO_SNDBUFFORCE | SO_RCVBUFFORCE => {
            let (v, _) = inet::read_buf_size(ctx, name, val, len)?;
            s.set_buf(matches!(name, SO_SNDBUF | SO_SNDBUFFORCE), v);
        }
        SO_RCVTIMEO | SO_SNDTIMEO => {
            s.set_timeout(name == SO_SNDTIMEO, read_timeout(ctx, val, len)?);
        }
        // Filters run on each message sent to a datagram or seqpacket socket.
        SO_ATTACH_FILTER => {
            let prog = packet::read_sock_fprog(ctx, val, len)?;
            let meta = kestrel_net::bpf::Meta::default();
            s.set_filter(Some(Arc::new(move |d: &[u8]| {
                kestrel_net::bpf::run(&prog, d, &meta)
            })))?;
        }
        SO_ATTACH_BPF => {
            if len != 4 {
                return Err(Errno::EINVAL);
            }
            let prog = super::bpf::socket_filter(ctx, int()?)?;
            s.set_filter(Some(Arc::new(move |d: &[u8]| {
                super::bpf::run_filter(&prog, d)
            })))?;
        }
        SO_DETACH_FILTER => s.set_filter(None)?,
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

pub async fn sys_getsockopt(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    level: i32,
    name: i32,
    val: UserPtr<u8>,
    len_ptr: UserPtr<u32>,
) -> KResult<u64> {
    let f = socket_file(ctx, fd)?;
    if let Some(s) = InetSocket::of(&f) {
        return inet::getsockopt(ctx, s, level, name, val, len_ptr);
    }
    if let Some(s) = NetlinkSocket::of(&f) {
        return netlink::getsockopt(ctx, s, level, name, val, len_ptr);
    }
    if let Some(s) = PacketSocket::of(&f) {
        return packet::getsockopt(ctx, s, level, name, val, len_ptr);
    }
    if let Some(s) = RawSocket::of(&f) {
        return raw::getsockopt(ctx, s, level, name, val, len_ptr);
    }
    let s = sock(&f);
    // As setsockopt: no getsockopt in the unix proto_ops (do_sock_getsockopt).
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let room = optlen_room(ctx, len_ptr)?;
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
    put_optval(ctx, val, len_ptr, room, &bytes)
}

/// read(2) on a socket: a receive without flags (sock_read_iter), honouring
/// O_NONBLOCK and SO_RCVTIMEO; a datagram longer than the buffer is truncated,
/// descriptors that came with the data are closed. Asking for nothing returns 0
/// at once ("match SYS5 behaviour"), whatever the socket's state.
pub async fn read(ctx: &Ctx<'_>, f: &OpenFile, buf: UserPtr<u8>, count: usize) -> KResult<usize> {
    if count == 0 {
        return Ok(0);
    }
    let mm = ctx.mm();
    let mut dst = UserIoVecs::single(&*mm, buf, count)?;
    if let Some(s) = InetSocket::of(f) {
        return inet::recv(ctx, f, s, &mut dst, 0).await.map(|g| g.len);
    }
    if let Some(s) = NetlinkSocket::of(f) {
        return netlink::recv(ctx, f, s, &mut dst, 0).await.map(|g| g.len);
    }
    if let Some(s) = PacketSocket::of(f) {
        return packet::recv(ctx, f, s, &mut dst, 0).await.map(|g| g.len);
    }
    if let Some(s) = RawSocket::of(f) {
        return raw::recv(ctx, f, s, &mut dst, 0).await.map(|(g, _)| g.len);
    }
    recv_data(ctx, f, &mut dst, 0).await.map(|(n, _)| n)
}

/// write(2) on a socket: a send without flags (sock_write_iter): one datagram,
/// however long (an empty write is an empty datagram), SIGPIPE only from a
/// stream, SO_SNDTIMEO honoured.
pub async fn write(ctx: &Ctx<'_>, f: &OpenFile, buf: UserPtr<u8>, count: usize) -> KResult<usize> {
    let mm = ctx.mm();
    let mut src = UserIoVecs::single(&*mm, buf, count)?;
    if let Some(s) = InetSocket::of(f) {
        return inet::send(ctx, f, s, &mut src, None, 0).await;
    }
    if let Some(s) = NetlinkSocket::of(f) {
        return netlink::send(ctx, s, &mut src, None);
    }
    if let Some(s) = PacketSocket::of(f) {
        return packet::send(s, &mut src, None);
    }
    if let Some(s) = RawSocket::of(f) {
        return raw::send(s, &mut src, None, 0);
    }
    send_data(ctx, f, &mut src, None, scm_cred(ctx), None, 0).await
}

/// readv on a socket: one receive scattered over the vectors (nothing asked,
/// nothing done: do_iter_read returns 0 before the socket sees it).
pub async fn readv(ctx: &Ctx<'_>, f: &OpenFile, iovecs: &[Iovec]) -> KResult<u64> {
    if iovecs.iter().all(|v| v.len == 0) {
        return Ok(0);
    }
    let mm = ctx.mm();
    let mut dst = UserIoVecs::new(&*mm, iovecs)?;
    if let Some(s) = InetSocket::of(f) {
        return inet::recv(ctx, f, s, &mut dst, 0)
            .await
            .map(|g| g.len as u64);
    }
    if let Some(s) = NetlinkSocket::of(f) {
        return netlink::recv(ctx, f, s, &mut dst, 0)
            .await
            .map(|g| g.len as u64);
    }
    if let Some(s) = PacketSocket::of(f) {
        return packet::recv(ctx, f, s, &mut dst, 0)
            .await
            .map(|g| g.len as u64);
    }
    if let Some(s) = RawSocket::of(f) {
        return raw::recv(ctx, f, s, &mut dst, 0)
            .await
            .map(|(g, _)| g.len as u64);
    }
    let (n, _) = recv_data(ctx, f, &mut dst, 0).await?;
    Ok(n as u64)
}

/// writev on a socket: one message gathered from the vectors (an empty one sends
/// nothing: do_iter_write returns 0 first).
pub async fn writev(ctx: &Ctx<'_>, f: &OpenFile, iovecs: &[Iovec]) -> KResult<u64> {
    if iovecs.iter().all(|v| v.len == 0) {
        return Ok(0);
    }
    let mm = ctx.mm();
    let mut src = UserIoVecs::new(&*mm, iovecs)?;
    if let Some(s) = InetSocket::of(f) {
        return inet::send(ctx, f, s, &mut src, None, 0)
            .await
            .map(|n| n as u64);
    }
    if let Some(s) = NetlinkSocket::of(f) {
        return netlink::send(ctx, s, &mut src, None).map(|n| n as u64);
    }
    if let Some(s) = PacketSocket::of(f) {
        return packet::send(s, &mut src, None).map(|n| n as u64);
    }
    if let Some(s) = RawSocket::of(f) {
        return raw::send(s, &mut src, None, 0).map(|n| n as u64);
    }
    send_data(ctx, f, &mut src, None, scm_cred(ctx), None, 0)
        .await
        .map(|n| n as u64)
}

/// Whether `f` is a socket (read/write/readv/writev go through here for sockets).
pub fn is_socket(f: &OpenFile) -> bool {
    UnixSocket::of(f).is_some()
        || InetSocket::of(f).is_some()
        || NetlinkSocket::of(f).is_some()
        || PacketSocket::of(f).is_some()
        || RawSocket::of(f).is_some()
}

/// An open file description is being released: a socket's last file closed is
/// the socket's release (Linux's sock_close), whoever else still holds it.
pub fn file_released(f: &OpenFile) {
    if let Some(s) = UnixSocket::of(f) {
        s.release();
    }
    if let Some(s) = InetSocket::of(f) {
        s.release();
    }
    if let Some(s) = NetlinkSocket::of(f) {
        s.release();
    }
    if let Some(s) = PacketSocket::of(f) {
        s.release();
    }
    if let Some(s) = RawSocket::of(f) {
        s.release();
    }
}

pub async fn sys_sendmmsg(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    vec: UserPtr<Mmsghdr>,
    vlen: u32,
    flags: u32,
) -> KResult<u64> {
    // UIO_MAXIOV messages at most.
    let vlen = vlen.min(1024);
    let f = socket_file(ctx, fd)?;
    let mut sent = 0u32;
    while sent < vlen {
        let at = vec.add(sent as usize);
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

pub async fn sys_recvmmsg(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    vec: UserPtr<Mmsghdr>,
    vlen: u32,
    flags: u32,
    timeout: UserPtr<kestrel_abi::time::Timespec>,
) -> KResult<u64> {
    // The timeout is read first (EFAULT, EINVAL) and checked after each message,
    // as Linux does: it bounds the batch, not a wait.
    let deadline = if timeout.is_null() {
        None
    } else {
        let t = ctx.read(timeout)?;
        let ns = t.to_ns().ok_or(Errno::EINVAL)?;
        Some(crate::time::now_ns().saturating_add(ns))
    };
    let vlen = vlen.min(1024);
    let f = socket_file(ctx, fd)?;
    let mut got = 0u32;
    // MSG_WAITFORONE: after the first message, only what is already there.
    const MSG_WAITFORONE: u32 = 0x10000;
    let flags_in = flags & !MSG_WAITFORONE;
    while got < vlen && deadline.is_none_or(|d| got == 0 || crate::time::now_ns() < d) {
        let at = vec.add(got as usize);
        let mut m: Mmsghdr = ctx.read(at)?;
        let fl = if got > 0 && flags & MSG_WAITFORONE != 0 {
            flags_in | MSG_DONTWAIT
        } else {
            flags_in
        };
        // Without it, each message is waited for, as Linux does; the timeout
        // bounds these waits too (Linux checks it only after each message,
        // its documented bug, and can block past it).
        let r = match deadline {
            Some(d) if got > 0 => {
                let left = d.saturating_sub(crate::time::now_ns());
                match crate::task::timeout(left, recvmsg(ctx, &f, &mut m.msg_hdr, fl)).await {
                    Ok(r) => r,
                    Err(_) => break,
                }
            }
            _ => recvmsg(ctx, &f, &mut m.msg_hdr, fl).await,
        };
        match r {
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
