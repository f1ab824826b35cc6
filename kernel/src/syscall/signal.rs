//! Signal bookkeeping: dispositions, masks, and kill with default actions
//! (see process::signal for what is and is not delivered yet).

use core::sync::atomic::Ordering;

use kestrel_abi::signal::*;
use kestrel_abi::{Errno, KResult};

use super::{Args, Ctx, arg_i32};
use crate::process::{self, signal as sig};

fn valid(signum: u64) -> KResult<u32> {
    if (1..=u64::from(NSIG)).contains(&signum) {
        Ok(signum as u32)
    } else {
        Err(Errno::EINVAL)
    }
}

pub async fn sys_rt_sigaction(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (signum, act_ptr, old_ptr, size) = (a[0], a[1], a[2], a[3]);
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let signum = valid(signum)?;
    // Read the new action before writing the old one: they may be the same buffer.
    let new = if act_ptr != 0 {
        Some(ctx.read::<KernelSigaction>(act_ptr)?)
    } else {
        None
    };
    if new.is_some() && (signum == SIGKILL || signum == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let shared = ctx.process().sigactions();
    let old = shared.lock().get(signum);
    if old_ptr != 0 {
        ctx.write(old_ptr, &old)?;
    }
    if let Some(mut n) = new {
        n.mask = sig::sanitize_mask(n.mask);
        let mut acts = shared.lock();
        acts.actions[(signum - 1) as usize] = n;
        if n.handler == SIG_IGN
            || (n.handler == SIG_DFL && sig::default_action(signum) == sig::DefaultAction::Ignore)
        {
            acts.pending &= !sig_bit(signum);
        }
    }
    Ok(0)
}

pub async fn sys_rt_sigprocmask(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (how, set_ptr, old_ptr, size) = (arg_i32(a[0]), a[1], a[2], a[3]);
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let set = if set_ptr != 0 {
        Some(ctx.read::<u64>(set_ptr)?)
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
    if old_ptr != 0 {
        ctx.write(old_ptr, &old)?;
    }
    Ok(0)
}

/// kill(2): pid > 0 one process, 0 the caller's group, -1 everyone it may signal but
/// init and itself, < -1 the group -pid.
pub async fn sys_kill(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (pid, signum) = (arg_i32(a[0]), a[1]);
    if signum != 0 {
        valid(signum)?;
    }
    let signum = signum as u32;
    let me = ctx.process().clone();
    let targets: alloc::vec::Vec<_> = match pid {
        p if p > 0 => process::find(p as u32).into_iter().collect(),
        0 => process::in_group(me.pgid.load(Ordering::Relaxed)),
        -1 => process::all()
            .into_iter()
            .filter(|p| p.pid != 1 && p.pid != me.pid)
            .collect(),
        p => process::in_group(p.unsigned_abs()),
    };
    let targets: alloc::vec::Vec<_> = targets
        .into_iter()
        .filter(|p| p.state() == process::State::Running)
        .collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    for t in &targets {
        sig::send(t, signum);
    }
    Ok(0)
}

pub async fn sys_tkill(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (tid, signum) = (arg_i32(a[0]), a[1]);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    thread_kill(ctx, None, tid as u32, signum)
}

pub async fn sys_tgkill(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (tgid, tid, signum) = (arg_i32(a[0]), arg_i32(a[1]), a[2]);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    thread_kill(ctx, Some(tgid as u32), tid as u32, signum)
}

fn thread_kill(_ctx: &Ctx<'_>, tgid: Option<u32>, tid: u32, signum: u64) -> KResult<u64> {
    if signum != 0 {
        valid(signum)?;
    }
    let t = process::find_thread(tid).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != t.process.pid) {
        return Err(Errno::ESRCH);
    }
    sig::send(&t.process, signum as u32);
    Ok(0)
}
