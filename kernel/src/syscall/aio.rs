//! Linux's native asynchronous I/O: io_setup, io_submit, io_getevents, io_pgetevents,
//! io_cancel, io_destroy.
//!
//! Every request is carried out when it is submitted (Kestrel's files answer
//! from memory or through an async block cache, so the submitting thread waits
//! for the I/O as a read would) and its completion queued on the context, where
//! io_getevents collects it. That is a valid AIO implementation — completion
//! order and timing are the kernel's choice — but nothing is ever in flight, so
//! io_cancel finds nothing to cancel.
//!
//! A context is an id naming an area of the caller's address space, as on
//! Linux: libaio reads the ring header there (its magic number and head and
//! tail) before it makes the io_getevents call, so the area holds a header
//! whose ring is always empty, and every event goes through the system call.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_abi::mm::{PROT_READ, PROT_WRITE};
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::eventfd::EventFd;

use super::Ctx;
use super::args::*;
use crate::mm::vm::{Backing, Placement, VmaKind};
use crate::process::signal::interruptible;
use crate::{task, time};

/// /proc/sys/fs/aio-max-nr: the events all contexts together may hold.
pub const AIO_MAX_NR: u64 = 65536;

/// /proc/sys/fs/aio-nr: the events the contexts that exist hold.
pub static AIO_NR: AtomicU64 = AtomicU64::new(0);

const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_FSYNC: u16 = 2;
const IOCB_CMD_FDSYNC: u16 = 3;
const IOCB_FLAG_RESFD: u32 = 1;
const AIO_RING_MAGIC: u32 = 0xa10a_10a1;

/// struct io_event: what a finished request reports.
#[derive(Clone, Copy, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

/// One io_setup context.
struct AioContext {
    /// How many events it was made for (the queue never holds more).
    max_events: u64,
    /// What it counts in AIO_NR.
    reserved: u64,
    done: spin::Mutex<VecDeque<IoEvent>>,
    wq: WaitQueue,
}

impl Drop for AioContext {
    fn drop(&mut self) {
        AIO_NR.fetch_sub(self.reserved, Ordering::Relaxed);
    }
}

fn lookup(ctx: &Ctx<'_>, id: u64) -> KResult<Arc<AioContext>> {
    let any = ctx.mm().aio.lock().get(&id).cloned().ok_or(Errno::EINVAL)?;
    any.downcast::<AioContext>().map_err(|_| Errno::EINVAL)
}

pub async fn sys_io_setup(ctx: &mut Ctx<'_>, nr_events: u32, ctxp: UserPtr<u64>) -> KResult<u64> {
    let current: u64 = ctx.read(ctxp)?;
    if current != 0 || nr_events == 0 {
        return Err(Errno::EINVAL);
    }
    // Linux sizes the ring for twice the events (at least four per CPU), and
    // refuses a ring over 256 MiB of 32-byte events before it checks the limit.
    let ring = nr_events
        .max(4 * crate::arch::percpu::online() as u32)
        .wrapping_mul(2);
    if ring > 0x1000_0000 / 32 {
        return Err(Errno::EINVAL);
    }
    let reserved = u64::from(nr_events);
    let prev = AIO_NR.fetch_add(reserved, Ordering::Relaxed);
    if prev + reserved > AIO_MAX_NR {
        AIO_NR.fetch_sub(reserved, Ordering::Relaxed);
        return Err(Errno::EAGAIN);
    }
    let aio = Arc::new(AioContext {
        max_events: reserved,
        reserved,
        done: spin::Mutex::new(VecDeque::new()),
        wq: WaitQueue::new(),
    });
    let mm = ctx.mm();
    let id = mm.map(
        Placement::Hint(0),
        4096,
        PROT_READ | PROT_WRITE,
        Backing::Anonymous,
        VmaKind::Normal,
    )?;
    // struct aio_ring: id, nr, head, tail, magic, compat_features,
    // incompat_features, header_length.
    let header: [u32; 8] = [id as u32, nr_events, 0, 0, AIO_RING_MAGIC, 1, 0, 32];
    let undo = |mm: &crate::mm::vm::AddressSpace| {
        let _ = mm.unmap(id, 4096);
    };
    if let Err(e) = mm.write_slice(UserPtr::<u32>::new(id), &header) {
        undo(&mm);
        return Err(e);
    }
    mm.aio.lock().insert(id, aio);
    if let Err(e) = ctx.write(ctxp, &id) {
        mm.aio.lock().remove(&id);
        undo(&mm);
        return Err(e);
    }
    Ok(0)
}

pub async fn sys_io_destroy(ctx: &mut Ctx<'_>, id: u64) -> KResult<u64> {
    let mm = ctx.mm();
    let aio = mm.aio.lock().remove(&id).ok_or(Errno::EINVAL)?;
    let _ = mm.unmap(id, 4096);
    // A thread waiting in io_getevents sees the context gone.
    if let Ok(aio) = aio.downcast::<AioContext>() {
        aio.wq.wake_all();
    }
    Ok(0)
}

/// Carries out the iocb at `addr`: Err for what io_submit itself reports
/// (EFAULT, EBADF, EINVAL), Ok with the event otherwise.
async fn submit_one(ctx: &mut Ctx<'_>, addr: u64) -> KResult<IoEvent> {
    let mut cb = [0u8; 64];
    ctx.mm().read_slice(UserPtr::<u8>::new(addr), &mut cb)?;
    let u16_at = |o: usize| u16::from_ne_bytes([cb[o], cb[o + 1]]);
    let u32_at = |o: usize| u32::from_ne_bytes(cb[o..o + 4].try_into().unwrap_or_default());
    let u64_at = |o: usize| u64::from_ne_bytes(cb[o..o + 8].try_into().unwrap_or_default());
    let (data, opcode, fd) = (u64_at(0), u16_at(16), u32_at(20) as i32);
    let (buf, nbytes, offset) = (u64_at(24), u64_at(32), u64_at(40) as i64);
    let (reserved2, flags, resfd) = (u64_at(48), u32_at(56), u32_at(60) as i32);
    if reserved2 != 0 || nbytes > isize::MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let resfd = if flags & IOCB_FLAG_RESFD != 0 {
        let f = ctx.file(resfd)?;
        if f.ops().as_any().downcast_ref::<EventFd>().is_none() {
            return Err(Errno::EINVAL);
        }
        Some(f)
    } else {
        None
    };
    let file = ctx.file(fd)?;
    let res = match opcode {
        IOCB_CMD_PREAD => {
            if !file.readable() {
                return Err(Errno::EBADF);
            }
            super::fs::sys_pread64(ctx, fd, UserPtr::new(buf), nbytes as usize, offset).await
        }
        IOCB_CMD_PWRITE => {
            if !file.writable() {
                return Err(Errno::EBADF);
            }
            super::fs::sys_pwrite64(ctx, fd, UserPtr::new(buf), nbytes as usize, offset).await
        }
        IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => super::fs_extra::sys_fsync(ctx, fd).await,
        _ => return Err(Errno::EINVAL),
    };
    if let Some(e) = resfd
        .as_ref()
        .and_then(|f| f.ops().as_any().downcast_ref::<EventFd>())
    {
        e.signal(1);
    }
    Ok(IoEvent {
        data,
        obj: addr,
        res: match res {
            Ok(n) => n as i64,
            Err(e) => -(e as i64),
        },
        res2: 0,
    })
}

pub async fn sys_io_submit(
    ctx: &mut Ctx<'_>,
    id: u64,
    nr: i64,
    iocbpp: UserPtr<u64>,
) -> KResult<u64> {
    if nr < 0 {
        return Err(Errno::EINVAL);
    }
    let aio = lookup(ctx, id)?;
    let nr = (nr as u64).min(aio.max_events);
    let mut done = 0;
    while done < nr {
        let r = async {
            if aio.done.lock().len() as u64 >= aio.max_events {
                return Err(Errno::EAGAIN);
            }
            let addr: u64 = ctx.read(UserPtr::new(iocbpp.addr().wrapping_add(done * 8)))?;
            Box::pin(submit_one(ctx, addr)).await
        }
        .await;
        match r {
            Ok(ev) => {
                aio.done.lock().push_back(ev);
                aio.wq.wake_all();
                done += 1;
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

pub async fn sys_io_getevents(
    ctx: &mut Ctx<'_>,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: UserPtr<u8>,
    timeout: UserPtr<Timespec>,
) -> KResult<u64> {
    let timeout = super::poll::read_timespec_timeout(ctx, timeout)?;
    get_events(ctx, id, min_nr, nr, events, timeout, Errno::EINTR).await
}

/// io_pgetevents(2): io_getevents with a signal mask for the wait, as
/// ppoll(2) has. `usig` points at a `struct __aio_sigset { const sigset_t
/// *sigmask; size_t sigsetsize; }`. Linux reads the timeout and that struct,
/// and installs the mask, before it looks at the context; a wait a signal
/// interrupts before any event came is restarted when the signal has no
/// handler (ERESTARTNOHAND), EINTR otherwise.
pub async fn sys_io_pgetevents(
    ctx: &mut Ctx<'_>,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: UserPtr<u8>,
    timeout: UserPtr<Timespec>,
    usig: UserPtr<[u64; 2]>,
) -> KResult<u64> {
    let timeout = super::poll::read_timespec_timeout(ctx, timeout)?;
    let [sigmask, sigsetsize] = if usig.is_null() {
        [0, 0]
    } else {
        ctx.read(usig)?
    };
    super::poll::push_sigmask(ctx, UserPtr::new(sigmask), sigsetsize as usize)?;
    let r = get_events(ctx, id, min_nr, nr, events, timeout, Errno::ERESTARTNOHAND).await;
    super::poll::pop_sigmask(ctx, &r);
    r
}

/// Looks the context up (EINVAL), checks the counts (EINVAL), waits until
/// `min_nr` events (at least one) are done or the timeout passes, then copies
/// out up to `nr` (Linux's do_io_getevents). A signal that ends the wait
/// before any event came makes the call fail with `interrupted`.
async fn get_events(
    ctx: &mut Ctx<'_>,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: UserPtr<u8>,
    timeout: Option<u64>,
    interrupted: Errno,
) -> KResult<u64> {
    let aio = lookup(ctx, id)?;
    if min_nr < 0 || nr < min_nr {
        return Err(Errno::EINVAL);
    }
    let deadline = timeout.map(|ns| time::now_ns().saturating_add(ns));
    let (min_nr, nr) = (min_nr as usize, nr as usize);
    let mm = ctx.mm();
    let ready = || {
        let n = aio.done.lock().len();
        let gone = !mm.aio.lock().contains_key(&id);
        (n >= min_nr.max(1).min(nr) || gone).then_some(())
    };
    if nr > 0 && ready().is_none() {
        let waited = async {
            aio.wq.wait_until(ready).await;
            Ok(())
        };
        let r = match deadline {
            None => interruptible(ctx.thread, interrupted, waited).await,
            Some(d) => {
                let timed = async {
                    let _ = task::timeout(d.saturating_sub(time::now_ns()), waited).await;
                    Ok(())
                };
                interruptible(ctx.thread, interrupted, timed).await
            }
        };
        if r.is_err() && aio.done.lock().is_empty() {
            return r.map(|_| 0);
        }
    }
    let mut got = 0;
    while got < nr {
        let Some(ev) = aio.done.lock().pop_front() else {
            break;
        };
        let bytes: [u64; 4] = [ev.data, ev.obj, ev.res as u64, ev.res2 as u64];
        let at = UserPtr::<u64>::new(events.addr().wrapping_add(got as u64 * 32));
        if let Err(e) = mm.write_slice(at, &bytes) {
            aio.done.lock().push_front(ev);
            if got == 0 {
                return Err(e);
            }
            break;
        }
        got += 1;
    }
    Ok(got as u64)
}

/// io_cancel(2): requests finish as they are submitted, so none is ever found
/// in flight (EINVAL, as Linux for a request it does not know); EFAULT first.
pub async fn sys_io_cancel(
    ctx: &mut Ctx<'_>,
    id: u64,
    iocb: UserPtr<u8>,
    _result: UserPtr<u8>,
) -> KResult<u64> {
    let mut key = [0u8; 4];
    ctx.mm()
        .read_slice(UserPtr::<u8>::new(iocb.addr().wrapping_add(8)), &mut key)?;
    lookup(ctx, id)?;
    Err(Errno::EINVAL)
}
