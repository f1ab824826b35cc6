//! Clocks and sleeping.

use kestrel_abi::time::*;
use kestrel_abi::{Errno, KResult};

use super::{Args, Ctx, arg_i32};
use crate::{task, time};

/// The value of clock `clk` in nanoseconds (EINVAL for an unknown clock).
fn clock_ns(ctx: &Ctx<'_>, clk: i32) -> KResult<u64> {
    Ok(match clk {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_TAI | CLOCK_REALTIME_ALARM => {
            time::realtime_ns()
        }
        CLOCK_MONOTONIC
        | CLOCK_MONOTONIC_RAW
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_BOOTTIME_ALARM => time::now_ns(),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            time::now_ns().saturating_sub(ctx.process().start_ns)
        }
        _ => return Err(Errno::EINVAL),
    })
}

pub async fn sys_clock_gettime(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let ns = clock_ns(ctx, arg_i32(a[0]))?;
    ctx.write(a[1], &Timespec::from_ns(ns))?;
    Ok(0)
}

pub async fn sys_clock_getres(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    clock_ns(ctx, arg_i32(a[0]))?;
    if a[1] != 0 {
        ctx.write(
            a[1],
            &Timespec {
                tv_sec: 0,
                tv_nsec: 1,
            },
        )?;
    }
    Ok(0)
}

pub async fn sys_gettimeofday(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    if a[0] != 0 {
        ctx.write(a[0], &Timeval::from_ns(time::realtime_ns()))?;
    }
    if a[1] != 0 {
        ctx.write(a[1], &Timezone::default())?;
    }
    Ok(0)
}

pub async fn sys_time(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let secs = time::realtime_ns() / 1_000_000_000;
    if a[0] != 0 {
        ctx.write(a[0], &secs)?;
    }
    Ok(secs)
}

pub async fn sys_nanosleep(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let req: Timespec = ctx.read(a[0])?;
    let ns = req.to_ns().ok_or(Errno::EINVAL)?;
    task::sleep(ns).await;
    Ok(0)
}

pub async fn sys_clock_nanosleep(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (clk, flags) = (arg_i32(a[0]), a[1] as i32);
    let req: Timespec = ctx.read(a[2])?;
    let ns = req.to_ns().ok_or(Errno::EINVAL)?;
    if matches!(clk, CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EINVAL);
    }
    let now = clock_ns(ctx, clk)?;
    let wait = if flags & TIMER_ABSTIME != 0 {
        ns.saturating_sub(now)
    } else {
        ns
    };
    task::sleep(wait).await;
    Ok(0)
}
