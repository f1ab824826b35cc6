//! Scheduling: policies, priorities, affinity, getcpu, and prctl.
//!
//! Kestrel schedules every thread as SCHED_OTHER: threads take turns, each with a
//! slice proportional to its nice value's CFS weight (`process::thread::time_slice`),
//! so busy threads share the CPU by weight as on Linux. Real-time policies are
//! refused (EPERM). Affinity is the thread's task's CPU mask: the executors only
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

pub async fn sys_sched_getscheduler(ctx: &mut Ctx<'_>, pid: Pid) -> KResult<u64> {
    target(ctx, pid)?;
    Ok(SCHED_OTHER)
}

pub async fn sys_sched_getparam(ctx: &mut Ctx<'_>, pid: Pid, param: UserPtr<i32>) -> KResult<u64> {
    if param.is_null() {
        return Err(Errno::EINVAL);
    }
    target(ctx, pid)?;
    ctx.write(param, &0i32)?;
    Ok(0)
}

fn check_policy(policy: u64, prio: i32) -> KResult<()> {
    match policy & !0x4000_0000 {
        // SCHED_RESET_ON_FORK (0x40000000) may be or'ed in.
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE if prio == 0 => Ok(()),
        // Real-time scheduling needs a run queue ordered by priority, which the
        // executor does not have yet: refused, as Linux refuses it where no
        // real-time runtime is granted (cpu.rt_runtime_us = 0), rather than
        // silently run as SCHED_OTHER.
        SCHED_FIFO | SCHED_RR if (1..=99).contains(&prio) => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

pub async fn sys_sched_setscheduler(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    policy: i32,
    param: UserPtr<i32>,
) -> KResult<u64> {
    target(ctx, pid)?;
    if param.is_null() {
        return Err(Errno::EINVAL);
    }
    let prio: i32 = ctx.read(param)?;
    check_policy(policy as u64, prio).map(|_| 0)
}

pub async fn sys_sched_setparam(ctx: &mut Ctx<'_>, pid: Pid, param: UserPtr<i32>) -> KResult<u64> {
    target(ctx, pid)?;
    if param.is_null() {
        return Err(Errno::EINVAL);
    }
    let prio: i32 = ctx.read(param)?;
    check_policy(SCHED_OTHER, prio).map(|_| 0)
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

pub async fn sys_sched_rr_get_interval(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    tp: UserPtr<Timespec>,
) -> KResult<u64> {
    target(ctx, pid)?;
    ctx.write(
        tp,
        &Timespec::from_ns(crate::process::thread::TIME_SLICE_NS),
    )?;
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
const PR_SET_NO_NEW_PRIVS: u64 = 38;
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
            if arg2 > 40 {
                return Err(Errno::EINVAL);
            }
            Ok(1)
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
        // first, as Linux checks it first); Kestrel has neither a bounding set
        // nor securebits to change (EINVAL with the capability).
        PR_CAPBSET_DROP | PR_SET_SECUREBITS => {
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
