//! Clocks and sleeping.

use kestrel_abi::time::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::process::signal::{Restart, interruptible};
use crate::process::timers::Clock;
use crate::{task, time};

/// The value of clock `clk` in nanoseconds (EINVAL for an unknown clock).
fn clock_ns(ctx: &Ctx<'_>, clk: i32) -> KResult<u64> {
    // The two clocks programs read most, without building a `Clock` (two
    // jumps on the id and the variant, a call each): the same readings as
    // `Clock::now` gives for them.
    match clk {
        CLOCK_REALTIME => Ok(time::realtime_ns()),
        CLOCK_MONOTONIC => Ok(Clock::monotonic_now(ctx.thread)),
        _ => Ok(Clock::from_id(ctx.thread, clk)?.now()),
    }
}

/// clock_gettime(2), which never waits: run without a future
/// (`syscall::call_now`).
pub fn clock_gettime(ctx: &Ctx<'_>, clockid: i32, tp: UserPtr<Timespec>) -> KResult<u64> {
    let ns = clock_ns(ctx, clockid)?;
    ctx.write(tp, &Timespec::from_ns(ns))?;
    Ok(0)
}

pub async fn sys_clock_gettime(
    ctx: &mut Ctx<'_>,
    clockid: i32,
    tp: UserPtr<Timespec>,
) -> KResult<u64> {
    clock_gettime(ctx, clockid, tp)
}

pub async fn sys_clock_getres(
    ctx: &mut Ctx<'_>,
    clockid: i32,
    res: UserPtr<Timespec>,
) -> KResult<u64> {
    let clock = Clock::from_id(ctx.thread, clockid)?;
    if !res.is_null() {
        // Every clock here reads the TSC, so all of them resolve single nanoseconds
        // (the coarse ones too: they are not tick-based).
        let _ = clock;
        ctx.write(
            res,
            &Timespec {
                tv_sec: 0,
                tv_nsec: 1,
            },
        )?;
    }
    Ok(0)
}

/// Sets the wall clock: CAP_SYS_TIME only.
fn set_realtime(ctx: &Ctx<'_>, ns: u64) -> KResult<()> {
    if !ctx.capable(kestrel_abi::cap::CAP_SYS_TIME) {
        return Err(Errno::EPERM);
    }
    time::set_realtime(ns);
    Ok(())
}

pub async fn sys_clock_settime(
    ctx: &mut Ctx<'_>,
    clockid: i32,
    tp: UserPtr<Timespec>,
) -> KResult<u64> {
    let clock = Clock::from_id(ctx.thread, clockid)?;
    let ts: Timespec = ctx.read(tp)?;
    match clock {
        Clock::Realtime => {
            let ns = ts.to_ns().ok_or(Errno::EINVAL)?;
            set_realtime(ctx, ns)?;
            Ok(0)
        }
        // Linux: a CPU clock named by a pid or tid (a negative id) cannot be
        // set (EPERM); CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID,
        // like the other clocks, have no way to be set at all (EINVAL).
        Clock::ProcessCpu(..) | Clock::ThreadCpu(..) if clockid < 0 => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

pub async fn sys_gettimeofday(
    ctx: &mut Ctx<'_>,
    tv: UserPtr<Timeval>,
    tz: UserPtr<Timezone>,
) -> KResult<u64> {
    if !tv.is_null() {
        ctx.write(tv, &Timeval::from_ns(time::realtime_ns()))?;
    }
    if !tz.is_null() {
        let (tz_minuteswest, tz_dsttime) = time::timezone();
        ctx.write(
            tz,
            &Timezone {
                tz_minuteswest,
                tz_dsttime,
            },
        )?;
    }
    Ok(0)
}

pub async fn sys_settimeofday(
    ctx: &mut Ctx<'_>,
    tv: UserPtr<Timeval>,
    tz: UserPtr<Timezone>,
) -> KResult<u64> {
    let tv: Option<Timeval> = if !tv.is_null() {
        Some(ctx.read(tv)?)
    } else {
        None
    };
    let tz: Option<Timezone> = if !tz.is_null() {
        Some(ctx.read(tz)?)
    } else {
        None
    };
    let ns = tv.map(|tv| tv.to_ns().ok_or(Errno::EINVAL)).transpose()?;
    if let Some(tz) = tz {
        // Minutes west must be within a day either way.
        if !(-15 * 60..=15 * 60).contains(&tz.tz_minuteswest) {
            return Err(Errno::EINVAL);
        }
    }
    if !ctx.capable(kestrel_abi::cap::CAP_SYS_TIME) {
        return Err(Errno::EPERM);
    }
    if let Some(tz) = tz {
        time::set_timezone(tz.tz_minuteswest, tz.tz_dsttime);
    }
    if let Some(ns) = ns {
        set_realtime(ctx, ns)?;
    }
    Ok(0)
}

/// The NTP state adjtimex reports: the clock is free-running and unsynchronised,
/// with no frequency correction. Changes are accepted from CAP_SYS_TIME and kept for
/// reading back; ADJ_SETOFFSET steps the clock. No slewing is done.
static NTP: spin::Mutex<Timex> = spin::Mutex::new(Timex {
    modes: 0,
    _pad0: 0,
    offset: 0,
    freq: 0,
    maxerror: 16_000_000,
    esterror: 16_000_000,
    status: STA_UNSYNC,
    _pad1: 0,
    constant: 2,
    precision: 1,
    tolerance: 32_768_000,
    time: Timeval {
        tv_sec: 0,
        tv_usec: 0,
    },
    tick: 10_000,
    ppsfreq: 0,
    jitter: 0,
    shift: 0,
    _pad2: 0,
    stabil: 0,
    jitcnt: 0,
    calcnt: 0,
    errcnt: 0,
    stbcnt: 0,
    tai: 0,
    _reserved: [0; 11],
});

fn adjtime(ctx: &Ctx<'_>, ptr: UserPtr<Timex>) -> KResult<u64> {
    let req: Timex = ctx.read(ptr)?;
    let modes = req.modes;
    // ADJ_ADJTIME (0x8000, adjtime(3)'s bit) goes only with ADJ_OFFSET (the
    // single-shot form): alone or with other modes it is EINVAL, before any
    // permission check (Linux's timekeeping_validate_timex).
    if modes & 0x8000 != 0 && modes & 0x0001 == 0 {
        return Err(Errno::EINVAL);
    }
    let read_only = modes == 0 || modes == ADJ_OFFSET_SS_READ;
    if !read_only {
        if !ctx.capable(kestrel_abi::cap::CAP_SYS_TIME) {
            return Err(Errno::EPERM);
        }
        if modes & ADJ_TICK != 0 && !(9000..=11000).contains(&req.tick) {
            return Err(Errno::EINVAL);
        }
        if modes & ADJ_SETOFFSET != 0 {
            // The offset is a timeval, or a timespec-like pair with ADJ_NANO.
            let (sec, sub) = (req.time.tv_sec, req.time.tv_usec);
            let sub_ns = if modes & ADJ_NANO != 0 {
                sub
            } else {
                sub.saturating_mul(1000)
            };
            if !(0..1_000_000_000).contains(&sub_ns) {
                return Err(Errno::EINVAL);
            }
            let delta = sec.saturating_mul(1_000_000_000).saturating_add(sub_ns);
            let now = time::realtime_ns() as i64;
            time::set_realtime(now.saturating_add(delta).max(0) as u64);
        }
    }
    let mut ntp = NTP.lock();
    if !read_only {
        if modes & ADJ_FREQUENCY != 0 {
            ntp.freq = req.freq;
        }
        if modes & ADJ_MAXERROR != 0 {
            ntp.maxerror = req.maxerror;
        }
        if modes & ADJ_ESTERROR != 0 {
            ntp.esterror = req.esterror;
        }
        if modes & ADJ_STATUS != 0 {
            ntp.status = req.status;
        }
        if modes & ADJ_TIMECONST != 0 {
            ntp.constant = req.constant;
        }
        if modes & ADJ_TICK != 0 {
            ntp.tick = req.tick;
        }
        if modes & ADJ_TAI != 0 && req.constant >= 0 {
            ntp.tai = req.constant as i32;
        }
    }
    let mut out = *ntp;
    drop(ntp);
    out.modes = modes;
    out.time = Timeval::from_ns(time::realtime_ns());
    if out.status & STA_NANO != 0 {
        out.time.tv_usec = (time::realtime_ns() % 1_000_000_000) as i64;
    }
    ctx.write(ptr, &out)?;
    Ok(if out.status & STA_UNSYNC != 0 {
        TIME_ERROR
    } else {
        TIME_OK
    })
}

pub async fn sys_adjtimex(ctx: &mut Ctx<'_>, buf: UserPtr<Timex>) -> KResult<u64> {
    adjtime(ctx, buf)
}

pub async fn sys_clock_adjtime(
    ctx: &mut Ctx<'_>,
    clockid: i32,
    buf: UserPtr<Timex>,
) -> KResult<u64> {
    match Clock::from_id(ctx.thread, clockid)? {
        Clock::Realtime => adjtime(ctx, buf),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

pub async fn sys_time(ctx: &mut Ctx<'_>, tloc: UserPtr<i64>) -> KResult<u64> {
    let secs = time::realtime_ns() / 1_000_000_000;
    if !tloc.is_null() {
        ctx.write(tloc, &(secs as i64))?;
    }
    Ok(secs)
}

/// Sleeps until `deadline` (monotonic ns). Interrupted by a signal, it writes the
/// time left to `rem` (if not 0) and leaves a restart block so restart_syscall can
/// finish the sleep when no handler runs (Linux's hrtimer_nanosleep_restart).
pub async fn sleep_until(ctx: &Ctx<'_>, deadline: u64, rem: UserPtr<Timespec>) -> KResult<u64> {
    let sleep = async {
        task::sleep_until(deadline).await;
        Ok(0)
    };
    match interruptible(ctx.thread, Errno::ERESTART_RESTARTBLOCK, sleep).await {
        Ok(v) => Ok(v),
        Err(e) => {
            if !rem.is_null() {
                ctx.write(
                    rem,
                    &Timespec::from_ns(deadline.saturating_sub(time::now_ns())),
                )?;
            }
            ctx.thread.set_restart(Restart::Sleep { deadline, rem });
            Err(e)
        }
    }
}

pub async fn sys_nanosleep(
    ctx: &mut Ctx<'_>,
    req: UserPtr<Timespec>,
    rem: UserPtr<Timespec>,
) -> KResult<u64> {
    let req: Timespec = ctx.read(req)?;
    let ns = req.to_ns().ok_or(Errno::EINVAL)?;
    sleep_until(ctx, time::now_ns().saturating_add(ns), rem).await
}

pub async fn sys_clock_nanosleep(
    ctx: &mut Ctx<'_>,
    clk: i32,
    flags: i32,
    req: UserPtr<Timespec>,
    rem: UserPtr<Timespec>,
) -> KResult<u64> {
    let clock = Clock::from_id(ctx.thread, clk)?;
    match clock {
        // The calling thread's own CPU clock cannot advance while it sleeps.
        Clock::ThreadCpu(..) if clk == CLOCK_THREAD_CPUTIME_ID => return Err(Errno::EOPNOTSUPP),
        Clock::ThreadCpu(..) => return Err(Errno::EINVAL),
        _ if !clock.has_timers() => return Err(Errno::EOPNOTSUPP),
        _ => {}
    }
    let req: Timespec = ctx.read(req)?;
    let ns = req.to_ns().ok_or(Errno::EINVAL)?;
    let abstime = flags & TIMER_ABSTIME != 0;
    if let Clock::ProcessCpu(..) = clock {
        // Until the process's CPU time reaches the target (other threads burn it);
        // CPU time advances no faster than wall time on one CPU, so sleep the gap
        // and look again.
        let target = if abstime {
            ns
        } else {
            clock.now().saturating_add(ns)
        };
        let sleep = async {
            loop {
                let now = clock.now();
                if now >= target {
                    return Ok(0);
                }
                task::sleep(target - now).await;
            }
        };
        return interruptible(ctx.thread, Errno::ERESTARTNOHAND, sleep).await;
    }
    if abstime {
        // An absolute sleep is simply restarted (no time left to report).
        let deadline = clock.to_monotonic(ns);
        let sleep = async {
            task::sleep_until(deadline).await;
            Ok(0)
        };
        return interruptible(ctx.thread, Errno::ERESTARTNOHAND, sleep).await;
    }
    sleep_until(ctx, time::now_ns().saturating_add(ns), rem).await
}

/// Clock ticks per second as times(2) and AT_CLKTCK report them (USER_HZ).
const USER_HZ: u64 = 100;

pub async fn sys_times(ctx: &mut Ctx<'_>, buf: UserPtr<[i64; 4]>) -> KResult<u64> {
    let (u, s) = ctx.process().cpu_time();
    let (cu, cs) = ctx.process().children_cpu.get();
    let ticks = |ns: u64| ns / (1_000_000_000 / USER_HZ);
    if !buf.is_null() {
        ctx.write(
            buf,
            &[ticks(u), ticks(s), ticks(cu), ticks(cs)].map(|t| t as i64),
        )?;
    }
    // Ticks since an arbitrary point: Linux starts its tick counter 300 s before 2^32
    // (INITIAL_JIFFIES) so wrap-around bugs show early; programs only use differences.
    const INITIAL_TICKS: u64 = (1 << 32) - 300 * USER_HZ;
    Ok(INITIAL_TICKS + ticks(time::now_ns()))
}

/// Fills a struct rusage from CPU times.
pub fn rusage((user, system): (u64, u64)) -> kestrel_abi::process::Rusage {
    kestrel_abi::process::Rusage {
        ru_utime: Timeval::from_ns(user),
        ru_stime: Timeval::from_ns(system),
        ..Default::default()
    }
}

/// `r` with (voluntary, involuntary) context switches.
pub fn with_switches(
    r: kestrel_abi::process::Rusage,
    (v, i): (u64, u64),
) -> kestrel_abi::process::Rusage {
    kestrel_abi::process::Rusage {
        ru_nvcsw: v as i64,
        ru_nivcsw: i as i64,
        ..r
    }
}

pub async fn sys_getrusage(
    ctx: &mut Ctx<'_>,
    who: i32,
    usage: UserPtr<kestrel_abi::process::Rusage>,
) -> KResult<u64> {
    const RUSAGE_SELF: i32 = 0;
    const RUSAGE_CHILDREN: i32 = -1;
    const RUSAGE_THREAD: i32 = 1;
    let p = ctx.process();
    let r = match who {
        RUSAGE_SELF => kestrel_abi::process::Rusage {
            ru_maxrss: p.sample_rss() as i64,
            ..with_switches(rusage(p.cpu_time()), p.switches())
        },
        RUSAGE_CHILDREN => kestrel_abi::process::Rusage {
            ru_maxrss: p.cmaxrss_kb.load(core::sync::atomic::Ordering::Relaxed) as i64,
            ..with_switches(rusage(p.children_cpu.get()), p.children_cpu.switches())
        },
        RUSAGE_THREAD => kestrel_abi::process::Rusage {
            ru_maxrss: p.sample_rss() as i64,
            ..with_switches(rusage(ctx.thread.cpu.split()), ctx.thread.cpu.switches())
        },
        _ => return Err(Errno::EINVAL),
    };
    ctx.write(usage, &r)?;
    Ok(0)
}
