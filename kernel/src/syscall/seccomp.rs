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
use core::sync::atomic::Ordering;

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

/// A thread's seccomp filters. Its mode is `Thread::seccomp_mode`, a byte of
/// the thread itself: kept apart so that it packs with the thread's other small
/// fields (a separate struct of a byte and a lock took 24 bytes and pushed
/// `Thread` into the next allocation class, 512 more bytes a thread).
impl Thread {
    /// Whether system calls are checked at all: the entry path's one test.
    #[inline(always)]
    pub fn seccomp_active(&self) -> bool {
        self.seccomp_mode.load(Ordering::Relaxed) != 0
    }

    /// The mode (PR_GET_SECCOMP, /proc's Seccomp): SECCOMP_MODE_DISABLED,
    /// _STRICT or _FILTER, set after the filter with release ordering.
    pub fn seccomp_mode(&self) -> u32 {
        u32::from(self.seccomp_mode.load(Ordering::Acquire))
    }
}

impl Thread {
    /// The newest filter of the thread's stack (filter mode), kept in the
    /// thread's rarely used part ([`crate::process::ThreadRare`]).
    pub fn seccomp_filter(&self) -> Option<Arc<Filter>> {
        self.rare_if_made()
            .and_then(|r| r.seccomp_filter.lock().clone())
    }

    /// Makes `f` the thread's filter stack (none: makes nothing for a thread
    /// that never had one).
    pub fn set_seccomp_filter(&self, f: Option<Arc<Filter>>) {
        match self.rare_if_made() {
            Some(r) => *r.seccomp_filter.lock() = f,
            None if f.is_none() => {}
            None => *self.rare().seccomp_filter.lock() = f,
        }
    }

    /// The number of filters on the thread's stack (/proc's Seccomp_filters).
    pub fn seccomp_filter_count(&self) -> usize {
        self.rare_if_made()
            .and_then(|r| r.seccomp_filter.lock().as_ref().map(|f| f.count()))
            .unwrap_or(0)
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
    let f = parent.seccomp_filter();
    child.set_seccomp_filter(f);
    child.mark_work();
    child.seccomp_mode.store(
        parent.seccomp_mode.load(Ordering::Acquire),
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
    Ok(u64::from(ctx.thread.seccomp_mode()))
}

fn set_strict(ctx: &mut Ctx<'_>) -> KResult<u64> {
    let t = ctx.thread;
    let _g = CHANGE.lock();
    let mode = t.seccomp_mode();
    if mode != SECCOMP_MODE_DISABLED && mode != SECCOMP_MODE_STRICT {
        return Err(Errno::EINVAL);
    }
    // As Linux on x86: strict mode also turns off RDTSC (TIF_NOTSC).
    ctx.regs.tsc_sigsegv = true;
    t.seccomp_mode
        .store(SECCOMP_MODE_STRICT as u8, Ordering::Release);
    t.mark_work();
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
    // The listener's descriptor is taken first (EMFILE before anything is
    // installed), and given back if the install fails.
    let listener = if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        let notif = Arc::new(Notif::default());
        let file = crate::fs::anon::anon_file(
            Arc::new(ListenerFile(notif.clone())),
            kestrel_abi::fs::O_RDWR,
        );
        let fd = ctx.install(file, true)?;
        Some((notif, fd))
    } else {
        None
    };
    let r = attach(ctx, flags, prog, listener.as_ref().map(|(n, _)| n.clone()));
    match listener {
        Some((_, fd)) if r == Ok(0) => Ok(fd as u64),
        Some((_, fd)) => {
            let file = ctx.process().files().lock().remove(fd);
            drop(file);
            r
        }
        None => r,
    }
}

/// Stacks `prog` on the caller's filters (and with TSYNC on every thread's),
/// as Linux's seccomp_attach_filter: 0, or with TSYNC the id of a thread
/// that cannot take the stack.
fn attach(ctx: &mut Ctx<'_>, flags: u32, prog: Program, notif: Option<Arc<Notif>>) -> KResult<u64> {
    let me = ctx.thread;
    let _g = CHANGE.lock();
    let mode = me.seccomp_mode();
    if mode != SECCOMP_MODE_DISABLED && mode != SECCOMP_MODE_FILTER {
        return Err(Errno::EINVAL);
    }
    let current = me.seccomp_filter();
    if notif.is_some() && has_listener(current.as_ref()) {
        return Err(Errno::EBUSY);
    }
    let side = notif.map(|n| Arc::new(FilterSide(n)) as Arc<dyn core::any::Any + Send + Sync>);
    let new = Filter::stack(
        prog,
        current.clone(),
        flags & SECCOMP_FILTER_FLAG_LOG != 0,
        flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0,
        side,
    )?;
    let tsync = flags & SECCOMP_FILTER_FLAG_TSYNC != 0;
    let siblings = if tsync {
        let threads = ctx.process().threads.lock().clone();
        // Every other thread must be unfiltered or on a stack the caller's
        // current one extends (Linux's seccomp_can_sync_threads); else the
        // first that is not, by id.
        for t in threads.iter().filter(|t| !Arc::ptr_eq(t, me)) {
            let ok = match t.seccomp_mode() {
                SECCOMP_MODE_DISABLED => true,
                SECCOMP_MODE_FILTER => {
                    Filter::is_ancestor(t.seccomp_filter().as_ref(), current.as_ref())
                }
                _ => false,
            };
            if !ok {
                if flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH != 0 {
                    return Err(Errno::ESRCH);
                }
                return Ok(u64::from(vtid(t)));
            }
        }
        threads
    } else {
        alloc::vec::Vec::new()
    };
    me.set_seccomp_filter(Some(new.clone()));
    me.seccomp_mode
        .store(SECCOMP_MODE_FILTER as u8, Ordering::Release);
    me.mark_work();
    for t in siblings.iter().filter(|t| !Arc::ptr_eq(t, me)) {
        if t.should_exit() {
            continue; // on its way out (Linux skips exiting threads)
        }
        t.set_seccomp_filter(Some(new.clone()));
        t.seccomp_mode
            .store(SECCOMP_MODE_FILTER as u8, Ordering::Release);
        t.mark_work();
    }
    Ok(0)
}

/// A thread's id as its process's PID namespace sees it (as gettid gives it).
fn vtid(t: &Thread) -> u32 {
    if t.tid() == t.process.pid {
        t.process.vpid
    } else {
        t.tid()
    }
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

/// /proc/sys/kernel/seccomp/actions_avail.
pub const ACTIONS_AVAIL: &str = "kill_process kill_thread trap errno user_notif trace log allow";

/// The actions' names with their actions_logged bits (Linux's SECCOMP_LOG_*).
const LOG_NAMES: [(&str, u32); 8] = [
    ("kill_process", 1),
    ("kill_thread", 1 << 1),
    ("trap", 1 << 2),
    ("errno", 1 << 3),
    ("user_notif", 1 << 7),
    ("trace", 1 << 4),
    ("log", 1 << 5),
    ("allow", 1 << 6),
];

/// Which actions are logged: all but allow, as Linux starts.
static ACTIONS_LOGGED: core::sync::atomic::AtomicU32 =
    core::sync::atomic::AtomicU32::new(0xff & !(1 << 6));

/// /proc/sys/kernel/seccomp/actions_logged, read.
pub fn actions_logged() -> alloc::string::String {
    let mask = ACTIONS_LOGGED.load(Ordering::Relaxed);
    let names: alloc::vec::Vec<&str> = LOG_NAMES
        .iter()
        .filter(|(_, bit)| mask & bit != 0)
        .map(|(n, _)| *n)
        .collect();
    names.join(" ")
}

/// /proc/sys/kernel/seccomp/actions_logged, written: names separated by
/// spaces, up to the first newline (an empty one logs nothing); an unknown
/// name or "allow" is EINVAL (Linux's write_actions_logged).
pub fn set_actions_logged(data: &[u8]) -> KResult<()> {
    if data.len() > ACTIONS_AVAIL.len() + 1 {
        return Err(Errno::EINVAL);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let mut mask = 0;
    for name in line.split(|&b| b == b' ') {
        if name.is_empty() {
            break; // Linux's strsep loop ends at an empty name
        }
        let bit = LOG_NAMES
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, b)| *b)
            .ok_or(Errno::EINVAL)?;
        mask |= bit;
    }
    if mask & (1 << 6) != 0 {
        return Err(Errno::EINVAL);
    }
    ACTIONS_LOGGED.store(mask, Ordering::Relaxed);
    Ok(())
}

/// The actions_logged bit of a filter result's action.
fn log_bit(ret: u32) -> u32 {
    match ret & SECCOMP_RET_ACTION_FULL {
        SECCOMP_RET_KILL_THREAD => 1 << 1,
        SECCOMP_RET_TRAP => 1 << 2,
        SECCOMP_RET_ERRNO => 1 << 3,
        SECCOMP_RET_USER_NOTIF => 1 << 7,
        SECCOMP_RET_TRACE => 1 << 4,
        SECCOMP_RET_LOG => 1 << 5,
        SECCOMP_RET_ALLOW => 1 << 6,
        _ => 1,
    }
}

/// Logs an action as Linux's seccomp_log would (to the kernel log, Kestrel
/// having no audit), if actions_logged has it: kills and RET_LOG always, the
/// others when the matching filter was installed with SECCOMP_FILTER_FLAG_LOG.
fn log_action(t: &Thread, nr: u64, sig: u32, ret: u32, requested: bool) {
    let action = ret & SECCOMP_RET_ACTION_FULL;
    if action == SECCOMP_RET_ALLOW || ACTIONS_LOGGED.load(Ordering::Relaxed) & log_bit(ret) == 0 {
        return;
    }
    let always = matches!(
        action,
        SECCOMP_RET_LOG | SECCOMP_RET_KILL_THREAD | SECCOMP_RET_KILL_PROCESS
    ) || Action::of(ret) == Action::KillProcess;
    if !requested && !always {
        return;
    }
    log::info!(
        "seccomp: pid {} tid {} ({}) syscall {} sig {} ret {:#x}",
        t.process.pid,
        t.tid(),
        alloc::string::String::from_utf8_lossy(&t.comm()),
        nr as u32 as i32,
        sig,
        ret
    );
}

/// What the check at system-call entry decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Entry {
    /// The call runs.
    Run,
    /// The call does not run; rax holds its final result (ERRNO, a
    /// supervisor's or tracer's answer, ENOSYS), a SIGSYS is queued (TRAP),
    /// or the thread or process is dying. No restart code in rax restarts it.
    Answered,
    /// The call does not run: a signal interrupted its wait for the
    /// supervisor, rax is -ERESTARTSYS (restarted or EINTR, by the handler).
    Interrupted,
}

/// The check at system-call entry, for a thread whose seccomp mode is set.
pub async fn on_entry(t: &Arc<Thread>, regs: &mut UserContext) -> Entry {
    if ptrace::wants(t, kestrel_abi::ptrace::PTRACE_O_SUSPEND_SECCOMP) {
        // The tracer (checkpoint/restore) suspended seccomp for this thread.
        return Entry::Run;
    }
    match t.seccomp_mode() {
        SECCOMP_MODE_STRICT => {
            let nr = regs.orig_rax;
            if kestrel_seccomp::strict_allows(nr) {
                return Entry::Run;
            }
            log_action(t, nr, SIGKILL, SECCOMP_RET_KILL_THREAD, true);
            // Linux's do_exit(SIGKILL): the thread goes; if it was the last, the
            // process ends killed by SIGKILL.
            exit_thread(t, SIGKILL);
            Entry::Answered
        }
        SECCOMP_MODE_FILTER => run_filters(t, regs).await,
        _ => Entry::Run,
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

async fn run_filters(t: &Arc<Thread>, regs: &mut UserContext) -> Entry {
    let mut recheck = false;
    loop {
        let Some(stack) = t.seccomp_filter() else {
            // Filter mode with no filter cannot happen; never fail open.
            kill_process(t, regs, regs.orig_rax, 0).await;
            return Entry::Answered;
        };
        let nr = regs.orig_rax;
        let r = &regs.regs;
        let data = kestrel_seccomp::data_for(nr, r.rip, [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]);
        let (ret, matched) = stack.run_all(&data);
        let requested = matched.is_some_and(|f| f.log);
        let listener = matched.and_then(notif_of);
        let killable_recv = matched.is_some_and(|f| f.wait_killable_recv);
        drop(stack);
        match Action::of(ret) {
            Action::Allow => return Entry::Run,
            Action::Log => {
                log_action(t, nr, 0, ret, true);
                return Entry::Run;
            }
            Action::Errno(e) => {
                regs.regs.rax = (-i64::from(e)) as u64;
                log_action(t, nr, 0, ret, requested);
                return Entry::Answered;
            }
            Action::Trap(data) => {
                // The handler sees the original registers (rax the number).
                regs.regs.rax = regs.orig_rax;
                signal::force(t, sigsys(nr, data, regs.regs.rip));
                log_action(t, nr, 0, ret, requested);
                return Entry::Answered;
            }
            Action::Trace(data) => {
                if recheck {
                    // Filters that still say TRACE after the tracer's stop: run.
                    return Entry::Run;
                }
                if !ptrace::wants(t, PTRACE_O_TRACESECCOMP) {
                    regs.regs.rax = Errno::ENOSYS.as_return() as u64;
                    log_action(t, nr, 0, ret, requested);
                    return Entry::Answered;
                }
                Box::pin(ptrace::event_stop(
                    t,
                    regs,
                    PTRACE_EVENT_SECCOMP,
                    u64::from(data),
                ))
                .await;
                if t.should_exit() {
                    return Entry::Answered;
                }
                // The tracer may have changed the number; -1 skips the call.
                if (regs.orig_rax as u32 as i32) < 0 {
                    return Entry::Answered;
                }
                // The filters run again on what the tracer left.
                recheck = true;
            }
            Action::UserNotif => {
                let e = user_notification(t, regs, listener, data, killable_recv).await;
                if e != Entry::Run {
                    log_action(t, nr, 0, ret, requested);
                }
                return e;
            }
            Action::KillThread if t.process.threads.lock().len() > 1 => {
                log_action(t, nr, SIGSYS, ret, true);
                exit_thread(t, SIGSYS);
                return Entry::Answered;
            }
            Action::KillThread | Action::KillProcess => {
                log_action(t, nr, SIGSYS, ret, true);
                kill_process(t, regs, nr, (ret & SECCOMP_RET_DATA) as u16).await;
                return Entry::Answered;
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

// ---- User notification --------------------------------------------------

/// SECCOMP_USER_NOTIF_FLAG_CONTINUE: the supervisor lets the call run.
const USER_NOTIF_FLAG_CONTINUE: u32 = 1;
/// The listener's requests (uapi linux/seccomp.h, ioctl type '!').
const IOCTL_NOTIF_RECV: u32 = 0xc050_2100;
const IOCTL_NOTIF_SEND: u32 = 0xc018_2101;
const IOCTL_NOTIF_ID_VALID: u32 = 0x4008_2102;
/// The first, wrongly directed number of ID_VALID, which Linux still takes.
const IOCTL_NOTIF_ID_VALID_WRONG_DIR: u32 = 0x8008_2102;
/// ADDFD without its size bits (the size is the struct's, 24 or more).
const IOCTL_NOTIF_ADDFD_NOSIZE: u32 = 0x4000_2103;
const IOC_SIZE_MASK: u32 = 0x3fff << 16;
const ADDFD_FLAG_SETFD: u32 = 1;
const ADDFD_FLAG_SEND: u32 = 2;
/// struct seccomp_notif_addfd's first size.
const ADDFD_SIZE_VER0: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq)]
enum NotifState {
    /// Waiting for the supervisor's RECV.
    Init,
    /// Received; waiting for SEND (or ADDFD with SEND).
    Sent,
    Replied,
}

/// One system call waiting for the supervisor.
struct Knotif {
    id: u64,
    thread: Arc<Thread>,
    data: SeccompData,
    state: NotifState,
    error: i32,
    val: i64,
    flags: u32,
}

#[derive(Default)]
struct NotifInner {
    next_id: u64,
    /// At most one per thread using the filter (each waits on its own).
    list: alloc::vec::Vec<Knotif>,
    /// The listener was closed: no more notifications (ENOSYS).
    detached: bool,
}

/// The notifications of a filter installed with NEW_LISTENER, shared by the
/// filter (through [`FilterSide`]) and its listener descriptor.
#[derive(Default)]
struct Notif {
    inner: spin::Mutex<NotifInner>,
    /// Woken on every change: a new notification (RECV, poll), a reply, the
    /// listener's close, the filter's last user gone.
    wq: kestrel_sync::WaitQueue,
    /// No thread uses the filter any more (the listener polls POLLHUP).
    orphaned: core::sync::atomic::AtomicBool,
}

impl Notif {
    /// The listener's close: every waiting call gets ENOSYS (Linux's
    /// seccomp_notify_detach).
    fn detach(&self) {
        {
            let mut inner = self.inner.lock();
            inner.detached = true;
            for k in inner.list.iter_mut() {
                if k.state != NotifState::Replied {
                    k.state = NotifState::Replied;
                    k.error = Errno::ENOSYS.as_return() as i32;
                    k.val = 0;
                    k.flags = 0;
                }
            }
        }
        self.wq.wake_all();
    }
}

/// What the filter holds: when the filter goes (its last thread gone), the
/// listener hears of it (POLLHUP).
struct FilterSide(Arc<Notif>);

impl Drop for FilterSide {
    fn drop(&mut self) {
        self.0
            .orphaned
            .store(true, core::sync::atomic::Ordering::Release);
        self.0.wq.wake_all();
    }
}

/// The listener descriptor ("seccomp notify"): closing it detaches.
struct ListenerFile(Arc<Notif>);

impl Drop for ListenerFile {
    fn drop(&mut self) {
        self.0.detach();
    }
}

impl kestrel_vfs::FileOps for ListenerFile {
    fn read(&self, _: &kestrel_vfs::OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _: &kestrel_vfs::OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn poll(&self) -> u16 {
        use kestrel_abi::fs::{POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
        let mut ev = 0;
        {
            let inner = self.0.inner.lock();
            if inner.list.iter().any(|k| k.state == NotifState::Init) {
                ev |= POLLIN | POLLRDNORM;
            }
            if inner.list.iter().any(|k| k.state == NotifState::Sent) {
                ev |= POLLOUT | POLLWRNORM;
            }
        }
        if self.0.orphaned.load(Ordering::Acquire) {
            ev |= POLLHUP;
        }
        ev
    }
    fn wait_queue(&self) -> Option<&kestrel_sync::WaitQueue> {
        Some(&self.0.wq)
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

/// Whether some filter on `stack` still has a listener (a second one is
/// EBUSY: Linux's has_duplicate_listener).
fn has_listener(stack: Option<&Arc<Filter>>) -> bool {
    let mut f = stack;
    while let Some(filter) = f {
        if let Some(side) = filter
            .notif
            .as_ref()
            .and_then(|n| n.downcast_ref::<FilterSide>())
            && !side.0.inner.lock().detached
        {
            return true;
        }
        f = filter.prev();
    }
    false
}

/// Whether `file` is a seccomp listener (its ioctls go to [`listener_ioctl`]).
pub fn is_listener(file: &kestrel_vfs::OpenFile) -> bool {
    file.ops().as_any().is::<ListenerFile>()
}

/// A SECCOMP_RET_USER_NOTIF result: the call waits, a parked future, until
/// the supervisor answers, the listener is closed (ENOSYS), a signal comes
/// (the call restarts or is EINTR, as Linux's -ERESTARTSYS; after the
/// supervisor's RECV only a kill ends the wait if the filter asked for
/// WAIT_KILLABLE_RECV), or the thread is killed. Returns whether the call is
/// skipped (false: the supervisor said CONTINUE).
async fn user_notification(
    t: &Arc<Thread>,
    regs: &mut UserContext,
    notif: Option<Arc<Notif>>,
    data: SeccompData,
    killable_recv: bool,
) -> Entry {
    let enosys = Errno::ENOSYS.as_return() as u64;
    let Some(notif) = notif else {
        regs.regs.rax = enosys;
        return Entry::Answered;
    };
    let id = {
        let mut inner = notif.inner.lock();
        if inner.detached {
            regs.regs.rax = enosys;
            return Entry::Answered;
        }
        if inner.list.try_reserve(1).is_err() {
            regs.regs.rax = Errno::ENOMEM.as_return() as u64;
            return Entry::Answered;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.list.push(Knotif {
            id,
            thread: t.clone(),
            data,
            state: NotifState::Init,
            error: 0,
            val: 0,
            flags: 0,
        });
        id
    };
    // However the wait ends (answered, interrupted, or the future dropped),
    // the notification leaves the list: it holds the thread.
    let _pending = Pending { notif: &notif, id };
    notif.wq.wake_all();
    let state_of = |n: &Notif| {
        n.inner
            .lock()
            .list
            .iter()
            .find(|k| k.id == id)
            .map(|k| (k.state, k.error, k.val, k.flags))
    };
    let replied = notif.wq.wait_until(|| match state_of(&notif) {
        Some((NotifState::Replied, e, v, f)) => Some(Some((e, v, f))),
        Some(_) => None,
        None => Some(None),
    });
    let stopped = t.wait_until(|| {
        let killable_now =
            killable_recv && matches!(state_of(&notif), Some((NotifState::Sent, ..)));
        (t.killed() || (!killable_now && t.interrupted())).then_some(())
    });
    let outcome = match futures_util::future::select(
        core::pin::pin!(replied),
        core::pin::pin!(stopped),
    )
    .await
    {
        futures_util::future::Either::Left((r, _)) => r,
        futures_util::future::Either::Right(_) => None,
    };
    match outcome {
        Some((_, _, f)) if f & USER_NOTIF_FLAG_CONTINUE != 0 => Entry::Run,
        Some((error, val, _)) => {
            regs.regs.rax = if error != 0 {
                i64::from(error) as u64
            } else {
                val as u64
            };
            Entry::Answered
        }
        None => {
            // Interrupted (or killed): the call restarts after a handler
            // with SA_RESTART, else fails with EINTR.
            regs.regs.rax = Errno::ERESTARTSYS.as_return() as u64;
            Entry::Interrupted
        }
    }
}

/// A notification on its listener's list while its call waits.
struct Pending<'a> {
    notif: &'a Notif,
    id: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.notif.inner.lock().list.retain(|k| k.id != self.id);
        self.notif.wq.wake_all();
    }
}

/// The notification behind a filter's listener state.
fn notif_of(f: &Filter) -> Option<Arc<Notif>> {
    f.notif
        .as_ref()
        .and_then(|n| n.downcast_ref::<FilterSide>())
        .map(|s| s.0.clone())
}

/// ioctl(2) on a listener.
pub async fn listener_ioctl(
    ctx: &mut Ctx<'_>,
    file: &kestrel_vfs::OpenFile,
    cmd: u32,
    arg: u64,
) -> KResult<u64> {
    let Some(l) = file.ops().as_any().downcast_ref::<ListenerFile>() else {
        return Err(Errno::EINVAL);
    };
    let n = &l.0;
    match cmd {
        IOCTL_NOTIF_RECV => {
            // The buffer must be zeroed (room for extensions).
            let buf: [u8; 80] = ctx.read(UserPtr::new(arg))?;
            if buf.iter().any(|&b| b != 0) {
                return Err(Errno::EINVAL);
            }
            let t = ctx.thread.clone();
            let wait = n.wq.wait_until(|| {
                let mut inner = n.inner.lock();
                let k = inner
                    .list
                    .iter_mut()
                    .find(|k| k.state == NotifState::Init)?;
                k.state = NotifState::Sent;
                Some(SeccompNotif {
                    id: k.id,
                    pid: vtid(&k.thread),
                    flags: 0,
                    data: k.data,
                })
            });
            let unotif =
                crate::process::signal::interruptible(&t, Errno::EINTR, async { Ok(wait.await) })
                    .await?;
            n.wq.wake_all();
            if let Err(e) = ctx.write(UserPtr::new(arg), &unotif) {
                // Not delivered: the notification waits for another RECV.
                if let Some(k) = n.inner.lock().list.iter_mut().find(|k| k.id == unotif.id) {
                    k.state = NotifState::Init;
                }
                n.wq.wake_all();
                return Err(e);
            }
            Ok(0)
        }
        IOCTL_NOTIF_SEND => {
            let resp: SeccompNotifResp = ctx.read(UserPtr::new(arg))?;
            if resp.flags & !USER_NOTIF_FLAG_CONTINUE != 0 {
                return Err(Errno::EINVAL);
            }
            if resp.flags & USER_NOTIF_FLAG_CONTINUE != 0 && (resp.error != 0 || resp.val != 0) {
                return Err(Errno::EINVAL);
            }
            {
                let mut inner = n.inner.lock();
                let k = inner
                    .list
                    .iter_mut()
                    .find(|k| k.id == resp.id)
                    .ok_or(Errno::ENOENT)?;
                if k.state != NotifState::Sent {
                    return Err(Errno::EINPROGRESS);
                }
                k.state = NotifState::Replied;
                k.error = resp.error;
                k.val = resp.val;
                k.flags = resp.flags;
            }
            n.wq.wake_all();
            Ok(0)
        }
        IOCTL_NOTIF_ID_VALID | IOCTL_NOTIF_ID_VALID_WRONG_DIR => {
            let id: u64 = ctx.read(UserPtr::new(arg))?;
            let valid = n
                .inner
                .lock()
                .list
                .iter()
                .any(|k| k.id == id && k.state == NotifState::Sent);
            if valid { Ok(0) } else { Err(Errno::ENOENT) }
        }
        c if c & !IOC_SIZE_MASK == IOCTL_NOTIF_ADDFD_NOSIZE => {
            let size = ((c & IOC_SIZE_MASK) >> 16) as usize;
            addfd(ctx, n, arg, size)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// SECCOMP_IOCTL_NOTIF_ADDFD: a descriptor of the supervisor's installed in
/// the waiting thread's process (at the lowest free number, or at `newfd`
/// with SETFD), optionally as the call's answer (SEND). Kestrel installs it
/// at once, from the supervisor's call, under the target's RLIMIT_NOFILE;
/// Linux has the waiting thread do it.
fn addfd(ctx: &Ctx<'_>, n: &Notif, arg: u64, size: usize) -> KResult<u64> {
    use kestrel_abi::fs::O_CLOEXEC;
    if !(ADDFD_SIZE_VER0..4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    // copy_struct_from_user: bytes past what Kestrel knows must be zero.
    let mut buf = super::zeroed_vec::<u8>(size)?;
    ctx.mm().read_slice(UserPtr::new(arg), &mut buf)?;
    if buf[ADDFD_SIZE_VER0..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    // The buffer is bytes: read the struct unaligned.
    let a: SeccompNotifAddfd = kestrel_abi::bytemuck::pod_read_unaligned(&buf[..ADDFD_SIZE_VER0]);
    if a.newfd_flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    if a.flags & !(ADDFD_FLAG_SETFD | ADDFD_FLAG_SEND) != 0 {
        return Err(Errno::EINVAL);
    }
    if a.newfd != 0 && a.flags & ADDFD_FLAG_SETFD == 0 {
        return Err(Errno::EINVAL);
    }
    let src = ctx.file(a.srcfd as i32)?;
    let target = {
        let inner = n.inner.lock();
        let k = inner
            .list
            .iter()
            .find(|k| k.id == a.id)
            .ok_or(Errno::ENOENT)?;
        if k.state != NotifState::Sent {
            return Err(Errno::EINPROGRESS);
        }
        k.thread.process.clone()
    };
    let cloexec = a.newfd_flags & O_CLOEXEC != 0;
    let limit = target.nofile();
    let fd = if a.flags & ADDFD_FLAG_SETFD != 0 {
        let old = target
            .files()
            .lock()
            .insert_at(a.newfd as i32, src, cloexec, limit)?;
        drop(old);
        a.newfd as i32
    } else {
        target.files().lock().insert(src, cloexec, 0, limit)?
    };
    if a.flags & ADDFD_FLAG_SEND != 0 {
        let mut inner = n.inner.lock();
        if let Some(k) = inner.list.iter_mut().find(|k| k.id == a.id)
            && k.state == NotifState::Sent
        {
            k.state = NotifState::Replied;
            k.error = 0;
            k.val = i64::from(fd);
            k.flags = 0;
        }
        drop(inner);
        n.wq.wake_all();
    }
    Ok(fd as u64)
}

// ---- ptrace's view (checkpoint/restore) ------------------------------------

/// The `n`th filter (0: the first installed) of stopped tracee `t`: EINVAL if
/// it is not in filter mode, ENOENT past its last (Linux's get_nth_filter).
/// The caller needs CAP_SYS_ADMIN and must not be in seccomp itself (EACCES).
fn nth_filter(ctx: &Ctx<'_>, t: &Thread, n: u64) -> KResult<Arc<Filter>> {
    if !ctx.capable(CAP_SYS_ADMIN) || ctx.thread.seccomp_active() {
        return Err(Errno::EACCES);
    }
    if t.seccomp_mode() != SECCOMP_MODE_FILTER {
        return Err(Errno::EINVAL);
    }
    let stack = t.seccomp_filter().ok_or(Errno::EINVAL)?;
    let n = usize::try_from(n).map_err(|_| Errno::ENOENT)?;
    // Walk down to it, keeping the stack (and so the filter) alive.
    let from_newest = stack.count().checked_sub(n + 1).ok_or(Errno::ENOENT)?;
    let mut f = stack;
    for _ in 0..from_newest {
        f = f.prev().cloned().ok_or(Errno::ENOENT)?;
    }
    Ok(f)
}

/// PTRACE_SECCOMP_GET_FILTER: the `index`th filter's length in
/// instructions, and its instructions at `buf` unless it is null.
pub fn ptrace_get_filter(ctx: &Ctx<'_>, t: &Thread, index: u64, buf: u64) -> KResult<u64> {
    let f = nth_filter(ctx, t, index)?;
    let insns = f.program().insns();
    if buf != 0 {
        ctx.mm().write_slice(UserPtr::new(buf), insns)?;
    }
    Ok(insns.len() as u64)
}

/// PTRACE_SECCOMP_GET_METADATA: `struct seccomp_metadata` {filter_off,
/// flags} at `data`, `size` bytes of it (at least the offset: EINVAL); the
/// flags say SECCOMP_FILTER_FLAG_LOG. Returns the size written.
pub fn ptrace_get_metadata(ctx: &Ctx<'_>, t: &Thread, size: u64, data: u64) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) || ctx.thread.seccomp_active() {
        return Err(Errno::EACCES);
    }
    let size = size.min(16) as usize;
    if size < 8 {
        return Err(Errno::EINVAL);
    }
    let off: u64 = ctx.read(UserPtr::new(data))?;
    let f = nth_filter(ctx, t, off)?;
    let flags = if f.log {
        u64::from(SECCOMP_FILTER_FLAG_LOG)
    } else {
        0
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&off.to_ne_bytes());
    out[8..].copy_from_slice(&flags.to_ne_bytes());
    ctx.mm().write_slice(UserPtr::new(data), &out[..size])?;
    Ok(size as u64)
}
