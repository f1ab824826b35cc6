//! Scheduling: policies, priorities, affinity, getcpu, and prctl.
//!
//! Kestrel's threads take turns, each with a slice proportional to its nice
//! value's CFS weight (`process::thread::time_slice`), so busy threads share
//! the CPU by weight as on Linux. The real-time policies (SCHED_FIFO,
//! SCHED_RR) are granted as Linux grants them (CAP_SYS_NICE, or within
//! RLIMIT_RTPRIO), kept, reported and inherited, but the executor has no
//! priority order: a real-time thread only gets the longest turn ([`time_slice`]).
//! SCHED_DEADLINE is admitted as Linux admits it (the deadline tasks' runtime
//! within 95 % of the CPUs) and kept, but runs as a real-time thread: no
//! earliest-deadline-first order, no runtime guaranteed or enforced. Affinity is the thread's task's CPU mask: the executors only
//! run and steal a task on the CPUs it allows.

use core::sync::atomic::Ordering;

use kestrel_abi::cap::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::process::{self, Process};

const SCHED_OTHER: u64 = 0;
const SCHED_FIFO: u64 = 1;
const SCHED_RR: u64 = 2;
const SCHED_BATCH: u64 = 3;
const SCHED_IDLE: u64 = 5;
const SCHED_DEADLINE: u64 = 6;

/// The process a sched_* pid names (0: the caller; ESRCH, EINVAL for negative).
fn target(ctx: &Ctx<'_>, pid: i32) -> KResult<alloc::sync::Arc<Process>> {
    match pid {
        p if p < 0 => Err(Errno::EINVAL),
        0 => Ok(ctx.process().clone()),
        p => process::find_thread(p as u32)
            .map(|t| t.process.clone())
            .or_else(|| process::find(p as u32))
            .ok_or(Errno::ESRCH),
    }
}

/// sched_setscheduler's flag: a child of fork starts as SCHED_OTHER at nice 0
/// or more (sched(7)).
const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;
/// SCHED_RR's quantum (Linux's RR_TIMESLICE, /proc/sys/kernel/sched_rr_timeslice_ms).
pub const RR_TIMESLICE_NS: u64 = 100_000_000;

/// SCHED_DEADLINE bandwidth (runtime / period) in units of 1/2^20, as Linux's
/// to_ratio, and what every CPU may give to deadline tasks in all: 95 %
/// (sched_rt_runtime_us / sched_rt_period_us).
const BW_SHIFT: u32 = 20;
static DL_TOTAL_BW: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn dl_capacity() -> u64 {
    (crate::arch::percpu::online() as u64).max(1) * ((95u64 << BW_SHIFT) / 100)
}

/// Admits `p` at bandwidth `new` (0: leaving SCHED_DEADLINE), giving back
/// what it had (Linux's sched_dl_overflow): EBUSY when the deadline tasks
/// would need more than the CPUs give them.
fn dl_admit(p: &Process, new: u64) -> KResult<()> {
    let old = p.dl_bw.load(Ordering::Relaxed);
    let cap = dl_capacity();
    DL_TOTAL_BW
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
            let next = total.saturating_sub(old).saturating_add(new);
            (new <= old || next <= cap).then_some(next)
        })
        .map_err(|_| Errno::EBUSY)?;
    p.dl_bw.store(new, Ordering::Relaxed);
    Ok(())
}

/// `p` exited: its deadline bandwidth is free.
pub fn exited(p: &Process) {
    let _ = dl_admit(p, 0);
}

/// EAGAIN for a fork of a SCHED_DEADLINE process without SCHED_RESET_ON_FORK
/// (Linux's sched_fork).
pub fn may_fork(p: &Process) -> KResult<()> {
    if u64::from(p.sched_policy.load(Ordering::Relaxed)) == SCHED_DEADLINE
        && !p.sched_reset_on_fork.load(Ordering::Relaxed)
    {
        return Err(Errno::EAGAIN);
    }
    Ok(())
}

fn rt_policy(policy: u32) -> bool {
    matches!(policy as u64, SCHED_FIFO | SCHED_RR)
}

fn fair_policy(policy: u32) -> bool {
    matches!(policy as u64, SCHED_OTHER | SCHED_BATCH)
}

fn valid_policy(policy: u32) -> bool {
    matches!(
        policy as u64,
        SCHED_OTHER | SCHED_FIFO | SCHED_RR | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE
    )
}

/// What a child of fork gets: its parent's policy, priority and nice, unless
/// the parent asked for SCHED_RESET_ON_FORK (then a real-time policy becomes
/// SCHED_OTHER, a negative nice 0, and the child does not keep the flag).
pub fn inherit(parent: &Process, child: &Process) {
    let policy = parent.sched_policy.load(Ordering::Relaxed);
    let prio = parent.rt_priority.load(Ordering::Relaxed);
    if parent.sched_reset_on_fork.load(Ordering::Relaxed) {
        if rt_policy(policy) || policy as u64 == SCHED_DEADLINE {
            child
                .sched_policy
                .store(SCHED_OTHER as u32, Ordering::Relaxed);
            child.rt_priority.store(0, Ordering::Relaxed);
            child.nice.store(0, Ordering::Relaxed);
        } else {
            child.sched_policy.store(policy, Ordering::Relaxed);
            child.nice.fetch_max(0, Ordering::Relaxed);
        }
    } else {
        child.sched_policy.store(policy, Ordering::Relaxed);
        child.rt_priority.store(prio, Ordering::Relaxed);
    }
}

/// How long a thread of `p` runs before it lets the others have the CPU.
/// Kestrel's executor has no run queue ordered by priority: a real-time
/// thread takes turns with the others, with the longest turn (SCHED_RR's
/// quantum), and does not preempt them; so does a SCHED_DEADLINE one, its
/// runtime neither guaranteed nor enforced; SCHED_IDLE runs as nice 19.
pub fn time_slice(p: &Process) -> u64 {
    match u64::from(p.sched_policy.load(Ordering::Relaxed)) {
        SCHED_FIFO | SCHED_RR | SCHED_DEADLINE => RR_TIMESLICE_NS,
        SCHED_IDLE => process::thread::time_slice(19),
        _ => process::thread::time_slice(p.nice.load(Ordering::Relaxed)),
    }
}

/// The value /proc/PID/stat shows as `priority`: -1 - the real-time priority
/// for a real-time policy, 20 + nice otherwise (Linux's prio - MAX_RT_PRIO).
pub fn stat_priority(p: &Process) -> i64 {
    let policy = p.sched_policy.load(Ordering::Relaxed);
    if rt_policy(policy) {
        -1 - i64::from(p.rt_priority.load(Ordering::Relaxed))
    } else if u64::from(policy) == SCHED_DEADLINE {
        -101
    } else {
        20 + i64::from(p.nice.load(Ordering::Relaxed))
    }
}

/// The kernel's view of a `struct sched_attr` (SCHED_ATTR_SIZE_VER1, 56 bytes).
#[derive(Clone, Copy, Default)]
struct SchedAttr {
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

const SCHED_ATTR_SIZE_VER0: usize = 48;
const SCHED_ATTR_SIZE_VER1: usize = 56;
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
const SCHED_FLAG_RECLAIM: u64 = 0x02;
const SCHED_FLAG_DL_OVERRUN: u64 = 0x04;
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
const SCHED_FLAG_UTIL_CLAMP: u64 = 0x20 | 0x40;
const SCHED_FLAG_ALL: u64 = SCHED_FLAG_RESET_ON_FORK
    | SCHED_FLAG_RECLAIM
    | SCHED_FLAG_DL_OVERRUN
    | SCHED_FLAG_KEEP_POLICY
    | SCHED_FLAG_KEEP_PARAMS
    | SCHED_FLAG_UTIL_CLAMP;

impl SchedAttr {
    fn to_bytes(self, size: usize) -> [u8; SCHED_ATTR_SIZE_VER1] {
        let mut b = [0u8; SCHED_ATTR_SIZE_VER1];
        b[0..4].copy_from_slice(&(size as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&self.policy.to_ne_bytes());
        b[8..16].copy_from_slice(&self.flags.to_ne_bytes());
        b[16..20].copy_from_slice(&self.nice.to_ne_bytes());
        b[20..24].copy_from_slice(&self.priority.to_ne_bytes());
        b[24..32].copy_from_slice(&self.runtime.to_ne_bytes());
        b[32..40].copy_from_slice(&self.deadline.to_ne_bytes());
        b[40..48].copy_from_slice(&self.period.to_ne_bytes());
        // sched_util_min, sched_util_max: no utilization clamping (0, 0).
        b
    }

    fn from_bytes(b: &[u8; SCHED_ATTR_SIZE_VER1]) -> Self {
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        Self {
            policy: u32_at(4),
            flags: u64_at(8),
            nice: u32_at(16) as i32,
            priority: u32_at(20),
            runtime: u64_at(24),
            deadline: u64_at(32),
            period: u64_at(40),
        }
    }

    /// The attributes `p` has now (Linux's get_params).
    fn of(p: &Process) -> Self {
        let policy = p.sched_policy.load(Ordering::Relaxed);
        let (runtime, deadline, period) = if u64::from(policy) == SCHED_DEADLINE {
            *p.dl_params.lock()
        } else {
            (0, 0, 0)
        };
        Self {
            policy,
            flags: if p.sched_reset_on_fork.load(Ordering::Relaxed) {
                SCHED_FLAG_RESET_ON_FORK
            } else {
                0
            },
            nice: p.nice.load(Ordering::Relaxed),
            priority: if rt_policy(policy) {
                p.rt_priority.load(Ordering::Relaxed)
            } else {
                0
            },
            runtime,
            deadline,
            period,
        }
    }
}

/// SCHED_DEADLINE's parameters are sane (Linux's __checkparam_dl): a
/// deadline, a runtime of at least 1024 ns within it, a period no shorter
/// than the deadline, and a period between 100 us and 4.19 s.
fn dl_params_valid(a: &SchedAttr) -> bool {
    if a.deadline == 0 || a.runtime < 1024 || a.deadline & (1 << 63) != 0 {
        return false;
    }
    if a.period & (1 << 63) != 0 || (a.period != 0 && a.period < a.deadline) {
        return false;
    }
    if a.deadline < a.runtime {
        return false;
    }
    let period = if a.period == 0 { a.deadline } else { a.period };
    (100_000..=4_194_304_000).contains(&period)
}

/// Changes `p`'s scheduling to `a` (Linux's __sched_setscheduler from user
/// space): `keep_policy` keeps its policy and SCHED_RESET_ON_FORK (sched_setparam,
/// SCHED_FLAG_KEEP_POLICY).
fn set_scheduler(ctx: &Ctx<'_>, p: &Process, a: &SchedAttr, keep_policy: bool) -> KResult<()> {
    let old_policy = p.sched_policy.load(Ordering::Relaxed);
    let (policy, reset_on_fork) = if keep_policy {
        (old_policy, p.sched_reset_on_fork.load(Ordering::Relaxed))
    } else {
        if !valid_policy(a.policy) {
            return Err(Errno::EINVAL);
        }
        (a.policy, a.flags & SCHED_FLAG_RESET_ON_FORK != 0)
    };
    if a.flags & !SCHED_FLAG_ALL != 0 || a.priority > 99 {
        return Err(Errno::EINVAL);
    }
    let is_dl = u64::from(policy) == SCHED_DEADLINE;
    if (is_dl && !dl_params_valid(a)) || rt_policy(policy) != (a.priority != 0) {
        return Err(Errno::EINVAL);
    }
    // What needs CAP_SYS_NICE (Linux's user_check_sched_setscheduler).
    let nice_allowed =
        |nice: i32| (20 - nice) as u64 <= p.rlimit(kestrel_abi::process::RLIMIT_NICE);
    let old_nice = p.nice.load(Ordering::Relaxed);
    let mut privileged = false;
    if fair_policy(policy) && a.nice < old_nice && !nice_allowed(a.nice) {
        privileged = true;
    }
    if rt_policy(policy) {
        let rlim = p.rlimit(kestrel_abi::process::RLIMIT_RTPRIO);
        if (policy != old_policy && rlim == 0)
            || (a.priority > p.rt_priority.load(Ordering::Relaxed) && u64::from(a.priority) > rlim)
        {
            privileged = true;
        }
    }
    if is_dl {
        privileged = true;
    }
    if u64::from(old_policy) == SCHED_IDLE
        && u64::from(policy) != SCHED_IDLE
        && !nice_allowed(old_nice)
    {
        privileged = true;
    }
    let me = ctx.process().cred.lock().clone();
    let them = p.cred.lock().clone();
    if me.euid != them.euid && me.euid != them.uid {
        privileged = true;
    }
    if p.sched_reset_on_fork.load(Ordering::Relaxed) && !reset_on_fork {
        privileged = true;
    }
    if privileged && !me.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    if a.flags & SCHED_FLAG_UTIL_CLAMP != 0 {
        // No utilization clamping (Linux without CONFIG_UCLAMP_TASK).
        return Err(Errno::EOPNOTSUPP);
    }
    // Admission control: the deadline tasks' bandwidth must fit in the CPUs'
    // (EBUSY); leaving SCHED_DEADLINE gives it back.
    let bw = if is_dl {
        let period = if a.period == 0 { a.deadline } else { a.period };
        (a.runtime << BW_SHIFT) / period
    } else {
        0
    };
    dl_admit(p, bw)?;
    if is_dl {
        let period = if a.period == 0 { a.deadline } else { a.period };
        *p.dl_params.lock() = (a.runtime, a.deadline, period);
    }
    p.sched_policy.store(policy, Ordering::Relaxed);
    p.rt_priority.store(a.priority, Ordering::Relaxed);
    p.sched_reset_on_fork
        .store(reset_on_fork, Ordering::Relaxed);
    if fair_policy(policy) {
        p.nice.store(a.nice.clamp(-20, 19), Ordering::Relaxed);
    }
    Ok(())
}

pub async fn sys_sched_getscheduler(ctx: &mut Ctx<'_>, pid: Pid) -> KResult<u64> {
    let p = target(ctx, pid)?;
    let mut policy = p.sched_policy.load(Ordering::Relaxed);
    if p.sched_reset_on_fork.load(Ordering::Relaxed) {
        policy |= SCHED_RESET_ON_FORK;
    }
    Ok(u64::from(policy))
}

pub async fn sys_sched_getparam(ctx: &mut Ctx<'_>, pid: Pid, param: UserPtr<i32>) -> KResult<u64> {
    if param.is_null() || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(ctx, pid)?;
    let prio = SchedAttr::of(&p).priority as i32;
    ctx.write(param, &prio)?;
    Ok(0)
}

pub async fn sys_sched_setscheduler(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    policy: i32,
    param: UserPtr<i32>,
) -> KResult<u64> {
    if policy < 0 || param.is_null() || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let prio: i32 = ctx.read(param)?;
    let p = target(ctx, pid)?;
    let policy = policy as u32;
    let a = SchedAttr {
        policy: policy & !SCHED_RESET_ON_FORK,
        flags: if policy & SCHED_RESET_ON_FORK != 0 {
            SCHED_FLAG_RESET_ON_FORK
        } else {
            0
        },
        nice: p.nice.load(Ordering::Relaxed),
        priority: prio as u32,
        ..SchedAttr::default()
    };
    set_scheduler(ctx, &p, &a, false).map(|_| 0)
}

pub async fn sys_sched_setparam(ctx: &mut Ctx<'_>, pid: Pid, param: UserPtr<i32>) -> KResult<u64> {
    if param.is_null() || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let prio: i32 = ctx.read(param)?;
    let p = target(ctx, pid)?;
    let a = SchedAttr {
        nice: p.nice.load(Ordering::Relaxed),
        priority: prio as u32,
        ..SchedAttr::default()
    };
    set_scheduler(ctx, &p, &a, true).map(|_| 0)
}

pub async fn sys_sched_setattr(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    attr: UserPtr<u8>,
    flags: u32,
) -> KResult<u64> {
    if attr.is_null() || pid < 0 || flags != 0 {
        return Err(Errno::EINVAL);
    }
    // The size first: 0 means the first version; too small, or larger with
    // nonzero bytes past what Kestrel knows, is E2BIG with the size Kestrel
    // knows written back (Linux's sched_copy_attr).
    let usize_: u32 = ctx.read(UserPtr::new(attr.addr()))?;
    let mut size = usize_ as usize;
    if size == 0 {
        size = SCHED_ATTR_SIZE_VER0;
    }
    let too_big = |ctx: &mut Ctx<'_>| {
        let _ = ctx.write(
            UserPtr::<u32>::new(attr.addr()),
            &(SCHED_ATTR_SIZE_VER1 as u32),
        );
        Err(Errno::E2BIG)
    };
    if !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size) {
        return too_big(ctx);
    }
    let mut b = [0u8; SCHED_ATTR_SIZE_VER1];
    let n = size.min(SCHED_ATTR_SIZE_VER1);
    ctx.mm().reader(attr, n)?.read_exact(&mut b[..n])?;
    if size > SCHED_ATTR_SIZE_VER1 {
        let mut rest = [0u8; 64];
        let mut off = SCHED_ATTR_SIZE_VER1;
        while off < size {
            let m = (size - off).min(rest.len());
            ctx.mm()
                .reader(UserPtr::<u8>::new(attr.addr() + off as u64), m)?
                .read_exact(&mut rest[..m])?;
            if rest[..m].iter().any(|&x| x != 0) {
                return too_big(ctx);
            }
            off += m;
        }
    }
    let mut a = SchedAttr::from_bytes(&b);
    if a.flags & SCHED_FLAG_UTIL_CLAMP != 0 && size < SCHED_ATTR_SIZE_VER1 {
        return Err(Errno::EINVAL);
    }
    a.nice = a.nice.clamp(-20, 19);
    if (a.policy as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(ctx, pid)?;
    let keep_policy = a.flags & SCHED_FLAG_KEEP_POLICY != 0;
    if a.flags & SCHED_FLAG_KEEP_PARAMS != 0 {
        let now = SchedAttr::of(&p);
        a.nice = now.nice;
        a.priority = now.priority;
        a.runtime = now.runtime;
        a.deadline = now.deadline;
        a.period = now.period;
    }
    set_scheduler(ctx, &p, &a, keep_policy).map(|_| 0)
}

pub async fn sys_sched_getattr(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    attr: UserPtr<u8>,
    size: u32,
    flags: u32,
) -> KResult<u64> {
    let size = size as usize;
    if attr.is_null() || pid < 0 || flags != 0 || !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let p = target(ctx, pid)?;
    let n = size.min(SCHED_ATTR_SIZE_VER1);
    let b = SchedAttr::of(&p).to_bytes(n);
    ctx.mm().writer(attr, n)?.write_all(&b[..n])?;
    Ok(0)
}

pub async fn sys_sched_get_priority_max(_: &mut Ctx<'_>, policy: i32) -> KResult<u64> {
    match policy as u64 {
        SCHED_FIFO | SCHED_RR => Ok(99),
        // SCHED_DEADLINE has no priorities (0), as Linux answers.
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

pub async fn sys_sched_get_priority_min(_: &mut Ctx<'_>, policy: i32) -> KResult<u64> {
    match policy as u64 {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// SCHED_RR's quantum for a SCHED_RR process, 0 for SCHED_FIFO (it runs until
/// it blocks or yields) and SCHED_DEADLINE, and the turn a thread of the
/// others' policies gets.
pub async fn sys_sched_rr_get_interval(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    tp: UserPtr<Timespec>,
) -> KResult<u64> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(ctx, pid)?;
    let ns = match u64::from(p.sched_policy.load(Ordering::Relaxed)) {
        SCHED_FIFO | SCHED_DEADLINE => 0,
        SCHED_RR => RR_TIMESLICE_NS,
        _ => time_slice(&p),
    };
    ctx.write(tp, &Timespec::from_ns(ns))?;
    Ok(0)
}

/// Bytes of the CPU mask Kestrel reports: one 64-bit word (up to 64 CPUs), as
/// Linux's `cpumask_size()` on a machine with at most 64 possible CPUs.
const MASK_BYTES: usize = 8;

/// The thread a sched_*affinity pid names: 0 is the caller, else a thread id
/// (a process id names its main thread); anything else is ESRCH.
fn thread_target(ctx: &Ctx<'_>, pid: i32) -> KResult<alloc::sync::Arc<process::Thread>> {
    match pid {
        0 => Ok(ctx.thread.clone()),
        p if p < 0 => Err(Errno::ESRCH),
        p => process::find_thread(p as u32).ok_or(Errno::ESRCH),
    }
}

/// The CPUs that are online, as a mask.
fn online_mask() -> u64 {
    match crate::arch::percpu::online() {
        n if n >= 64 => u64::MAX,
        n => (1u64 << n) - 1,
    }
}

pub async fn sys_sched_getaffinity(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    len: u32,
    mask: UserPtr<u8>,
) -> KResult<u64> {
    let len = len as usize;
    // The buffer must hold a bit for every possible CPU and be whole words.
    if len * 8 < crate::arch::percpu::online() || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let t = thread_target(ctx, pid)?;
    let bits = t.affinity() & online_mask();
    let n = len.min(MASK_BYTES);
    ctx.mm()
        .writer(mask, n)?
        .write_all(&bits.to_le_bytes()[..n])?;
    Ok(n as u64)
}

pub async fn sys_sched_setaffinity(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    len: u32,
    mask: UserPtr<u8>,
) -> KResult<u64> {
    // Linux reads at most its own mask size; a shorter mask leaves the rest clear.
    let n = (len as usize).min(MASK_BYTES);
    let mut bytes = [0u8; MASK_BYTES];
    ctx.mm().reader(mask, n)?.read_exact(&mut bytes[..n])?;
    let t = thread_target(ctx, pid)?;
    let me = ctx.process().cred.lock().clone();
    if !alloc::sync::Arc::ptr_eq(&t.process, ctx.process()) && !me.capable(CAP_SYS_NICE) {
        let them = t.process.cred.lock().clone();
        if me.euid != them.uid && me.euid != them.euid {
            return Err(Errno::EPERM);
        }
    }
    let wanted = u64::from_le_bytes(bytes) & online_mask();
    if wanted == 0 {
        return Err(Errno::EINVAL);
    }
    let Some(task) = t.task.get() else {
        return Err(Errno::ESRCH);
    };
    task.set_affinity(wanted);
    // As on Linux, the caller runs on an allowed CPU when the call returns: a
    // yield sends its task to its new home's queue, and no other CPU may take it.
    while alloc::sync::Arc::ptr_eq(&t, ctx.thread) && !task.allowed_on(crate::task::this_cpu()) {
        kestrel_executor::yield_now().await;
    }
    Ok(0)
}

pub async fn sys_getcpu(
    ctx: &mut Ctx<'_>,
    cpu: UserPtr<u32>,
    node: UserPtr<u32>,
    _cache: u64,
) -> KResult<u64> {
    if !cpu.is_null() {
        ctx.write(cpu, &(crate::task::this_cpu() as u32))?;
    }
    if !node.is_null() {
        ctx.write(node, &0u32)?;
    }
    Ok(0)
}

const PRIO_PROCESS: u64 = 0;
const PRIO_PGRP: u64 = 1;
const PRIO_USER: u64 = 2;

fn prio_targets(
    ctx: &Ctx<'_>,
    which: u64,
    who: u32,
) -> KResult<alloc::vec::Vec<alloc::sync::Arc<Process>>> {
    let me = ctx.process();
    let list: alloc::vec::Vec<_> = match which {
        PRIO_PROCESS if who == 0 => alloc::vec![me.clone()],
        PRIO_PROCESS => process::find(who).into_iter().collect(),
        PRIO_PGRP => process::in_group(if who == 0 {
            me.pgid.load(Ordering::Relaxed)
        } else {
            who
        }),
        PRIO_USER => {
            let uid = if who == 0 { me.cred.lock().uid } else { who };
            process::all()
                .into_iter()
                .filter(|p| p.cred.lock().uid == uid && p.state() == process::State::Running)
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if list.is_empty() {
        Err(Errno::ESRCH)
    } else {
        Ok(list)
    }
}

/// getpriority(2) as the raw system call returns it: 20 - nice (1..=40).
pub async fn sys_getpriority(ctx: &mut Ctx<'_>, which: i32, who: u32) -> KResult<u64> {
    let best = prio_targets(ctx, which as u64, who)?
        .iter()
        .map(|p| p.nice.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    Ok((20 - best) as u64)
}

pub async fn sys_setpriority(
    ctx: &mut Ctx<'_>,
    which: i32,
    who: u32,
    niceval: i32,
) -> KResult<u64> {
    let nice = niceval.clamp(-20, 19);
    let me = ctx.process().cred.lock().clone();
    for p in prio_targets(ctx, which as u64, who)? {
        let them = p.cred.lock().clone();
        if !me.capable(CAP_SYS_NICE) && me.euid != them.uid && me.euid != them.euid {
            return Err(Errno::EPERM);
        }
        // Raising priority (a lower nice value) needs CAP_SYS_NICE.
        if nice < p.nice.load(Ordering::Relaxed) && !me.capable(CAP_SYS_NICE) {
            return Err(Errno::EACCES);
        }
        p.nice.store(nice, Ordering::Relaxed);
    }
    Ok(0)
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_GET_KEEPCAPS: u64 = 7;
const PR_SET_KEEPCAPS: u64 = 8;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_CAPBSET_READ: u64 = 23;
const PR_GET_TSC: u64 = 25;
const PR_SET_TSC: u64 = 26;
const PR_TSC_ENABLE: u64 = 1;
const PR_TSC_SIGSEGV: u64 = 2;
const PR_SET_TIMERSLACK: u64 = 29;
const PR_GET_TIMERSLACK: u64 = 30;
const PR_SET_CHILD_SUBREAPER: u64 = 36;
const PR_GET_CHILD_SUBREAPER: u64 = 37;
const PR_GET_SECCOMP: u64 = 21;
const PR_SET_SECCOMP: u64 = 22;
const PR_SET_NO_NEW_PRIVS: u64 = 38;
const PR_TASK_PERF_EVENTS_DISABLE: u64 = kestrel_abi::perf::PR_TASK_PERF_EVENTS_DISABLE as u64;
const PR_TASK_PERF_EVENTS_ENABLE: u64 = kestrel_abi::perf::PR_TASK_PERF_EVENTS_ENABLE as u64;
const PR_GET_NO_NEW_PRIVS: u64 = 39;
const PR_GET_TID_ADDRESS: u64 = 40;
const PR_CAPBSET_DROP: u64 = 24;
const PR_GET_SECUREBITS: u64 = 27;
const PR_SET_SECUREBITS: u64 = 28;

pub async fn sys_prctl(
    ctx: &mut Ctx<'_>,
    option: i32,
    arg2: u64,
    arg3: u64,
    arg4: u64,
    arg5: u64,
) -> KResult<u64> {
    let p = ctx.process().clone();
    match option as u64 {
        PR_SET_PDEATHSIG => {
            if arg2 > u64::from(kestrel_abi::signal::NSIG) {
                return Err(Errno::EINVAL);
            }
            p.pdeathsig.store(arg2 as u32, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_PDEATHSIG => ctx
            .write(
                UserPtr::new(arg2),
                &(p.pdeathsig.load(Ordering::Relaxed) as i32),
            )
            .map(|_| 0),
        PR_GET_DUMPABLE => Ok(u64::from(p.dumpable.load(Ordering::Relaxed))),
        PR_SET_DUMPABLE => match arg2 {
            0 | 1 => {
                p.dumpable.store(arg2 == 1, Ordering::Relaxed);
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        },
        PR_GET_KEEPCAPS => Ok(u64::from(p.cred.lock().keep_caps)),
        PR_SET_KEEPCAPS => match arg2 {
            0 | 1 => {
                p.cred.lock().keep_caps = arg2 == 1;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        },
        // Every perf event the calling thread opened stops or starts.
        PR_TASK_PERF_EVENTS_DISABLE | PR_TASK_PERF_EVENTS_ENABLE => {
            crate::perf::owner_control(ctx.thread, option as u64 == PR_TASK_PERF_EVENTS_ENABLE);
            Ok(0)
        }
        PR_SET_NAME => {
            // Up to 15 bytes or a NUL (strncpy_from_user): a fault before either is
            // EFAULT; 15 bytes without a NUL are the whole name.
            let mut name = [0u8; 15];
            let n = ctx
                .mm()
                .reader(UserPtr::<u8>::new(arg2), 15)?
                .read(&mut name);
            let len = match name[..n].iter().position(|&b| b == 0) {
                Some(nul) => nul,
                None if n == name.len() => n,
                None => return Err(Errno::EFAULT),
            };
            ctx.thread.set_comm(&name[..len]);
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            let comm = ctx.thread.comm();
            name[..comm.len()].copy_from_slice(&comm);
            ctx.write(UserPtr::new(arg2), &name)?;
            Ok(0)
        }
        PR_CAPBSET_READ => {
            if arg2 > u64::from(kestrel_abi::cap::CAP_LAST_CAP) {
                return Err(Errno::EINVAL);
            }
            Ok(p.cred.lock().cap_bounding >> arg2 & 1)
        }
        // Recorded and reported; Kestrel's timers fire when due, without slack.
        PR_SET_TIMERSLACK => {
            let v = if arg2 == 0 {
                p.default_timer_slack_ns.load(Ordering::Relaxed)
            } else {
                arg2
            };
            p.timer_slack_ns.store(v, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_TIMERSLACK => Ok(p.timer_slack_ns.load(Ordering::Relaxed)),
        // Changing the bounding set or the securebits needs CAP_SETPCAP (EPERM
        // first, as Linux checks it first). A capability dropped from the
        // bounding set never comes back (execve grants none outside it);
        // Kestrel has no securebits to change (EINVAL with the capability).
        PR_CAPBSET_DROP => {
            let mut c = p.cred.lock();
            if !c.capable(CAP_SETPCAP) {
                return Err(Errno::EPERM);
            }
            if arg2 > u64::from(kestrel_abi::cap::CAP_LAST_CAP) {
                return Err(Errno::EINVAL);
            }
            c.cap_bounding &= !(1 << arg2);
            Ok(0)
        }
        PR_SET_SECUREBITS => {
            if !p.cred.lock().capable(CAP_SETPCAP) {
                return Err(Errno::EPERM);
            }
            Err(Errno::EINVAL)
        }
        PR_GET_SECUREBITS => Ok(0),
        PR_SET_CHILD_SUBREAPER => {
            p.subreaper.store(arg2 != 0, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => ctx
            .write(
                UserPtr::new(arg2),
                &i32::from(p.subreaper.load(Ordering::Relaxed)),
            )
            .map(|_| 0),
        PR_GET_SECCOMP => super::seccomp::prctl_get(ctx),
        PR_SET_SECCOMP => super::seccomp::prctl_set(ctx, arg2, arg3),
        PR_SET_NO_NEW_PRIVS => {
            if arg2 != 1 || arg3 != 0 || arg4 != 0 || arg5 != 0 {
                return Err(Errno::EINVAL);
            }
            // Kept and inherited; set-id programs do not gain privileges on
            // Kestrel yet, so there is nothing more for it to stop.
            p.no_new_privs.store(true, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            if arg2 != 0 || arg3 != 0 || arg4 != 0 || arg5 != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(u64::from(p.no_new_privs.load(Ordering::Relaxed)))
        }
        // The calling thread's: whether RDTSC/RDTSCP in user mode raise SIGSEGV.
        PR_SET_TSC => match arg2 {
            PR_TSC_ENABLE | PR_TSC_SIGSEGV => {
                ctx.regs.tsc_sigsegv = arg2 == PR_TSC_SIGSEGV;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        },
        PR_GET_TSC => {
            let mode = if ctx.regs.tsc_sigsegv {
                PR_TSC_SIGSEGV
            } else {
                PR_TSC_ENABLE
            };
            ctx.write(UserPtr::new(arg2), &(mode as i32)).map(|_| 0)
        }
        PR_GET_TID_ADDRESS => ctx
            .write(
                UserPtr::new(arg2),
                &ctx.thread.clear_child_tid.load(Ordering::Relaxed),
            )
            .map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}
