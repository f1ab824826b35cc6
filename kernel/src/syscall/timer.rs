//! Timers: alarm, setitimer/getitimer, POSIX timers (timer_create and friends) and
//! timerfd. The timers themselves live in [`crate::process::timers`] and
//! [`crate::fs::timerfd`]; this is argument checking and copying.

use alloc::sync::Arc;

use kestrel_abi::fs::O_RDWR;
use kestrel_abi::time::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::fs::timerfd::TimerFd;
use crate::process::timers::{self, Clock, Notify, PosixTimer};

/// ns as a timeval, never 0 µs for a timer that is still armed (Linux reports at
/// least 1 µs left).
fn itimer_tv(ns: u64) -> Timeval {
    Timeval::from_ns(if ns > 0 { ns.max(1000) } else { 0 })
}

fn itimerval(left: u64, interval: u64) -> Itimerval {
    Itimerval {
        it_interval: itimer_tv(interval),
        it_value: itimer_tv(left),
    }
}

fn itimerspec(left: u64, interval: u64) -> Itimerspec {
    Itimerspec {
        it_interval: Timespec::from_ns(interval),
        it_value: Timespec::from_ns(left),
    }
}

pub async fn sys_getitimer(
    ctx: &mut Ctx<'_>,
    which: i32,
    value: UserPtr<Itimerval>,
) -> KResult<u64> {
    let (left, interval) = timers::getitimer(ctx.process(), which)?;
    ctx.write(value, &itimerval(left, interval))?;
    Ok(0)
}

pub async fn sys_setitimer(
    ctx: &mut Ctx<'_>,
    which: i32,
    value: UserPtr<Itimerval>,
    ovalue: UserPtr<Itimerval>,
) -> KResult<u64> {
    // A NULL new value disarms (the old Linux behaviour it keeps).
    let new: Itimerval = if !value.is_null() {
        ctx.read(value)?
    } else {
        Itimerval::default()
    };
    let value = new.it_value.to_ns().ok_or(Errno::EINVAL)?;
    let interval = new.it_interval.to_ns().ok_or(Errno::EINVAL)?;
    let (left, old_interval) = timers::setitimer(ctx.process(), which, value, interval)?;
    if !ovalue.is_null() {
        ctx.write(ovalue, &itimerval(left, old_interval))?;
    }
    Ok(0)
}

pub async fn sys_alarm(ctx: &mut Ctx<'_>, secs: u32) -> KResult<u64> {
    let (left, _) = timers::setitimer(
        ctx.process(),
        timers::ITIMER_REAL,
        u64::from(secs) * 1_000_000_000,
        0,
    )?;
    // Seconds left, rounded to the nearest, but never 0 for a pending alarm.
    let (s, rem) = (left / 1_000_000_000, left % 1_000_000_000);
    Ok(if (s == 0 && rem > 0) || rem >= 500_000_000 {
        s + 1
    } else {
        s
    })
}

// ---- POSIX timers ----------------------------------------------------------------

pub async fn sys_timer_create(
    ctx: &mut Ctx<'_>,
    clk: i32,
    sev_ptr: UserPtr<Sigevent>,
    id_ptr: UserPtr<i32>,
) -> KResult<u64> {
    let clock = Clock::from_id(ctx.thread, clk)?;
    if !clock.has_timers() {
        return Err(Errno::EOPNOTSUPP);
    }
    let notify = if sev_ptr.is_null() {
        None
    } else {
        let ev: Sigevent = ctx.read(sev_ptr)?;
        let signo = ev.sigev_signo;
        let valid_signo = (1..=kestrel_abi::signal::NSIG as i32).contains(&signo);
        Some(match ev.sigev_notify {
            SIGEV_NONE => Notify::None,
            SIGEV_SIGNAL | SIGEV_THREAD if valid_signo => Notify::Signal {
                signo: signo as u32,
                value: ev.sigev_value,
                thread: None,
            },
            n if n == SIGEV_SIGNAL | SIGEV_THREAD_ID && valid_signo => {
                let t = crate::process::find_thread(ev.sigev_notify_thread_id as u32)
                    .filter(|t| Arc::ptr_eq(&t.process, ctx.process()))
                    .ok_or(Errno::EINVAL)?;
                Notify::Signal {
                    signo: signo as u32,
                    value: ev.sigev_value,
                    thread: Some(Arc::downgrade(&t)),
                }
            }
            _ => return Err(Errno::EINVAL),
        })
    };
    let p = ctx.process().clone();
    let id = PosixTimer::create(&p, clock, notify)?;
    if let Err(e) = ctx.write(id_ptr, &id) {
        if let Some(t) = p.posix_timers.lock().remove(&id) {
            t.delete();
        }
        return Err(e);
    }
    Ok(0)
}

/// Reads an itimerspec: (value, interval) in ns, EINVAL if out of range.
fn read_itimerspec(ctx: &Ctx<'_>, ptr: UserPtr<Itimerspec>) -> KResult<(u64, u64)> {
    let new: Itimerspec = ctx.read(ptr)?;
    let value = new.it_value.to_ns().ok_or(Errno::EINVAL)?;
    let interval = new.it_interval.to_ns().ok_or(Errno::EINVAL)?;
    Ok((value, interval))
}

/// When a timer set to `value` with `abstime` first expires, in `clock`'s terms
/// (None: disarm).
fn first_expiry(clock: &Clock, value: u64, abstime: bool) -> Option<u64> {
    match (value, abstime) {
        (0, _) => None,
        (v, true) => Some(v),
        (v, false) => Some(clock.now().saturating_add(v)),
    }
}

pub async fn sys_timer_settime(
    ctx: &mut Ctx<'_>,
    id: i32,
    flags: i32,
    new_ptr: UserPtr<Itimerspec>,
    old_ptr: UserPtr<Itimerspec>,
) -> KResult<u64> {
    if new_ptr.is_null() {
        return Err(Errno::EINVAL);
    }
    let t = PosixTimer::find(ctx.process(), id)?;
    let (value, interval) = read_itimerspec(ctx, new_ptr)?;
    let (left, old_interval) = t.get();
    t.set(
        first_expiry(&t.clock, value, flags & TIMER_ABSTIME != 0),
        interval,
    );
    if !old_ptr.is_null() {
        ctx.write(old_ptr, &itimerspec(left, old_interval))?;
    }
    Ok(0)
}

pub async fn sys_timer_gettime(
    ctx: &mut Ctx<'_>,
    timerid: i32,
    curr: UserPtr<Itimerspec>,
) -> KResult<u64> {
    let t = PosixTimer::find(ctx.process(), timerid)?;
    let (left, interval) = t.get();
    ctx.write(curr, &itimerspec(left, interval))?;
    Ok(0)
}

pub async fn sys_timer_getoverrun(ctx: &mut Ctx<'_>, timerid: i32) -> KResult<u64> {
    let t = PosixTimer::find(ctx.process(), timerid)?;
    Ok(t.overrun() as u64)
}

pub async fn sys_timer_delete(ctx: &mut Ctx<'_>, timerid: i32) -> KResult<u64> {
    let t = ctx
        .process()
        .posix_timers
        .lock()
        .remove(&timerid)
        .ok_or(Errno::EINVAL)?;
    t.delete();
    Ok(0)
}

// ---- timerfd ---------------------------------------------------------------------

const TFD_CLOEXEC: u32 = kestrel_abi::fs::O_CLOEXEC;
const TFD_NONBLOCK: u32 = kestrel_abi::fs::O_NONBLOCK;

pub async fn sys_timerfd_create(ctx: &mut Ctx<'_>, clk: i32, flags: u32) -> KResult<u64> {
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    if !matches!(
        clk,
        CLOCK_REALTIME
            | CLOCK_MONOTONIC
            | CLOCK_BOOTTIME
            | CLOCK_REALTIME_ALARM
            | CLOCK_BOOTTIME_ALARM
    ) {
        return Err(Errno::EINVAL);
    }
    let clock = Clock::from_id(ctx.thread, clk)?;
    let file = crate::fs::anon::anon_file(TimerFd::new(clock), O_RDWR | (flags & TFD_NONBLOCK));
    ctx.install(file, flags & TFD_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_timerfd_settime(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    flags: u32,
    new_ptr: UserPtr<Itimerspec>,
    old_ptr: UserPtr<Itimerspec>,
) -> KResult<u64> {
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let (value, interval) = read_itimerspec(ctx, new_ptr)?;
    let file = ctx.file(fd)?;
    let tfd = TimerFd::of(&file).ok_or(Errno::EINVAL)?;
    let (left, old_interval) = tfd.get();
    tfd.set(
        first_expiry(&tfd.clock, value, flags & TFD_TIMER_ABSTIME != 0),
        interval,
    );
    if !old_ptr.is_null() {
        ctx.write(old_ptr, &itimerspec(left, old_interval))?;
    }
    Ok(0)
}

pub async fn sys_timerfd_gettime(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    curr: UserPtr<Itimerspec>,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let tfd = TimerFd::of(&file).ok_or(Errno::EINVAL)?;
    let (left, interval) = tfd.get();
    ctx.write(curr, &itimerspec(left, interval))?;
    Ok(0)
}

// ---- eventfd and signalfd -------------------------------------------------------

const EFD_SEMAPHORE: u32 = 1;

fn eventfd(ctx: &Ctx<'_>, initval: u32, flags: u32) -> KResult<u64> {
    let (cloexec, nonblock) = (kestrel_abi::fs::O_CLOEXEC, kestrel_abi::fs::O_NONBLOCK);
    if flags & !(cloexec | nonblock | EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = kestrel_vfs::eventfd::EventFd::new(initval, flags & EFD_SEMAPHORE != 0);
    let file = crate::fs::anon::anon_file(ops, O_RDWR | (flags & nonblock));
    ctx.install(file, flags & cloexec != 0).map(|fd| fd as u64)
}

pub async fn sys_eventfd(ctx: &mut Ctx<'_>, initval: u32) -> KResult<u64> {
    eventfd(ctx, initval, 0)
}

pub async fn sys_eventfd2(ctx: &mut Ctx<'_>, initval: u32, flags: u32) -> KResult<u64> {
    eventfd(ctx, initval, flags)
}

fn signalfd(
    ctx: &Ctx<'_>,
    fd: Fd,
    mask_ptr: UserPtr<u64>,
    size: usize,
    flags: u32,
) -> KResult<u64> {
    use crate::fs::signalfd::SignalFd;
    let (cloexec, nonblock) = (kestrel_abi::fs::O_CLOEXEC, kestrel_abi::fs::O_NONBLOCK);
    if flags & !(cloexec | nonblock) != 0 || size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = ctx.read(mask_ptr)?;
    if fd != -1 {
        let file = ctx.file(fd)?;
        let sfd = SignalFd::of(&file).ok_or(Errno::EINVAL)?;
        sfd.set_mask(mask);
        return Ok(fd as u64);
    }
    let file = crate::fs::anon::anon_file(SignalFd::new(mask), O_RDWR | (flags & nonblock));
    ctx.install(file, flags & cloexec != 0).map(|fd| fd as u64)
}

pub async fn sys_signalfd(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    mask: UserPtr<u64>,
    sizemask: usize,
) -> KResult<u64> {
    signalfd(ctx, fd, mask, sizemask, 0)
}

pub async fn sys_signalfd4(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    mask: UserPtr<u64>,
    sizemask: usize,
    flags: u32,
) -> KResult<u64> {
    signalfd(ctx, fd, mask, sizemask, flags)
}
