//! futex_wake(2), futex_wait(2) and futex_requeue(2) (Linux 6.7): the futex2
//! calls, on the futex table of [`crate::futex`] that futex(2) uses, so a
//! waiter of either family is woken by the other.
//!
//! Each futex is described by FUTEX2 flags: a size (only FUTEX2_SIZE_U32 is
//! implemented, as in Linux; the others are EINVAL) and FUTEX2_PRIVATE. Values
//! and masks must fit the size (EINVAL). FUTEX2_NUMA (Linux 6.16) is EINVAL:
//! Kestrel keeps no per-node futex tables.

use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::futex;
use crate::process::signal::interruptible;
use crate::{task, time};

const FUTEX2_SIZE_U32: u32 = 0x02;
const FUTEX2_SIZE_MASK: u32 = 0x03;
const FUTEX2_PRIVATE: u32 = 128;
/// The flags known here (Linux 6.7's FUTEX2_VALID_MASK).
const FUTEX2_VALID_MASK: u32 = FUTEX2_SIZE_MASK | FUTEX2_PRIVATE;
const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;

/// Checks FUTEX2 `flags` (unknown bits, a size other than 32 bits: EINVAL);
/// whether the futex is private.
fn check_flags(flags: u32) -> KResult<bool> {
    if flags & !FUTEX2_VALID_MASK != 0 || flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 {
        return Err(Errno::EINVAL);
    }
    Ok(flags & FUTEX2_PRIVATE != 0)
}

/// A value or mask for a 32-bit futex: EINVAL if it does not fit.
fn fits(v: u64) -> KResult<u32> {
    u32::try_from(v).map_err(|_| Errno::EINVAL)
}

/// The key of the 32-bit futex at `uaddr`: EINVAL unless aligned to 4.
fn key(ctx: &Ctx<'_>, uaddr: UserPtr<u32>, private: bool) -> KResult<futex::Key> {
    if !uaddr.addr().is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    ctx.mm().futex_key(uaddr, private)
}

/// futex_wake(2): wakes up to `nr` waiters on the futex at `uaddr` whose
/// bitset shares a bit with `mask` (FUTEX_WAKE_BITSET); the number woken.
/// `nr` 0 wakes none.
pub async fn sys_futex_wake(
    ctx: &mut Ctx<'_>,
    uaddr: UserPtr<u32>,
    mask: u64,
    nr: i32,
    flags: u32,
) -> KResult<u64> {
    let private = check_flags(flags)?;
    let mask = fits(mask)?;
    if mask == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key(ctx, uaddr, private)?;
    if nr == 0 {
        return Ok(0);
    }
    // Linux counts a waker before comparing: a negative count wakes one.
    let n = if nr < 0 { 1 } else { nr as usize };
    Ok(futex::wake(k, n, mask) as u64)
}

/// futex_wait(2): waits on the futex at `uaddr` while it holds `val`, until a
/// wake whose mask shares a bit with `mask`, the absolute `timeout` on
/// `clockid` (CLOCK_MONOTONIC or CLOCK_REALTIME; ETIMEDOUT) or a signal
/// (ERESTARTSYS: restarted after a handler with SA_RESTART, the absolute
/// timeout unchanged).
pub async fn sys_futex_wait(
    ctx: &mut Ctx<'_>,
    uaddr: UserPtr<u32>,
    val: u64,
    mask: u64,
    flags: u32,
    timeout: UserPtr<Timespec>,
    clockid: i32,
) -> KResult<u64> {
    let private = check_flags(flags)?;
    let (val, mask) = (fits(val)?, fits(mask)?);
    let deadline = if timeout.is_null() {
        None
    } else {
        if clockid != CLOCK_REALTIME && clockid != CLOCK_MONOTONIC {
            return Err(Errno::EINVAL);
        }
        let ts: Timespec = ctx.read(timeout)?;
        let abs = ts.to_ns().ok_or(Errno::EINVAL)?;
        Some(if clockid == CLOCK_MONOTONIC {
            abs
        } else {
            time::now_ns().saturating_add(abs.saturating_sub(time::realtime_ns()))
        })
    };
    if mask == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key(ctx, uaddr, private)?;
    let mm = ctx.mm();
    // Read once to fault the page in (EFAULT), then again where a waker cannot
    // come in between.
    if mm.read(uaddr)? != val {
        return Err(Errno::EAGAIN);
    }
    let queued =
        futex::enqueue_if(k, mask, || mm.read(uaddr).map(|v| v == val))?.ok_or(Errno::EAGAIN)?;
    let woken = async {
        queued.await;
        Ok(0)
    };
    match deadline {
        None => interruptible(ctx.thread, Errno::ERESTARTSYS, woken).await,
        Some(d) => {
            let timed = async {
                task::timeout(d.saturating_sub(time::now_ns()), woken)
                    .await
                    .map_err(|_| Errno::ETIMEDOUT)?
            };
            interruptible(ctx.thread, Errno::ERESTARTSYS, timed).await
        }
    }
}

/// futex_requeue(2): FUTEX_CMP_REQUEUE between two futexes each described by
/// a `struct futex_waitv` (val, uaddr, flags, reserved): wakes up to
/// `nr_wake` waiters of the first and moves up to `nr_requeue` of the rest to
/// the second, if the first still holds its `val` (EAGAIN otherwise); the
/// number woken and moved.
pub async fn sys_futex_requeue(
    ctx: &mut Ctx<'_>,
    waiters: UserPtr<u8>,
    flags: u32,
    nr_wake: i32,
    nr_requeue: i32,
) -> KResult<u64> {
    if flags != 0 || waiters.is_null() {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; 48];
    let mut parsed = [(UserPtr::<u32>::new(0), 0u32, false); 2];
    for (i, p) in parsed.iter_mut().enumerate() {
        let w = &mut raw[24 * i..24 * (i + 1)];
        ctx.mm().read_slice(
            UserPtr::<u8>::new(waiters.addr().wrapping_add(24 * i as u64)),
            w,
        )?;
        let u64_at = |o: usize| u64::from_ne_bytes(w[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_ne_bytes(w[o..o + 4].try_into().unwrap_or_default());
        let (val, uaddr, wflags, reserved) = (u64_at(0), u64_at(8), u32_at(16), u32_at(20));
        if wflags & !FUTEX2_VALID_MASK != 0 || reserved != 0 {
            return Err(Errno::EINVAL);
        }
        let private = check_flags(wflags)?;
        *p = (UserPtr::new(uaddr), fits(val)?, private);
    }
    if nr_wake < 0 || nr_requeue < 0 {
        return Err(Errno::EINVAL);
    }
    let [(u1, cmpval, p1), (u2, _, p2)] = parsed;
    let (k1, k2) = (key(ctx, u1, p1)?, key(ctx, u2, p2)?);
    if ctx.mm().read(u1)? != cmpval {
        return Err(Errno::EAGAIN);
    }
    let (woken, moved) = futex::requeue(k1, k2, nr_wake as usize, nr_requeue as usize);
    Ok((woken + moved) as u64)
}
