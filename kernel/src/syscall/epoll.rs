//! epoll_create, epoll_ctl, epoll_wait and friends, over [`kestrel_vfs::epoll`].
//!
//! The VFS side keeps the interest and ready lists and never blocks; here a wait is
//! "register on the epoll's queue, then collect", repeated until events arrive, the
//! timeout passes or a signal comes. Like Linux, epoll_wait is never restarted: a
//! signal ends it with EINTR, even one that only stopped and continued the process.

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::epoll::Epoll;

use super::Ctx;
use super::args::*;

fn create(ctx: &Ctx<'_>, flags: u32) -> KResult<u64> {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let file = crate::fs::anon::anon_file(Epoll::new(), O_RDWR);
    ctx.install(file, flags & EPOLL_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_epoll_create(ctx: &mut Ctx<'_>, size: i32) -> KResult<u64> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    create(ctx, 0)
}

pub async fn sys_epoll_create1(ctx: &mut Ctx<'_>, flags: u32) -> KResult<u64> {
    create(ctx, flags)
}

pub async fn sys_epoll_ctl(
    ctx: &mut Ctx<'_>,
    epfd: Fd,
    op: i32,
    fd: Fd,
    event_ptr: UserPtr<EpollEvent>,
) -> KResult<u64> {
    // The event is read first (Linux copies it before looking at the descriptors);
    // DEL ignores it.
    let event = if op != EPOLL_CTL_DEL {
        Some(ctx.read::<EpollEvent>(event_ptr)?)
    } else {
        None
    };
    let epfile = ctx.file(epfd)?;
    let target = ctx.file(fd)?;
    Epoll::ctl(&epfile, op, fd, &target, event.map(|e| (e.events, e.data)))?;
    Ok(0)
}

/// The largest maxevents Linux accepts (EP_MAX_EVENTS).
const MAX_EVENTS: usize = i32::MAX as usize / core::mem::size_of::<EpollEvent>();

/// Waits for events on `epfd` for at most `timeout_ns` (None: forever) and copies
/// up to `max` of them to `events_ptr`.
async fn wait(
    ctx: &Ctx<'_>,
    epfd: Fd,
    events_ptr: UserPtr<EpollEvent>,
    max: i32,
    timeout_ns: Option<u64>,
) -> KResult<u64> {
    if max <= 0 || max as usize > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let max = max as usize;
    // The whole array must be user memory before anything else (EFAULT).
    let mm = ctx.mm();
    let out = mm.writer(events_ptr, max * core::mem::size_of::<EpollEvent>())?;
    let file = ctx.file(epfd)?;
    let ep = Epoll::of(&file).ok_or(Errno::EINVAL)?;
    // Events are copied one at a time, as Linux does: one that cannot be written
    // stays queued, and what was written before it is returned.
    let send = || {
        let mut faulted = false;
        let mut w = out.clone();
        let sent = ep.send_events(max, &mut |events, data| {
            let ok = w.write_val(&EpollEvent { events, data }).is_ok();
            faulted |= !ok;
            ok
        });
        (sent, faulted)
    };
    let done = |(sent, faulted): (usize, bool)| -> Option<KResult<u64>> {
        if sent > 0 {
            Some(Ok(sent as u64))
        } else if faulted {
            Some(Err(Errno::EFAULT))
        } else {
            None
        }
    };
    if let Some(r) = done(send()) {
        return r;
    }
    if timeout_ns == Some(0) {
        return Ok(0);
    }
    let waiting = async { ep.wait_queue().wait_until(|| done(send())).await };
    let waiting = crate::process::signal::interruptible(ctx.thread, Errno::EINTR, waiting);
    match timeout_ns {
        None => waiting.await,
        Some(ns) => crate::task::timeout(ns, waiting).await.unwrap_or(Ok(0)),
    }
}

fn ms_timeout(ms: i32) -> Option<u64> {
    (ms >= 0).then(|| ms as u64 * 1_000_000)
}

pub async fn sys_epoll_wait(
    ctx: &mut Ctx<'_>,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    maxevents: i32,
    timeout: i32,
) -> KResult<u64> {
    wait(ctx, epfd, events, maxevents, ms_timeout(timeout)).await
}

/// Runs an epoll wait under the temporary signal mask at `sigmask` (if any).
async fn pwait(
    ctx: &Ctx<'_>,
    (epfd, events, maxevents): (Fd, UserPtr<EpollEvent>, i32),
    (sigmask, sigsetsize): (UserPtr<u64>, usize),
    timeout_ns: Option<u64>,
) -> KResult<u64> {
    super::poll::push_sigmask(ctx, sigmask, sigsetsize)?;
    let r = wait(ctx, epfd, events, maxevents, timeout_ns).await;
    super::poll::pop_sigmask(ctx, &r);
    r
}

pub async fn sys_epoll_pwait(
    ctx: &mut Ctx<'_>,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    maxevents: i32,
    timeout: i32,
    sigmask: UserPtr<u64>,
    sigsetsize: usize,
) -> KResult<u64> {
    let target = (epfd, events, maxevents);
    pwait(ctx, target, (sigmask, sigsetsize), ms_timeout(timeout)).await
}

pub async fn sys_epoll_pwait2(
    ctx: &mut Ctx<'_>,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    maxevents: i32,
    ts_ptr: UserPtr<Timespec>,
    sigmask: UserPtr<u64>,
    sigsetsize: usize,
) -> KResult<u64> {
    let timeout = if ts_ptr.is_null() {
        None
    } else {
        let t: Timespec = ctx.read(ts_ptr)?;
        Some(t.to_ns().ok_or(Errno::EINVAL)?)
    };
    let target = (epfd, events, maxevents);
    pwait(ctx, target, (sigmask, sigsetsize), timeout).await
}
