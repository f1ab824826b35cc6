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

use super::{Args, Ctx, arg_i32};
use crate::mm::vm::USER_END;

fn create(ctx: &Ctx<'_>, flags: u32) -> KResult<u64> {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let file = crate::fs::anon::anon_file(Epoll::new(), O_RDWR);
    ctx.install(file, flags & EPOLL_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_epoll_create(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    if arg_i32(a[0]) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(ctx, 0)
}

pub async fn sys_epoll_create1(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    create(ctx, a[0] as u32)
}

pub async fn sys_epoll_ctl(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (epfd, op, fd, event_ptr) = (arg_i32(a[0]), arg_i32(a[1]), arg_i32(a[2]), a[3]);
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
    epfd: i32,
    events_ptr: u64,
    max: i32,
    timeout_ns: Option<u64>,
) -> KResult<u64> {
    if max <= 0 || max as usize > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let max = max as usize;
    let bytes = (max * core::mem::size_of::<EpollEvent>()) as u64;
    if events_ptr
        .checked_add(bytes)
        .is_none_or(|end| end > USER_END)
    {
        return Err(Errno::EFAULT);
    }
    let file = ctx.file(epfd)?;
    let ep = Epoll::of(&file).ok_or(Errno::EINVAL)?;
    let mm = ctx.mm();
    let size = core::mem::size_of::<EpollEvent>() as u64;
    // Events are copied one at a time, as Linux does: one that cannot be written
    // stays queued, and what was written before it is returned.
    let send = || {
        let mut faulted = false;
        let mut at = events_ptr;
        let sent = ep.send_events(max, &mut |events, data| {
            let ok = mm
                .write_user(
                    at,
                    kestrel_abi::bytemuck_bytes(&EpollEvent { events, data }),
                )
                .is_ok();
            at += size;
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

pub async fn sys_epoll_wait(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    wait(
        ctx,
        arg_i32(a[0]),
        a[1],
        arg_i32(a[2]),
        ms_timeout(arg_i32(a[3])),
    )
    .await
}

/// Runs an epoll wait under the temporary signal mask at `mask_ptr` (if any).
async fn pwait(ctx: &Ctx<'_>, a: Args, timeout_ns: Option<u64>) -> KResult<u64> {
    super::poll::push_sigmask(ctx, a[4], a[5])?;
    let r = wait(ctx, arg_i32(a[0]), a[1], arg_i32(a[2]), timeout_ns).await;
    super::poll::pop_sigmask(ctx, &r);
    r
}

pub async fn sys_epoll_pwait(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    pwait(ctx, a, ms_timeout(arg_i32(a[3]))).await
}

pub async fn sys_epoll_pwait2(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let timeout = if a[3] != 0 {
        let t: Timespec = ctx.read(a[3])?;
        Some(t.to_ns().ok_or(Errno::EINVAL)?)
    } else {
        None
    };
    pwait(ctx, a, timeout).await
}
