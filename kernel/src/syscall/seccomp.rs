//! seccomp(2) and prctl's PR_SET_SECCOMP / PR_GET_SECCOMP: a thread restricting
//! the system calls it (and every thread and process it later makes) may run.
//!
//! Strict mode allows read, write, exit and rt_sigreturn; anything else kills
//! the thread with SIGKILL. Filter mode runs a stack of classic-BPF programs
//! ([`kestrel_seccomp`]) on each call's `struct seccomp_data` at system-call
//! entry, after a ptrace syscall-enter-stop (so a tracer's changes are what
//! the filters see), and carries out the most restrictive result.
//!
//! The state is per thread ([`Seccomp`], in [`Thread`]): a mode byte that the
//! entry path reads, one load and one branch when it is 0, and the newest
//! filter of the thread's stack. Filters are shared (an `Arc`) by fork, clone
//! and TSYNC and never change once installed; execve keeps them.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU8, Ordering};

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::process::wstatus_signaled;
use kestrel_abi::ptrace::{AUDIT_ARCH_X86_64, PTRACE_EVENT_SECCOMP, PTRACE_O_TRACESECCOMP};
use kestrel_abi::seccomp::*;
use kestrel_abi::signal::{SIGKILL, SIGSYS, Siginfo};
use kestrel_abi::{Errno, KResult};
use kestrel_seccomp::{Action, Filter, Program};

use super::Ctx;
use super::args::UserPtr;
use crate::arch::trap::UserContext;
use crate::process::{Thread, ptrace, signal};

/// A thread's seccomp state.
#[derive(Default)]
pub struct Seccomp {
    /// SECCOMP_MODE_DISABLED, _STRICT or _FILTER: what system-call entry reads
    /// (set after `filter`, with release ordering).
    mode: AtomicU8,
    /// The newest filter of the thread's stack (filter mode).
    filter: spin::Mutex<Option<Arc<Filter>>>,
}

impl Seccomp {
    /// Whether system calls are checked at all: the entry path's one test.
    #[inline(always)]
    pub fn active(&self) -> bool {
        self.mode.load(Ordering::Relaxed) != 0
    }

    /// The mode (PR_GET_SECCOMP, /proc's Seccomp).
    pub fn mode(&self) -> u32 {
        u32::from(self.mode.load(Ordering::Acquire))
    }

    /// The number of filters on the thread's stack (/proc's Seccomp_filters).
    pub fn filter_count(&self) -> usize {
        self.filter.lock().as_ref().map_or(0, |f| f.count())
    }
}

/// Serializes every change of any thread's seccomp state: installs (TSYNC
/// changes other threads) and the copy a new thread or process takes, so that
/// a thread cloned while another thread synchronizes its siblings ends up
/// with the synchronized stack (Linux holds the sighand lock for both). Held
/// briefly and never across an await.
static CHANGE: spin::Mutex<()> = spin::Mutex::new(());

/// fork and clone: the new thread starts with its creator's mode and filters
/// (after it is on its process's thread list, so that a TSYNC from then on
/// reaches it).
pub fn inherit(parent: &Thread, child: &Thread) {
    let _g = CHANGE.lock();
    let f = parent.seccomp.filter.lock().clone();
    *child.seccomp.filter.lock() = f;
    child.seccomp.mode.store(
        parent.seccomp.mode.load(Ordering::Acquire),
        Ordering::Release,
    );
}

/// seccomp(2).
pub async fn sys_seccomp(ctx: &mut Ctx<'_>, op: u32, flags: u32, uargs: u64) -> KResult<u64> {
    match op {
        SECCOMP_SET_MODE_STRICT => {
            if flags != 0 || uargs != 0 {
                return Err(Errno::EINVAL);
            }
            set_strict(ctx)
        }
        SECCOMP_SET_MODE_FILTER => set_filter(ctx, flags, uargs),
        SECCOMP_GET_ACTION_AVAIL => {
            if flags != 0 {
                return Err(Errno::EINVAL);
            }
            let action: u32 = ctx.read(UserPtr::new(uargs))?;
            if !Action::available(action) {
                return Err(Errno::EOPNOTSUPP);
            }
            Ok(0)
        }
        SECCOMP_GET_NOTIF_SIZES => {
            if flags != 0 {
                return Err(Errno::EINVAL);
            }
            let sizes = SeccompNotifSizes {
                seccomp_notif: 80,
                seccomp_notif_resp: 24,
                seccomp_data: 64,
            };
            ctx.write(UserPtr::new(uargs), &sizes)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// prctl(PR_SET_SECCOMP, mode, filter): seccomp(2) without flags (strict
/// mode ignores `filter`).
pub fn prctl_set(ctx: &mut Ctx<'_>, mode: u64, filter: u64) -> KResult<u64> {
    match mode {
        m if m == u64::from(SECCOMP_MODE_STRICT) => set_strict(ctx),
        m if m == u64::from(SECCOMP_MODE_FILTER) => set_filter(ctx, 0, filter),
        _ => Err(Errno::EINVAL),
    }
}

/// prctl(PR_GET_SECCOMP): the calling thread's mode (in strict mode the call
/// itself is fatal).
pub fn prctl_get(ctx: &Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.thread.seccomp.mode()))
}

fn set_strict(ctx: &mut Ctx<'_>) -> KResult<u64> {
    let s = &ctx.thread.seccomp;
    let _g = CHANGE.lock();
    let mode = s.mode();
    if mode != SECCOMP_MODE_DISABLED && mode != SECCOMP_MODE_STRICT {
        return Err(Errno::EINVAL);
    }
    // As Linux on x86: strict mode also turns off RDTSC (TIF_NOTSC).
    ctx.regs.tsc_sigsegv = true;
    s.mode.store(SECCOMP_MODE_STRICT as u8, Ordering::Release);
    Ok(0)
}

/// Reads and checks the user's `struct sock_fprog` (Linux's
/// seccomp_prepare_user_filter: EFAULT, then the length, then the privilege,
/// then the program).
fn prepare(ctx: &Ctx<'_>, uargs: u64) -> KResult<Program> {
    let fprog: SockFprog = ctx.read(UserPtr::new(uargs))?;
    let len = usize::from(fprog.len);
    if len == 0 || len > BPF_MAXINSNS {
        return Err(Errno::EINVAL);
    }
    if !ctx.process().no_new_privs.load(Ordering::Acquire) && !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EACCES);
    }
    if fprog.filter == 0 {
        return Err(Errno::EINVAL);
    }
    // At most 4096 instructions of 8 bytes.
    let mut insns = super::zeroed_vec::<SockFilter>(len)?;
    ctx.mm()
        .read_slice(UserPtr::new(fprog.filter), &mut insns)?;
    Program::new(insns)
}

fn set_filter(ctx: &mut Ctx<'_>, flags: u32, uargs: u64) -> KResult<u64> {
    if flags & !SECCOMP_FILTER_FLAG_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    // TSYNC's failure answer (a thread id) and NEW_LISTENER's success answer
    // (a descriptor) cannot be told apart unless TSYNC_ESRCH turns the former
    // into ESRCH.
    if flags & SECCOMP_FILTER_FLAG_TSYNC != 0
        && flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
        && flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH == 0
    {
        return Err(Errno::EINVAL);
    }
    if flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0
        && flags & SECCOMP_FILTER_FLAG_NEW_LISTENER == 0
    {
        return Err(Errno::EINVAL);
    }
    let prog = prepare(ctx, uargs)?;
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // User notification is not built yet: say so rather than install a
        // filter whose listener never answers.
        return Err(Errno::EINVAL);
    }
    let me = ctx.thread;
    let _g = CHANGE.lock();
    let mode = me.seccomp.mode();
    if mode != SECCOMP_MODE_DISABLED && mode != SECCOMP_MODE_FILTER {
        return Err(Errno::EINVAL);
    }
    let current = me.seccomp.filter.lock().clone();
    let new = Filter::stack(
        prog,
        current.clone(),
        flags & SECCOMP_FILTER_FLAG_LOG != 0,
        flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0,
    )?;
    let tsync = flags & SECCOMP_FILTER_FLAG_TSYNC != 0;
    let siblings = if tsync {
        let threads = ctx.process().threads.lock().clone();
        // Every other thread must be unfiltered or on a stack the caller's
        // current one extends (Linux's seccomp_can_sync_threads); else the
        // first that is not, by id.
        for t in threads.iter().filter(|t| !Arc::ptr_eq(t, me)) {
            let ok = match t.seccomp.mode() {
                SECCOMP_MODE_DISABLED => true,
                SECCOMP_MODE_FILTER => {
                    Filter::is_ancestor(t.seccomp.filter.lock().as_ref(), current.as_ref())
                }
                _ => false,
            };
            if !ok {
                if flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH != 0 {
                    return Err(Errno::ESRCH);
                }
                return Ok(u64::from(t.tid));
            }
        }
        threads
    } else {
        alloc::vec::Vec::new()
    };
    *me.seccomp.filter.lock() = Some(new.clone());
    me.seccomp
        .mode
        .store(SECCOMP_MODE_FILTER as u8, Ordering::Release);
    for t in siblings.iter().filter(|t| !Arc::ptr_eq(t, me)) {
        if t.should_exit() {
            continue; // on its way out (Linux skips exiting threads)
        }
        *t.seccomp.filter.lock() = Some(new.clone());
        t.seccomp
            .mode
            .store(SECCOMP_MODE_FILTER as u8, Ordering::Release);
    }
    Ok(0)
}

/// The SIGSYS of SECCOMP_RET_TRAP and of the kill actions: si_code SYS_SECCOMP,
/// si_errno the filter's data, si_call_addr the address after the `syscall`
/// instruction, si_syscall the number, si_arch AUDIT_ARCH_X86_64.
fn sigsys(nr: u64, data: u16, rip: u64) -> Siginfo {
    let mut info = Siginfo::new(SIGSYS, SYS_SECCOMP);
    info.si_errno = i32::from(data);
    info.fields[0] = rip;
    info.fields[1] = u64::from(nr as u32) | u64::from(AUDIT_ARCH_X86_64) << 32;
    info
}

/// Logs an action as Linux's seccomp_log would (to the kernel log, Kestrel
/// having no audit): kills and RET_LOG always, the others when the matching
/// filter was installed with SECCOMP_FILTER_FLAG_LOG.
fn log_action(t: &Thread, nr: u64, sig: u32, ret: u32, requested: bool) {
    if !requested {
        return;
    }
    log::info!(
        "seccomp: pid {} tid {} ({}) syscall {} sig {} ret {:#x}",
        t.process.pid,
        t.tid,
        alloc::string::String::from_utf8_lossy(&t.comm()),
        nr as u32 as i32,
        sig,
        ret
    );
}

/// The check at system-call entry, for a thread whose seccomp mode is set.
/// Returns true if the call is not to run: its result is already in rax
/// (ERRNO, a tracer's skip, ENOSYS), a SIGSYS is queued (TRAP), or the thread
/// or process is dying.
pub async fn on_entry(t: &Arc<Thread>, regs: &mut UserContext) -> bool {
    match t.seccomp.mode() {
        SECCOMP_MODE_STRICT => {
            let nr = regs.orig_rax;
            if kestrel_seccomp::strict_allows(nr) {
                return false;
            }
            log_action(t, nr, SIGKILL, SECCOMP_RET_KILL_THREAD, true);
            // Linux's do_exit(SIGKILL): the thread goes; if it was the last, the
            // process ends killed by SIGKILL.
            exit_thread(t, SIGKILL);
            true
        }
        SECCOMP_MODE_FILTER => run_filters(t, regs).await,
        _ => false,
    }
}

/// The thread ends as by Linux's do_exit(sig): alone, the process ends
/// killed by `sig` (no core); otherwise only the thread goes.
fn exit_thread(t: &Arc<Thread>, sig: u32) {
    let p = &t.process;
    if p.threads.lock().len() <= 1 {
        p.begin_exit(wstatus_signaled(sig, false));
    } else {
        t.set_exit_code(sig);
        t.request_exit();
    }
}

async fn run_filters(t: &Arc<Thread>, regs: &mut UserContext) -> bool {
    let mut recheck = false;
    loop {
        let Some(stack) = t.seccomp.filter.lock().clone() else {
            // Filter mode with no filter cannot happen; never fail open.
            kill_process(t, regs, regs.orig_rax, 0).await;
            return true;
        };
        let nr = regs.orig_rax;
        let r = &regs.regs;
        let data = kestrel_seccomp::data_for(nr, r.rip, [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]);
        let (ret, matched) = stack.run_all(&data);
        let requested = matched.is_some_and(|f| f.log);
        drop(stack);
        match Action::of(ret) {
            Action::Allow => return false,
            Action::Log => {
                log_action(t, nr, 0, ret, true);
                return false;
            }
            Action::Errno(e) => {
                regs.regs.rax = (-i64::from(e)) as u64;
                log_action(t, nr, 0, ret, requested);
                return true;
            }
            Action::Trap(data) => {
                // The handler sees the original registers (rax the number).
                regs.regs.rax = regs.orig_rax;
                signal::force(t, sigsys(nr, data, regs.regs.rip));
                log_action(t, nr, 0, ret, requested);
                return true;
            }
            Action::Trace(data) => {
                if recheck {
                    // Filters that still say TRACE after the tracer's stop: run.
                    return false;
                }
                if !ptrace::wants(t, PTRACE_O_TRACESECCOMP) {
                    regs.regs.rax = Errno::ENOSYS.as_return() as u64;
                    log_action(t, nr, 0, ret, requested);
                    return true;
                }
                Box::pin(ptrace::event_stop(
                    t,
                    regs,
                    PTRACE_EVENT_SECCOMP,
                    u64::from(data),
                ))
                .await;
                if t.should_exit() {
                    return true;
                }
                // The tracer may have changed the number; -1 skips the call.
                if (regs.orig_rax as u32 as i32) < 0 {
                    return true;
                }
                // The filters run again on what the tracer left.
                recheck = true;
            }
            Action::UserNotif => {
                // No listener can exist (NEW_LISTENER is refused): Linux's
                // answer for a filter without one.
                regs.regs.rax = Errno::ENOSYS.as_return() as u64;
                log_action(t, nr, 0, ret, requested);
                return true;
            }
            Action::KillThread if t.process.threads.lock().len() > 1 => {
                log_action(t, nr, SIGSYS, ret, true);
                exit_thread(t, SIGSYS);
                return true;
            }
            Action::KillThread | Action::KillProcess => {
                log_action(t, nr, SIGSYS, ret, true);
                kill_process(t, regs, nr, (ret & SECCOMP_RET_DATA) as u16).await;
                return true;
            }
        }
    }
}

/// The process dies of SIGSYS with a core dump where Linux would write one
/// (the last thread's KILL_THREAD, KILL_PROCESS): no handler, no ptrace stop.
async fn kill_process(t: &Arc<Thread>, regs: &mut UserContext, nr: u64, data: u16) {
    // The core shows the registers of the call (rax the number).
    regs.regs.rax = regs.orig_rax;
    let info = sigsys(nr, data, regs.regs.rip);
    let p = &t.process;
    let status = wstatus_signaled(SIGSYS, false);
    if p.claim_exit(status, t) {
        let dumped = Box::pin(super::coredump::dump(t, regs, &info)).await;
        if dumped {
            p.mark_core_dumped();
        }
    }
    p.begin_exit(status);
}
