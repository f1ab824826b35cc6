//! Signal system calls (see process::signal for generation and delivery).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use kestrel_abi::cap::*;
use kestrel_abi::signal::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::process::signal::{self as sig, Restart};
use crate::process::{self, Process, Thread};

fn valid(signum: i32) -> KResult<u32> {
    if (1..=NSIG as i32).contains(&signum) {
        Ok(signum as u32)
    } else {
        Err(Errno::EINVAL)
    }
}

pub async fn sys_rt_sigaction(
    ctx: &mut Ctx<'_>,
    signum: i32,
    act_ptr: UserPtr<KernelSigaction>,
    old_ptr: UserPtr<KernelSigaction>,
    size: usize,
) -> KResult<u64> {
    rt_sigaction(ctx, signum, act_ptr, old_ptr, size)
}

/// rt_sigaction(2), which never waits ([`super::call_now`]). A copy that
/// fails does so before the action changes.
pub fn rt_sigaction(
    ctx: &Ctx<'_>,
    signum: i32,
    act_ptr: UserPtr<KernelSigaction>,
    old_ptr: UserPtr<KernelSigaction>,
    size: usize,
) -> KResult<u64> {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let signum = valid(signum)?;
    // Read the new action before writing the old one: they may be the same buffer.
    let new = if !act_ptr.is_null() {
        Some(ctx.read(act_ptr)?)
    } else {
        None
    };
    if new.is_some() && (signum == SIGKILL || signum == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let process = ctx.process();
    if !old_ptr.is_null() {
        let old = process.with_sigactions(|a| a.get(signum));
        ctx.write(old_ptr, &old)?;
    }
    if let Some(mut n) = new {
        n.mask = sig::sanitize_mask(n.mask);
        process.with_sigactions(|a| a.actions[(signum - 1) as usize] = n);
        // A signal that is now ignored is discarded where it is pending (POSIX);
        // a handler never ignores one, so installing one looks no further.
        if matches!(n.handler, SIG_IGN | SIG_DFL) {
            sig::discard_if_ignored(process, signum);
        }
    }
    Ok(0)
}

pub async fn sys_rt_sigprocmask(
    ctx: &mut Ctx<'_>,
    how: i32,
    set_ptr: UserPtr<u64>,
    old_ptr: UserPtr<u64>,
    size: usize,
) -> KResult<u64> {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let set = if !set_ptr.is_null() {
        Some(ctx.read(set_ptr)?)
    } else {
        None
    };
    let old = ctx.thread.sigmask.load(Ordering::Relaxed);
    if let Some(set) = set {
        let new = match how {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        ctx.thread
            .sigmask
            .store(sig::sanitize_mask(new), Ordering::Relaxed);
    }
    if !old_ptr.is_null() {
        ctx.write(old_ptr, &old)?;
    }
    Ok(0)
}

pub async fn sys_rt_sigreturn(ctx: &mut Ctx<'_>) -> KResult<u64> {
    sig::sigreturn(ctx.thread, ctx.regs)
}

pub async fn sys_rt_sigpending(ctx: &mut Ctx<'_>, out: UserPtr<u64>, size: usize) -> KResult<u64> {
    if size > 8 {
        return Err(Errno::EINVAL);
    }
    let set = sig::pending_of(ctx.thread) & ctx.thread.sigmask.load(Ordering::Relaxed);
    ctx.mm()
        .writer(out, size)?
        .write_all(&set.to_le_bytes()[..size])?;
    Ok(0)
}

/// Waits until a signal can be delivered (or the thread is killed).
async fn wait_for_signal(t: &Thread) {
    t.wait_until(|| t.interrupted().then_some(())).await;
}

pub async fn sys_rt_sigsuspend(
    ctx: &mut Ctx<'_>,
    set: UserPtr<u64>,
    sigsetsize: usize,
) -> KResult<u64> {
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = ctx.read(set)?;
    let t = ctx.thread;
    let old = t.sigmask.swap(sig::sanitize_mask(mask), Ordering::AcqRel);
    t.set_saved_mask(old);
    wait_for_signal(t).await;
    Err(Errno::ERESTARTNOHAND)
}

pub async fn sys_pause(ctx: &mut Ctx<'_>) -> KResult<u64> {
    wait_for_signal(ctx.thread).await;
    Err(Errno::ERESTARTNOHAND)
}

pub async fn sys_rt_sigtimedwait(
    ctx: &mut Ctx<'_>,
    set_ptr: UserPtr<u64>,
    info_ptr: UserPtr<Siginfo>,
    ts_ptr: UserPtr<Timespec>,
    size: usize,
) -> KResult<u64> {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let set = sig::sanitize_mask(ctx.read(set_ptr)?);
    let timeout = if !ts_ptr.is_null() {
        let ts: Timespec = ctx.read(ts_ptr)?;
        Some(ts.to_ns().ok_or(Errno::EINVAL)?)
    } else {
        None
    };
    let t = ctx.thread.clone();
    // A signal in `set` is taken; any other deliverable one interrupts the wait.
    let take = || -> Option<KResult<Siginfo>> {
        if let Some(i) = sig::dequeue_from(&t, set) {
            return Some(Ok(i));
        }
        t.interrupted().then_some(Err(Errno::EINTR))
    };
    let got = match take() {
        Some(r) => r,
        None if timeout == Some(0) => Err(Errno::EAGAIN),
        None => {
            let wait = t.wait_until(take);
            match timeout {
                None => wait.await,
                Some(ns) => crate::task::timeout(ns, wait)
                    .await
                    .unwrap_or(Err(Errno::EAGAIN)),
            }
        }
    };
    let info = got?;
    if !info_ptr.is_null() {
        ctx.write(info_ptr, &info)?;
    }
    Ok(info.si_signo as u64)
}

/// Whether the caller may signal `target` (kill(2): root, or the caller's real or
/// effective uid matches the target's real or saved uid; SIGCONT within a session).
pub(super) fn may_signal(sender: &Process, target: &Process, signum: u32) -> bool {
    let s = sender.cred.lock().clone();
    if s.capable(CAP_KILL) {
        return true;
    }
    let t = target.cred.lock().clone();
    let same_user = [s.uid, s.euid].iter().any(|u| *u == t.uid || *u == t.suid);
    same_user
        || (signum == SIGCONT
            && sender.sid.load(Ordering::Relaxed) == target.sid.load(Ordering::Relaxed))
}

/// kill(2): pid > 0 one process, 0 the caller's group, -1 every process it may signal
/// but init and itself, < -1 the group -pid.
pub async fn sys_kill(ctx: &mut Ctx<'_>, pid: Pid, signum: i32) -> KResult<u64> {
    if signum != 0 {
        valid(signum)?;
    }
    let signum = signum as u32;
    let me = ctx.process().clone();
    let targets: Vec<Arc<Process>> = match pid {
        p if p > 0 => process::find(p as u32).into_iter().collect(),
        0 => process::in_group(me.pgid.load(Ordering::Relaxed)),
        -1 => process::all()
            .into_iter()
            .filter(|p| p.pid != 1 && p.pid != me.pid)
            .collect(),
        p if p == i32::MIN => return Err(Errno::ESRCH),
        p => process::in_group(p.unsigned_abs()),
    };
    // A zombie still exists until it is reaped: signalling it succeeds and does nothing.
    let targets: Vec<_> = targets
        .into_iter()
        .filter(|p| pid > 0 || p.state() == process::State::Running)
        .collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let allowed: Vec<_> = targets
        .iter()
        .filter(|t| may_signal(&me, t, signum))
        .collect();
    if allowed.is_empty() {
        return Err(Errno::EPERM);
    }
    let uid = me.cred.lock().uid;
    for t in allowed {
        sig::send_process(t, Siginfo::from_process(signum, SI_USER, me.pid, uid));
    }
    Ok(0)
}

fn thread_kill(
    ctx: &Ctx<'_>,
    tgid: Option<u32>,
    tid: i32,
    signum: i32,
    info: Option<Siginfo>,
) -> KResult<u64> {
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    if signum != 0 {
        valid(signum)?;
    }
    let t = process::find_thread(tid as u32).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != t.process.pid) {
        return Err(Errno::ESRCH);
    }
    let me = ctx.process();
    if !may_signal(me, &t.process, signum as u32) {
        return Err(Errno::EPERM);
    }
    if signum != 0 {
        let uid = me.cred.lock().uid;
        let info =
            info.unwrap_or_else(|| Siginfo::from_process(signum as u32, SI_TKILL, me.pid, uid));
        // A real-time signal with siginfo past RLIMIT_SIGPENDING: EAGAIN.
        if signum as u32 >= kestrel_abi::signal::SIGRTMIN
            && info.si_code != SI_USER
            && sig::rt_queue_full(&t)
        {
            return Err(Errno::EAGAIN);
        }
        sig::send_thread(&t, info);
    }
    Ok(0)
}

pub async fn sys_tkill(ctx: &mut Ctx<'_>, tid: Pid, sig: i32) -> KResult<u64> {
    thread_kill(ctx, None, tid, sig, None)
}

pub async fn sys_tgkill(ctx: &mut Ctx<'_>, tgid: Pid, tid: Pid, sig: i32) -> KResult<u64> {
    if tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    thread_kill(ctx, Some(tgid as u32), tid, sig, None)
}

/// The siginfo of rt_(tg)sigqueueinfo: only the kernel may claim SI_USER/SI_KERNEL
/// or SI_TKILL towards another process (EPERM).
fn queued_info(
    ctx: &Ctx<'_>,
    target_pid: u32,
    signum: i32,
    ptr: UserPtr<Siginfo>,
) -> KResult<Siginfo> {
    let mut info: Siginfo = ctx.read(ptr)?;
    if (info.si_code >= 0 || info.si_code == SI_TKILL) && target_pid != ctx.process().pid {
        return Err(Errno::EPERM);
    }
    info.si_signo = signum;
    Ok(info)
}

pub async fn sys_rt_sigqueueinfo(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    signum: i32,
    info: UserPtr<Siginfo>,
) -> KResult<u64> {
    if signum != 0 {
        valid(signum)?;
    }
    // A thread's id names its process too (Linux's kill_pid_info finds the
    // task by any pid, then signals its thread group).
    let p = if pid > 0 {
        process::find(pid as u32)
            .or_else(|| process::find_thread(pid as u32).map(|t| t.process.clone()))
            .ok_or(Errno::ESRCH)?
    } else {
        return Err(Errno::ESRCH);
    };
    let info = queued_info(ctx, p.pid, signum, info)?;
    if !may_signal(ctx.process(), &p, signum as u32) {
        return Err(Errno::EPERM);
    }
    if signum != 0 {
        if signum as u32 >= kestrel_abi::signal::SIGRTMIN
            && info.si_code != SI_USER
            && sig::rt_queue_full_process(&p)
        {
            return Err(Errno::EAGAIN);
        }
        sig::send_process(&p, info);
    }
    Ok(0)
}

pub async fn sys_rt_tgsigqueueinfo(
    ctx: &mut Ctx<'_>,
    tgid: Pid,
    tid: Pid,
    signum: i32,
    info: UserPtr<Siginfo>,
) -> KResult<u64> {
    if tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    if signum != 0 {
        valid(signum)?;
    }
    let info = queued_info(ctx, tgid as u32, signum, info)?;
    thread_kill(ctx, Some(tgid as u32), tid, signum, Some(info))
}

pub async fn sys_sigaltstack(
    ctx: &mut Ctx<'_>,
    ss: UserPtr<StackT>,
    old_ss: UserPtr<StackT>,
) -> KResult<u64> {
    let new = if !ss.is_null() {
        Some(ctx.read(ss)?)
    } else {
        None
    };
    let old = sig::set_altstack(ctx.thread, new.as_ref(), ctx.regs.regs.rsp)?;
    if !old_ss.is_null() {
        ctx.write(old_ss, &old)?;
    }
    Ok(0)
}

/// restart_syscall: resumes what an ERESTART_RESTARTBLOCK left (a sleep).
pub async fn sys_restart_syscall(ctx: &mut Ctx<'_>) -> KResult<u64> {
    let r = ctx.thread.take_restart();
    match r {
        Some(Restart::Sleep { deadline, rem }) => {
            super::time::sleep_until(ctx, deadline, rem).await
        }
        Some(Restart::FutexWait {
            uaddr,
            val,
            bitset,
            private,
            deadline,
        }) => super::futex::wait(ctx, uaddr, val, bitset, private, Some(deadline)).await,
        None => Err(Errno::EINTR),
    }
}
