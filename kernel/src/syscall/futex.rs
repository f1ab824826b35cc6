//! futex(2), set_robust_list and get_robust_list.

use core::sync::atomic::Ordering;

use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use super::args::*;
use super::{Args, Ctx};
use crate::futex;
use crate::mm::callbox::CallBox;
use crate::mm::vm::AddressSpace;
use crate::process::signal::{Restart, interruptible};
use crate::{process, task, time};

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
const FUTEX_LOCK_PI2: u32 = 13;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// Robust-futex word bits (futex(2), "Robust futexes").
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Entries walked on a robust list at most (ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;
/// sizeof(struct robust_list_head).
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

fn read_u32(mm: &AddressSpace, addr: UserPtr<u32>) -> KResult<u32> {
    mm.read(addr)
}

/// FUTEX_WAKE_OP's operation on the second word and its comparison
/// (the `FUTEX_OP(op, oparg, cmp, cmparg)` encoding of val3).
fn wake_op(encoded: u32, old: u32) -> KResult<(u32, bool)> {
    let sext12 = |v: u32| ((v << 20) as i32) >> 20;
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    let mut oparg = sext12((encoded >> 12) & 0xfff);
    let cmparg = sext12(encoded & 0xfff);
    if encoded & (8 << 28) != 0 {
        // FUTEX_OP_OPARG_SHIFT: the argument is a shift count.
        if !(0..32).contains(&oparg) {
            return Err(Errno::EINVAL);
        }
        oparg = 1 << oparg;
    }
    let oparg = oparg as u32;
    let new = match op {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(Errno::ENOSYS),
    };
    let o = old as i32;
    let hit = match cmp {
        0 => o == cmparg,
        1 => o != cmparg,
        2 => o < cmparg,
        3 => o <= cmparg,
        4 => o > cmparg,
        5 => o >= cmparg,
        _ => return Err(Errno::ENOSYS),
    };
    Ok((new, hit))
}

/// Waits on the futex at `uaddr` while it holds `val`, until woken with a bit of
/// `bitset` or until `deadline` (monotonic ns).
///
/// A signal ends a wait without a deadline with ERESTARTSYS (restarted after a
/// handler with SA_RESTART); one with a deadline leaves a restart block, so only a
/// signal without a handler (a stop and continue) resumes it, as in Linux.
///
/// Not an `async fn`: the checks and the queueing are synchronous and happen
/// here, and the future is only the wait itself (the untimed one, what a
/// thread parked in `pthread_cond_wait` or a mutex keeps, a few dozen bytes;
/// the timed one out of line).
pub fn wait<'a>(
    ctx: &'a Ctx<'_>,
    uaddr: UserPtr<u32>,
    val: u32,
    bitset: u32,
    private: bool,
    deadline: Option<u64>,
) -> impl core::future::Future<Output = KResult<u64>> + Send + 'a {
    wait_call(ctx, uaddr, val, bitset, private, deadline)
}

/// [`wait`], its future's type open enough for [`sys_futex`] to answer other
/// operations with it.
fn wait_call<'a>(
    ctx: &'a Ctx<'_>,
    uaddr: UserPtr<u32>,
    val: u32,
    bitset: u32,
    private: bool,
    deadline: Option<u64>,
) -> WaitCall<
    impl core::future::Future<Output = KResult<u64>> + Send + 'a,
    impl core::future::Future<Output = KResult<u64>> + Send + 'a,
> {
    let queued = match queue(ctx, uaddr, val, bitset, private) {
        Ok(q) => q,
        Err(e) => return WaitCall::Done(Some(Err(e))),
    };
    match deadline {
        None => WaitCall::Untimed(interruptible(ctx.thread, Errno::ERESTARTSYS, Woken(queued))),
        Some(d) => {
            let timed = CallBox::new_with(|| {
                wait_until_deadline(ctx, queued, uaddr, val, bitset, private, d)
            });
            match timed {
                Some(t) => WaitCall::Timed(t),
                None => WaitCall::Done(Some(Err(Errno::ENOMEM))),
            }
        }
    }
}

/// FUTEX_WAIT's checks and its place in the queue: EAGAIN when the word no
/// longer holds `val`.
fn queue(
    ctx: &Ctx<'_>,
    uaddr: UserPtr<u32>,
    val: u32,
    bitset: u32,
    private: bool,
) -> KResult<futex::FutexWait> {
    let mm = ctx.mm();
    let key = mm.futex_key(uaddr, private)?;
    // Read once to fault the page in (and fail with EFAULT), then again where a
    // waker cannot come in between (futex::enqueue_if).
    if read_u32(&mm, uaddr)? != val {
        return Err(Errno::EAGAIN);
    }
    crate::trace::record(
        crate::trace::Kind::FutexWait,
        ctx.thread.tid().into(),
        uaddr.addr(),
    );
    futex::enqueue_if(key, bitset, || read_u32(&mm, uaddr).map(|v| v == val))?.ok_or(Errno::EAGAIN)
}

/// [`wait`]'s future: its result already, or the wait.
#[pin_project::pin_project(project = WaitCallProj)]
enum WaitCall<U, T> {
    Done(Option<KResult<u64>>),
    Untimed(#[pin] U),
    Timed(#[pin] T),
}

impl<U, T> core::future::Future for WaitCall<U, T>
where
    U: core::future::Future<Output = KResult<u64>>,
    T: core::future::Future<Output = KResult<u64>>,
{
    type Output = KResult<u64>;
    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<KResult<u64>> {
        match self.project() {
            WaitCallProj::Done(r) => {
                core::task::Poll::Ready(r.take().unwrap_or(Err(Errno::EINVAL)))
            }
            WaitCallProj::Untimed(u) => u.poll(cx),
            WaitCallProj::Timed(t) => t.poll(cx),
        }
    }
}

/// A queued futex wait, as a call's result (0 once woken).
struct Woken(futex::FutexWait);

impl core::future::Future for Woken {
    type Output = KResult<u64>;
    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<KResult<u64>> {
        core::pin::Pin::new(&mut self.0).poll(cx).map(|()| Ok(0))
    }
}

/// The rest of a FUTEX_WAIT with a timeout, once queued.
async fn wait_until_deadline(
    ctx: &Ctx<'_>,
    queued: futex::FutexWait,
    uaddr: UserPtr<u32>,
    val: u32,
    bitset: u32,
    private: bool,
    d: u64,
) -> KResult<u64> {
    let woken = Woken(queued);
    let timed = async {
        task::timeout(d.saturating_sub(time::now_ns()), woken)
            .await
            .map_err(|_| Errno::ETIMEDOUT)?
    };
    let r = interruptible(ctx.thread, Errno::ERESTART_RESTARTBLOCK, timed).await;
    if r == Err(Errno::ERESTART_RESTARTBLOCK) {
        ctx.thread.set_restart(Restart::FutexWait {
            uaddr,
            val,
            bitset,
            private,
            deadline: d,
        });
    }
    r
}

/// futex(2). Every operation but FUTEX_WAIT is synchronous, and FUTEX_WAIT's
/// checks and queueing too: the call's future is [`wait`]'s (the wait itself)
/// or the result already.
pub fn sys_futex<'a>(
    ctx: &'a mut Ctx<'_>,
    uaddr: UserPtr<u32>,
    op: u32,
    val: u32,
    timeout_or_val2: u64,
    uaddr2: UserPtr<u32>,
    val3: u32,
) -> impl core::future::Future<Output = KResult<u64>> + Send + 'a {
    let ctx: &'a Ctx<'_> = ctx;
    match futex_now(ctx, uaddr, op, val, timeout_or_val2, uaddr2, val3) {
        Ok(Now::Wait {
            bitset,
            private,
            deadline,
        }) => wait_call(ctx, uaddr, val, bitset, private, deadline),
        Ok(Now::Done(n)) => WaitCall::Done(Some(Ok(n))),
        Err(e) => WaitCall::Done(Some(Err(e))),
    }
}

/// futex(2)'s wakes (FUTEX_WAKE, FUTEX_WAKE_BITSET) for the fast path
/// ([`super::call_now`]): they never wait, and the waker of a futex
/// hand-off goes back to user mode without its thread's loop. `None`, with
/// nothing done, for every other operation (and for a key whose page is not
/// loaded yet: the general path loads it and runs the call again).
#[inline(never)]
pub fn wake_now(ctx: &Ctx<'_>, args: Args) -> Option<KResult<u64>> {
    let mut a = Regs::new(args);
    let uaddr: UserPtr<u32> = a.next();
    let op: u32 = a.next();
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if !matches!(cmd, FUTEX_WAKE | FUTEX_WAKE_BITSET) {
        return None;
    }
    let val: u32 = a.next();
    let timeout: u64 = a.next();
    let uaddr2: UserPtr<u32> = a.next();
    let val3: u32 = a.next();
    let r = futex_now(ctx, uaddr, op, val, timeout, uaddr2, val3);
    if ctx.thread.pending_load_is_set() {
        return None;
    }
    match r {
        Ok(Now::Done(n)) => Some(Ok(n)),
        Ok(Now::Wait { .. }) => None,
        Err(e) => Some(Err(e)),
    }
}

/// What futex(2) did at once, or the wait it is to make.
enum Now {
    Done(u64),
    Wait {
        bitset: u32,
        private: bool,
        deadline: Option<u64>,
    },
}

fn futex_now(
    ctx: &Ctx<'_>,
    uaddr: UserPtr<u32>,
    op: u32,
    val: u32,
    timeout_or_val2: u64,
    uaddr2: UserPtr<u32>,
    val3: u32,
) -> KResult<Now> {
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    if op & FUTEX_CLOCK_REALTIME != 0
        && !matches!(
            cmd,
            FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
        )
    {
        return Err(Errno::ENOSYS);
    }
    if !uaddr.addr().is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let mm = ctx.mm();
    let done = match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT {
                FUTEX_BITSET_MATCH_ANY
            } else {
                val3
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let deadline = if timeout_or_val2 != 0 {
                let t: Timespec = ctx.read(UserPtr::new(timeout_or_val2))?;
                let ns = t.to_ns().ok_or(Errno::EINVAL)?;
                // FUTEX_WAIT's timeout is relative; WAIT_BITSET's is absolute, on
                // CLOCK_MONOTONIC or (with FUTEX_CLOCK_REALTIME) CLOCK_REALTIME.
                Some(if cmd == FUTEX_WAIT {
                    time::now_ns().saturating_add(ns)
                } else if op & FUTEX_CLOCK_REALTIME != 0 {
                    time::now_ns().saturating_add(ns.saturating_sub(time::realtime_ns()))
                } else {
                    ns
                })
            } else {
                None
            };
            return Ok(Now::Wait {
                bitset,
                private,
                deadline,
            });
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE {
                FUTEX_BITSET_MATCH_ANY
            } else {
                val3
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let key = mm.futex_key(uaddr, private)?;
            let n = futex::wake(key, val as usize, bitset);
            crate::trace::record(crate::trace::Kind::FutexWake, uaddr.addr(), n as u64);
            Ok(n as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if !uaddr2.addr().is_multiple_of(4) || (val as i32) < 0 || (timeout_or_val2 as i32) < 0
            {
                return Err(Errno::EINVAL);
            }
            let (from, to) = (
                mm.futex_key(uaddr, private)?,
                mm.futex_key(uaddr2, private)?,
            );
            if cmd == FUTEX_CMP_REQUEUE && read_u32(&mm, uaddr)? != val3 {
                return Err(Errno::EAGAIN);
            }
            let (woken, moved) =
                futex::requeue(from, to, val as usize, timeout_or_val2 as u32 as usize);
            Ok((woken + moved) as u64)
        }
        FUTEX_WAKE_OP => {
            if !uaddr2.addr().is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            let (k1, k2) = (
                mm.futex_key(uaddr, private)?,
                mm.futex_key(uaddr2, private)?,
            );
            // Kernel code is not preempted, so this read-modify-write of the second
            // word is atomic with respect to the (one CPU's) user threads.
            let old = read_u32(&mm, uaddr2)?;
            let (new, hit) = wake_op(val3, old)?;
            mm.write(uaddr2, &new)?;
            let mut n = futex::wake(k1, val as usize, FUTEX_BITSET_MATCH_ANY);
            if hit {
                n += futex::wake(k2, timeout_or_val2 as u32 as usize, FUTEX_BITSET_MATCH_ANY);
            }
            Ok(n as u64)
        }
        _ => Err(Errno::ENOSYS),
    };
    done.map(Now::Done)
}

pub async fn sys_set_robust_list(ctx: &mut Ctx<'_>, head: u64, len: usize) -> KResult<u64> {
    if len as u64 != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    ctx.thread.robust_list.store(head, Ordering::Relaxed);
    Ok(0)
}

pub async fn sys_get_robust_list(
    ctx: &mut Ctx<'_>,
    tid: Pid,
    head_ptr: UserPtr<u64>,
    len_ptr: UserPtr<u64>,
) -> KResult<u64> {
    let head = if tid == 0 {
        ctx.thread.robust_list.load(Ordering::Relaxed)
    } else {
        let t = process::find_thread(tid as u32).ok_or(Errno::ESRCH)?;
        let me = ctx.process().cred.lock().clone();
        let them = t.process.cred.lock().clone();
        if me.euid != 0 && me.euid != them.uid {
            return Err(Errno::EPERM);
        }
        t.robust_list.load(Ordering::Relaxed)
    };
    ctx.write(head_ptr, &head)?;
    ctx.write(len_ptr, &ROBUST_LIST_HEAD_SIZE)?;
    Ok(0)
}

/// Marks one robust futex of a dying thread (Linux's handle_futex_death): if `tid`
/// owns it, set FUTEX_OWNER_DIED (keeping FUTEX_WAITERS) and wake one waiter.
fn futex_death(mm: &AddressSpace, addr: UserPtr<u32>, tid: u32) {
    let Ok(v) = read_u32(mm, addr) else { return };
    if v & FUTEX_TID_MASK != tid {
        return;
    }
    let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if mm.write(addr, &new).is_err() {
        return;
    }
    if v & FUTEX_WAITERS != 0
        && let Ok(key) = mm.futex_key(addr, false)
    {
        futex::wake(key, 1, FUTEX_BITSET_MATCH_ANY);
    }
}

/// Walks a dying thread's robust list (exit_robust_list): every futex it still holds
/// is marked FUTEX_OWNER_DIED, so the next locker gets EOWNERDEAD.
pub fn exit_robust_list(mm: &AddressSpace, head: u64, tid: u32) {
    if head == 0 {
        return;
    }
    let read = |addr: u64| mm.read(UserPtr::<u64>::new(addr)).ok();
    let Some(mut entry) = read(head) else { return };
    let Some(offset) = read(head.wrapping_add(8)).map(|o| o as i64) else {
        return;
    };
    let pending = read(head.wrapping_add(16)).unwrap_or(0);
    // The low bit of a list pointer marks a PI futex; PI is not supported.
    let mut walked = 0;
    while entry != head && entry != 0 && walked < ROBUST_LIST_LIMIT {
        let next = read(entry & !1);
        if entry != pending {
            futex_death(
                mm,
                UserPtr::new((entry & !1).wrapping_add_signed(offset)),
                tid,
            );
        }
        match next {
            Some(n) => entry = n,
            None => break,
        }
        walked += 1;
    }
    if pending != 0 {
        futex_death(
            mm,
            UserPtr::new((pending & !1).wrapping_add_signed(offset)),
            tid,
        );
    }
}

/// Waits for the first of several queued futex waiters: its index.
struct FirstOf(alloc::vec::Vec<futex::FutexWait>);

impl core::future::Future for FirstOf {
    type Output = usize;
    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<usize> {
        for (i, w) in self.0.iter_mut().enumerate() {
            if core::pin::Pin::new(w).poll(cx).is_ready() {
                return core::task::Poll::Ready(i);
            }
        }
        core::task::Poll::Pending
    }
}

/// futex_waitv(2): waits on up to 128 32-bit futexes at once, each while it
/// holds its expected value (EAGAIN if one does not at the start), until one
/// is woken (its index is returned), the absolute `timeout` on `clockid`
/// (CLOCK_MONOTONIC or CLOCK_REALTIME) passes (ETIMEDOUT) or a signal comes.
pub async fn sys_futex_waitv(
    ctx: &mut Ctx<'_>,
    waiters: UserPtr<u8>,
    nr: u32,
    flags: u32,
    timeout: UserPtr<Timespec>,
    clockid: i32,
) -> KResult<u64> {
    const FUTEX_WAITV_MAX: u32 = 128;
    const FUTEX2_SIZE_U32: u32 = 2;
    const FUTEX2_SIZE_MASK: u32 = 3;
    const FUTEX2_PRIVATE: u32 = 128;
    if flags != 0 || nr == 0 || nr > FUTEX_WAITV_MAX || waiters.is_null() {
        return Err(Errno::EINVAL);
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        let ts: Timespec = ctx.read(timeout)?;
        let abs = ts.to_ns().ok_or(Errno::EINVAL)?;
        Some(match clockid {
            1 => abs,
            0 => time::now_ns().saturating_add(abs.saturating_sub(time::realtime_ns())),
            _ => return Err(Errno::EINVAL),
        })
    };
    // struct futex_waitv: u64 val, u64 uaddr, u32 flags, u32 reserved.
    let mut raw = [0u8; 24 * FUTEX_WAITV_MAX as usize];
    let raw = &mut raw[..24 * nr as usize];
    ctx.mm().read_slice(waiters, raw)?;
    let mut list = alloc::vec::Vec::new();
    for w in raw.chunks_exact(24) {
        let u64_at = |o: usize| u64::from_ne_bytes(w[o..o + 8].try_into().unwrap_or_default());
        let (val, uaddr) = (u64_at(0), u64_at(8));
        let wflags = u32::from_ne_bytes(w[16..20].try_into().unwrap_or_default());
        let reserved = u32::from_ne_bytes(w[20..24].try_into().unwrap_or_default());
        if wflags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0
            || reserved != 0
            || wflags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32
            || !uaddr.is_multiple_of(4)
        {
            return Err(Errno::EINVAL);
        }
        // A 32-bit futex: the value must fit.
        let val = u32::try_from(val).map_err(|_| Errno::EINVAL)?;
        list.push((
            UserPtr::<u32>::new(uaddr),
            val,
            wflags & FUTEX2_PRIVATE != 0,
        ));
    }
    let mm = ctx.mm();
    let mut queued = alloc::vec::Vec::new();
    for &(uaddr, val, private) in &list {
        let key = mm.futex_key(uaddr, private)?;
        if read_u32(&mm, uaddr)? != val {
            return Err(Errno::EAGAIN);
        }
        let w = futex::enqueue_if(key, u32::MAX, || read_u32(&mm, uaddr).map(|v| v == val))?
            .ok_or(Errno::EAGAIN)?;
        queued.push(w);
    }
    let woken = async { Ok(FirstOf(queued).await as u64) };
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
