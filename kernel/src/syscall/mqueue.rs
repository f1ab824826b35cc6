//! POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive,
//! mq_notify, mq_getsetattr.
//!
//! A queue lives in one system-wide namespace by name (what Linux keeps in
//! its mqueue file system), holds at most `maxmsg` messages of at most
//! `msgsize` bytes, and hands out the oldest message of the highest priority.
//! A descriptor is an open file of the queue: poll says POLLIN with a message
//! and POLLOUT with room, read(2) gives the status line of Linux's mqueue
//! files. mq_notify registers one process for a signal (SIGEV_SIGNAL),
//! nothing (SIGEV_NONE) or a netlink message (SIGEV_THREAD) when a message
//! arrives in an empty queue. SIGEV_THREAD is what the C libraries build their
//! notification threads on: the kernel takes a 32-byte cookie and a netlink
//! socket (the descriptor in sigev_signo), and sends the cookie to that socket,
//! its last byte NOTIFY_WOKENUP (1) when the notification fires or
//! NOTIFY_REMOVED (2) when it is unregistered; the library's thread, blocked in
//! recv on the socket, calls the function for the first only.
//!
//! Limits as Linux's defaults: 10 messages of 8192 bytes at most without
//! CAP_SYS_RESOURCE (its hard limits, 65536 and 16 MiB, with it); 256 queues.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::signal::{SI_MESGQ, Siginfo};
use kestrel_abi::time::{SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, Sigevent, Timespec};
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::file::{FileOps, OpenFile};

use super::Ctx;
use super::args::*;
use crate::process::signal::interruptible;
use crate::{task, time};

const MQ_PRIO_MAX: u32 = 32768;
const DFLT_MAXMSG: i64 = 10;
const DFLT_MSGSIZE: i64 = 8192;
const HARD_MAXMSG: i64 = 65536;
const HARD_MSGSIZE: i64 = 16 * 1024 * 1024;
const QUEUES_MAX: usize = 256;
const NAME_MAX: usize = 255;

/// struct mq_attr: flags, maxmsg, msgsize, curmsgs, 4 reserved longs.
type MqAttr = [i64; 8];

struct Notify {
    pid: u32,
    /// None: SIGEV_NONE.
    signal: Option<(u32, u64)>,
    /// SIGEV_THREAD: the netlink socket (the descriptor's number, for the
    /// queue file's SIGNO field, and the file) and the cookie it gets.
    thread: Option<(i32, Arc<OpenFile>, [u8; NOTIFY_COOKIE_LEN])>,
}

/// The size of mq_notify's SIGEV_THREAD cookie.
const NOTIFY_COOKIE_LEN: usize = 32;
/// The cookie's last byte when the notification fires.
const NOTIFY_WOKENUP: u8 = 1;
/// The cookie's last byte when the registration is removed.
const NOTIFY_REMOVED: u8 = 2;

impl Notify {
    /// Sends a SIGEV_THREAD registration's cookie with `how` as its last byte.
    fn send_cookie(&self, how: u8) {
        if let Some((_, file, cookie)) = &self.thread
            && let Some(sock) = kestrel_net::netlink::NetlinkSocket::of(file)
        {
            let mut c = cookie.to_vec();
            c[NOTIFY_COOKIE_LEN - 1] = how;
            sock.deliver_from_kernel(c);
        }
    }
}

struct State {
    /// By priority, oldest first within one.
    msgs: BTreeMap<u32, VecDeque<Vec<u8>>>,
    count: usize,
    bytes: usize,
    notify: Option<Notify>,
    mode: u32,
    uid: u32,
    gid: u32,
}

pub struct Queue {
    maxmsg: usize,
    msgsize: usize,
    state: spin::Mutex<State>,
    wq: WaitQueue,
}

static NAMES: spin::Mutex<BTreeMap<Vec<u8>, Arc<Queue>>> = spin::Mutex::new(BTreeMap::new());

/// An open queue: the file behind an mqd_t.
struct MqFile(Arc<Queue>);

impl FileOps for MqFile {
    fn read(&self, _: &OpenFile, pos: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let line = {
            let s = self.0.state.lock();
            let (signo, pid) = match &s.notify {
                Some(Notify {
                    thread: Some((fd, ..)),
                    pid,
                    ..
                }) => (*fd as u32, *pid),
                Some(n) => (n.signal.map_or(0, |(sig, _)| sig), n.pid),
                None => (0, 0),
            };
            let how = match &s.notify {
                Some(Notify {
                    thread: Some(_), ..
                }) => SIGEV_THREAD,
                Some(Notify {
                    signal: Some(_), ..
                }) => SIGEV_SIGNAL,
                Some(Notify { signal: None, .. }) => SIGEV_NONE,
                None => 0,
            };
            alloc::format!(
                "QSIZE:{:<10} NOTIFY:{:<5} SIGNO:{:<5} NOTIFY_PID:{:<6}\n",
                s.bytes,
                how,
                signo,
                pid
            )
        };
        let start = (*pos as usize).min(line.len());
        let n = (line.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&line.as_bytes()[start..start + n]);
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        let s = self.0.state.lock();
        let mut m = 0;
        if s.count > 0 {
            m |= POLLIN | POLLRDNORM;
        }
        if s.count < self.0.maxmsg {
            m |= POLLOUT | POLLWRNORM;
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.wq)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The name as the system call gets it (libc strips the leading '/'):
/// ENOENT empty, EACCES with a '/', ENAMETOOLONG past NAME_MAX.
fn read_name(ctx: &Ctx<'_>, name: UserCStr) -> KResult<Vec<u8>> {
    let n = ctx.read_path(name)?;
    if n.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if n.is_empty() {
        return Err(Errno::ENOENT);
    }
    if n.contains(&b'/') || n == b"." || n == b".." {
        return Err(Errno::EACCES);
    }
    Ok(n)
}

fn queue_of(ctx: &Ctx<'_>, fd: Fd) -> KResult<(Arc<OpenFile>, Arc<Queue>)> {
    let f = ctx.file(fd)?;
    let q = f
        .ops()
        .as_any()
        .downcast_ref::<MqFile>()
        .map(|m| m.0.clone())
        .ok_or(Errno::EBADF)?;
    Ok((f, q))
}

/// Whether the caller may open a queue of `mode`/`uid`/`gid` for `want`
/// (access::READ/WRITE bits).
fn permitted(ctx: &Ctx<'_>, s: &State, want: u32) -> bool {
    let cred = ctx.process().cred.lock().fs_cred();
    let meta = kestrel_vfs::Metadata {
        mode: S_IFREG | s.mode,
        uid: s.uid,
        gid: s.gid,
        ..Default::default()
    };
    kestrel_vfs::inode::check_access(&meta, &cred, want).is_ok()
}

pub async fn sys_mq_open(
    ctx: &mut Ctx<'_>,
    name: UserCStr,
    oflag: u32,
    mode: Mode,
    attr: UserPtr<MqAttr>,
) -> KResult<u64> {
    use kestrel_vfs::inode::access;
    let name = read_name(ctx, name)?;
    let acc = oflag & O_ACCMODE;
    let want = match acc {
        O_RDONLY => access::READ,
        O_WRONLY => access::WRITE,
        O_RDWR => access::READ | access::WRITE,
        _ => return Err(Errno::EINVAL),
    };
    let c = ctx.process().cred.lock().clone();
    let q = {
        let mut names = NAMES.lock();
        match names.get(&name) {
            Some(_) if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL => {
                return Err(Errno::EEXIST);
            }
            Some(q) => {
                if !permitted(ctx, &q.state.lock(), want) {
                    return Err(Errno::EACCES);
                }
                q.clone()
            }
            None if oflag & O_CREAT == 0 => return Err(Errno::ENOENT),
            None => {
                let (mut maxmsg, mut msgsize) = (DFLT_MAXMSG, DFLT_MSGSIZE);
                if !attr.is_null() {
                    let a: MqAttr = ctx.read(attr)?;
                    (maxmsg, msgsize) = (a[1], a[2]);
                    let (lim_msg, lim_size) = if c.capable(kestrel_abi::cap::CAP_SYS_RESOURCE) {
                        (HARD_MAXMSG, HARD_MSGSIZE)
                    } else {
                        (DFLT_MAXMSG, DFLT_MSGSIZE)
                    };
                    if maxmsg <= 0 || msgsize <= 0 || maxmsg > lim_msg || msgsize > lim_size {
                        return Err(Errno::EINVAL);
                    }
                }
                if names.len() >= QUEUES_MAX {
                    return Err(Errno::ENOSPC);
                }
                let umask = ctx.process().fs().lock().umask;
                let q = Arc::new(Queue {
                    maxmsg: maxmsg as usize,
                    msgsize: msgsize as usize,
                    state: spin::Mutex::new(State {
                        msgs: BTreeMap::new(),
                        count: 0,
                        bytes: 0,
                        notify: None,
                        mode: u32::from(mode) & 0o777 & !umask,
                        uid: c.fsuid,
                        gid: c.fsgid,
                    }),
                    wq: WaitQueue::new(),
                });
                names.insert(name, q.clone());
                q
            }
        }
    };
    let file = crate::fs::anon::anon_file(Arc::new(MqFile(q)), acc | (oflag & O_NONBLOCK));
    ctx.install(file, oflag & O_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_mq_unlink(ctx: &mut Ctx<'_>, name: UserCStr) -> KResult<u64> {
    let name = read_name(ctx, name)?;
    let mut names = NAMES.lock();
    let q = names.get(&name).ok_or(Errno::ENOENT)?;
    // The queue's owner (or CAP_FOWNER) removes it.
    let c = ctx.process().cred.lock().clone();
    if q.state.lock().uid != c.fsuid && !c.capable(kestrel_abi::cap::CAP_FOWNER) {
        return Err(Errno::EACCES);
    }
    names.remove(&name);
    Ok(0)
}

/// The absolute CLOCK_REALTIME timeout as a monotonic deadline (EINVAL for a
/// bad timespec, EFAULT).
fn deadline(ctx: &Ctx<'_>, ts: UserPtr<Timespec>) -> KResult<Option<u64>> {
    if ts.is_null() {
        return Ok(None);
    }
    let t: Timespec = ctx.read(ts)?;
    let abs = t.to_ns().ok_or(Errno::EINVAL)?;
    Ok(Some(
        time::now_ns().saturating_add(abs.saturating_sub(time::realtime_ns())),
    ))
}

/// Waits until `ready` gives an answer, the deadline (ETIMEDOUT) or a signal
/// (EINTR).
async fn wait_queue_for<T>(
    ctx: &Ctx<'_>,
    q: &Queue,
    deadline: Option<u64>,
    mut ready: impl FnMut() -> Option<T>,
) -> KResult<T> {
    let waited = async { Ok(q.wq.wait_until(&mut ready).await) };
    match deadline {
        None => interruptible(ctx.thread, Errno::EINTR, waited).await,
        Some(d) => {
            let timed = async {
                task::timeout(d.saturating_sub(time::now_ns()), waited)
                    .await
                    .map_err(|_| Errno::ETIMEDOUT)?
            };
            interruptible(ctx.thread, Errno::EINTR, timed).await
        }
    }
}

pub async fn sys_mq_timedsend(
    ctx: &mut Ctx<'_>,
    mqdes: Fd,
    msg: UserPtr<u8>,
    len: usize,
    prio: u32,
    timeout: UserPtr<Timespec>,
) -> KResult<u64> {
    let deadline = deadline(ctx, timeout)?;
    if prio >= MQ_PRIO_MAX {
        return Err(Errno::EINVAL);
    }
    let (f, q) = queue_of(ctx, mqdes)?;
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    if len > q.msgsize {
        return Err(Errno::EMSGSIZE);
    }
    let mut data = super::zeroed_vec::<u8>(len)?;
    ctx.mm().read_slice(msg, &mut data)?;
    let room = || (q.state.lock().count < q.maxmsg).then_some(());
    if room().is_none() {
        if f.flags() & O_NONBLOCK != 0 {
            return Err(Errno::EAGAIN);
        }
        wait_queue_for(ctx, &q, deadline, room).await?;
    }
    let notify = {
        let mut s = q.state.lock();
        if s.count >= q.maxmsg {
            // Another sender took the room: as if it had been full all along.
            return Err(Errno::EAGAIN);
        }
        let was_empty = s.count == 0;
        s.count += 1;
        s.bytes += data.len();
        s.msgs.entry(prio).or_default().push_back(data);
        // A message into an empty queue fires the registration, once.
        if was_empty { s.notify.take() } else { None }
    };
    q.wq.wake_all();
    if let Some(n) = &notify {
        n.send_cookie(NOTIFY_WOKENUP);
    }
    if let Some(Notify {
        pid,
        signal: Some((sig, value)),
        ..
    }) = notify
        && let Some(p) = crate::process::find(pid)
    {
        let mut info = Siginfo::from_process(
            sig,
            SI_MESGQ,
            ctx.process().pid,
            ctx.process().cred.lock().uid,
        );
        info.fields[1] = value;
        crate::process::signal::send_process(&p, info);
    }
    Ok(0)
}

pub async fn sys_mq_timedreceive(
    ctx: &mut Ctx<'_>,
    mqdes: Fd,
    msg: UserPtr<u8>,
    len: usize,
    prio: UserPtr<u32>,
    timeout: UserPtr<Timespec>,
) -> KResult<u64> {
    let deadline = deadline(ctx, timeout)?;
    let (f, q) = queue_of(ctx, mqdes)?;
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    if len < q.msgsize {
        return Err(Errno::EMSGSIZE);
    }
    let take = || {
        let mut s = q.state.lock();
        let (&p, list) = s.msgs.iter_mut().next_back()?;
        let m = list.pop_front()?;
        if list.is_empty() {
            s.msgs.remove(&p);
        }
        s.count -= 1;
        s.bytes -= m.len();
        Some((p, m))
    };
    let got = match take() {
        Some(x) => x,
        None if f.flags() & O_NONBLOCK != 0 => return Err(Errno::EAGAIN),
        None => wait_queue_for(ctx, &q, deadline, take).await?,
    };
    q.wq.wake_all();
    let (p, m) = got;
    let put = ctx.mm().write_slice(msg, &m).and_then(|_| {
        if prio.is_null() {
            Ok(())
        } else {
            ctx.write(prio, &p)
        }
    });
    if let Err(e) = put {
        // Not delivered: back at the head of its priority.
        let mut s = q.state.lock();
        s.count += 1;
        s.bytes += m.len();
        s.msgs.entry(p).or_default().push_front(m);
        return Err(e);
    }
    Ok(m.len() as u64)
}

pub async fn sys_mq_notify(ctx: &mut Ctx<'_>, mqdes: Fd, sevp: UserPtr<Sigevent>) -> KResult<u64> {
    let mut thread = None;
    let ev = if sevp.is_null() {
        None
    } else {
        let ev: Sigevent = ctx.read(sevp)?;
        match ev.sigev_notify {
            SIGEV_NONE => {}
            SIGEV_SIGNAL => {
                if ev.sigev_signo <= 0 || ev.sigev_signo > kestrel_abi::signal::NSIG as i32 {
                    return Err(Errno::EINVAL);
                }
            }
            // Linux's order: the cookie (EFAULT), the descriptor (EBADF), a
            // socket (ENOTSOCK) of the netlink family (EINVAL); the queue after.
            SIGEV_THREAD => {
                let mut cookie = [0u8; NOTIFY_COOKIE_LEN];
                ctx.mm()
                    .read_slice(UserPtr::<u8>::new(ev.sigev_value), &mut cookie)?;
                let f = ctx.file(ev.sigev_signo)?;
                if kestrel_net::netlink::NetlinkSocket::of(&f).is_none() {
                    return Err(if super::socket::is_socket(&f) {
                        Errno::EINVAL
                    } else {
                        Errno::ENOTSOCK
                    });
                }
                thread = Some((ev.sigev_signo, f, cookie));
            }
            _ => return Err(Errno::EINVAL),
        }
        Some(ev)
    };
    let (_, q) = queue_of(ctx, mqdes)?;
    let me = ctx.process().pid;
    let mut s = q.state.lock();
    match ev {
        None => {
            if s.notify.as_ref().is_some_and(|n| n.pid == me)
                && let Some(old) = s.notify.take()
            {
                drop(s);
                old.send_cookie(NOTIFY_REMOVED);
            }
        }
        Some(ev) => {
            // One registration per queue, while its process lives.
            if s.notify
                .as_ref()
                .is_some_and(|n| crate::process::find(n.pid).is_some())
            {
                return Err(Errno::EBUSY);
            }
            s.notify = Some(Notify {
                pid: me,
                signal: (ev.sigev_notify == SIGEV_SIGNAL)
                    .then_some((ev.sigev_signo as u32, ev.sigev_value)),
                thread,
            });
        }
    }
    Ok(0)
}

pub async fn sys_mq_getsetattr(
    ctx: &mut Ctx<'_>,
    mqdes: Fd,
    newattr: UserPtr<MqAttr>,
    oldattr: UserPtr<MqAttr>,
) -> KResult<u64> {
    let new = if newattr.is_null() {
        None
    } else {
        let a: MqAttr = ctx.read(newattr)?;
        if a[0] & !i64::from(O_NONBLOCK) != 0 {
            return Err(Errno::EINVAL);
        }
        Some(a[0])
    };
    let (f, q) = queue_of(ctx, mqdes)?;
    if !oldattr.is_null() {
        let count = q.state.lock().count;
        let old: MqAttr = [
            i64::from(f.flags() & O_NONBLOCK),
            q.maxmsg as i64,
            q.msgsize as i64,
            count as i64,
            0,
            0,
            0,
            0,
        ];
        ctx.write(oldattr, &old)?;
    }
    if let Some(flags) = new {
        // Only O_NONBLOCK changes (the other status flags are kept).
        let rest = f.flags() & !O_NONBLOCK;
        f.set_status_flags(rest | flags as u32);
    }
    Ok(0)
}
