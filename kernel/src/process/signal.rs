//! Signals: generation, the pending queues, interruption, delivery, sigreturn.
//!
//! # Generation
//! [`send_process`] and [`send_thread`] queue a `siginfo` on the process's shared
//! queue or one thread's own (standard signals coalesce, real-time ones queue), and
//! wake a thread that does not block the signal. SIGKILL, SIGSTOP and SIGCONT act at
//! once, as in Linux: SIGKILL ends the process, SIGCONT resumes a stopped one and
//! discards pending stop signals, a stop signal discards a pending SIGCONT. A signal
//! that would be ignored is discarded when it is sent.
//!
//! # Interruption
//! Every blocking wait goes through [`interruptible`]: it polls the wait first, then
//! checks whether a signal can be delivered, and if so ends the call with one of the
//! kernel-internal `ERESTART*` codes. What that becomes is decided at delivery, where
//! Linux decides it: EINTR if a handler runs (unless SA_RESTART and the code allows
//! restarting), otherwise the call is restarted by backing RIP over the `syscall`
//! instruction (or through `restart_syscall` for sleeps, which resume with the time
//! left).
//!
//! # Delivery
//! Before a thread returns to user mode ([`deliver`]), pending unblocked signals are
//! taken lowest number first. Ignored ones vanish, default actions terminate, stop or
//! continue the process, and a handler gets an `rt_sigframe` on the user stack (or the
//! alternate stack): the return address (`sa_restorer`), a `ucontext` with every
//! register and the old signal mask, the `siginfo`, and the XSAVE image of the FPU,
//! laid out as Linux's x86-64 `setup_rt_frame` does, so glibc and musl accept it.
//! [`sigreturn`] reads it back, checks it, and kills the process with SIGSEGV if it
//! was corrupted.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::Ordering;
use core::task::{Context, Poll};

use kestrel_abi::process::wstatus_signaled;
use kestrel_abi::signal::*;
use kestrel_abi::{Errno, KResult};

use super::{Process, Thread};
use crate::arch::fpu::{self, HasFpu};
use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap::{SYSCALL_VECTOR, UserContext, rflags};
use kestrel_usermem::UserPtr;

/// The dispositions of every signal (shared with CLONE_SIGHAND).
#[derive(Clone)]
pub struct SigActions {
    pub actions: [KernelSigaction; NSIG as usize],
}

impl Default for SigActions {
    fn default() -> Self {
        Self {
            actions: [KernelSigaction::default(); NSIG as usize],
        }
    }
}

impl SigActions {
    /// The disposition of `sig` (1-based).
    pub fn get(&self, sig: u32) -> KernelSigaction {
        self.actions[(sig - 1) as usize]
    }

    /// execve: handlers become SIG_DFL; ignored signals stay ignored.
    pub fn reset_for_exec(&mut self) {
        for a in self.actions.iter_mut() {
            if a.handler != SIG_IGN {
                *a = KernelSigaction::default();
            }
        }
    }
}

/// What a signal does by default (signal(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    Core,
    Ignore,
    Stop,
    Continue,
}

/// The default action of `sig`.
pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::Core,
        _ => DefaultAction::Terminate,
    }
}

const STOP_SIGNALS: u64 = sig_bit(SIGSTOP) | sig_bit(SIGTSTP) | sig_bit(SIGTTIN) | sig_bit(SIGTTOU);
const UNBLOCKABLE: u64 = sig_bit(SIGKILL) | sig_bit(SIGSTOP);

/// The thread's blocked-signal mask as Linux keeps it: SIGKILL and SIGSTOP can never
/// be blocked.
pub fn sanitize_mask(mask: u64) -> u64 {
    mask & !UNBLOCKABLE
}

/// Pending signals: the siginfo of each queued instance behind a lock, and
/// the pending set (a bit per signal) in an atomic beside it, so that the
/// return to user mode (every system call) sees "nothing pending" without
/// taking two locks. The set is written only under the lock (as each guard is
/// dropped); a reader that misses a signal being queued at that moment is no
/// worse off than one that took the lock just before the sender: the sender's
/// `kick` brings the thread back. (The set is not kept a second time under the
/// lock, and the queue is a `Vec`, not a `VecDeque`: 40 bytes in every
/// `Thread` rather than 56; a parked thread's memory, docs/hot-paths.md.)
#[derive(Default)]
pub struct PendingQueue {
    infos: spin::Mutex<Vec<Siginfo>>,
    summary: core::sync::atomic::AtomicU64,
}

impl PendingQueue {
    /// Locks the queue; the summary follows when the guard is dropped.
    pub fn lock(&self) -> PendingGuard<'_> {
        let infos = self.infos.lock();
        PendingGuard {
            infos,
            mask: self.summary.load(Ordering::Relaxed),
            summary: &self.summary,
        }
    }

    /// The pending set, without the lock: a snapshot.
    pub fn summary(&self) -> u64 {
        self.summary.load(Ordering::Acquire)
    }
}

/// The locked queue of a [`PendingQueue`], with its pending set (written back
/// when the guard is dropped).
pub struct PendingGuard<'a> {
    infos: spin::MutexGuard<'a, Vec<Siginfo>>,
    mask: u64,
    summary: &'a core::sync::atomic::AtomicU64,
}

impl PendingGuard<'_> {
    /// Queues `info`. A standard signal already pending is not queued twice
    /// (returns false).
    fn push(&mut self, info: Siginfo) -> bool {
        let sig = info.si_signo as u32;
        if sig < SIGRTMIN && self.mask & sig_bit(sig) != 0 {
            return false;
        }
        self.mask |= sig_bit(sig);
        self.infos.push(info);
        true
    }

    /// Takes the lowest-numbered pending signal in `set`.
    fn take(&mut self, set: u64) -> Option<Siginfo> {
        let ready = self.mask & set;
        if ready == 0 {
            return None;
        }
        let sig = ready.trailing_zeros() + 1;
        let i = self.infos.iter().position(|s| s.si_signo as u32 == sig)?;
        let info = self.infos.remove(i);
        if !self.infos.iter().any(|s| s.si_signo as u32 == sig) {
            self.mask &= !sig_bit(sig);
        }
        Some(info)
    }

    /// Drops every pending signal in `set`.
    fn discard(&mut self, set: u64) {
        self.mask &= !set;
        self.infos.retain(|s| sig_bit(s.si_signo as u32) & set == 0);
    }

    /// The pending set.
    pub fn pending(&self) -> u64 {
        self.mask
    }

    /// Queued real-time signals (RLIMIT_SIGPENDING).
    fn queued(&self) -> usize {
        self.infos.len()
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        // Still under the lock: the guard's field is dropped after this.
        self.summary.store(self.mask, Ordering::Release);
    }
}

/// A thread's alternate signal stack: `ss_flags` is SS_DISABLE when there is
/// none (the default), else SS_AUTODISARM or 0. (Not an `Option<StackT>`: that
/// is 8 bytes more; it lives in the thread's [`super::ThreadRare`].)
#[derive(Clone, Copy)]
pub struct AltStack(StackT);

impl Default for AltStack {
    fn default() -> Self {
        AltStack(StackT {
            ss_flags: SS_DISABLE,
            ..StackT::default()
        })
    }
}

impl AltStack {
    /// The stack installed, if any.
    fn get(self) -> Option<StackT> {
        (self.0.ss_flags & SS_DISABLE == 0).then_some(self.0)
    }
}

/// A thread's signal state.
#[derive(Default)]
pub struct ThreadSignals {
    pub pending: PendingQueue,
}

/// A thread's rarely used signal state (in [`super::ThreadRare`], made the
/// first time one of them is set).
#[derive(Default)]
pub struct RareSignals {
    altstack: spin::Mutex<AltStack>,
    /// The mask to restore after the next delivery (sigsuspend, ppoll, pselect).
    saved_mask: spin::Mutex<Option<u64>>,
    /// How to resume an interrupted sleep through restart_syscall.
    restart: spin::Mutex<Option<Restart>>,
}

impl Thread {
    #[inline(always)]
    fn rare_signals(&self) -> Option<&RareSignals> {
        self.rare_if_made().map(|r| &r.signals)
    }

    /// The alternate signal stack (SS_DISABLE: none).
    pub fn alt_stack(&self) -> AltStack {
        self.rare_signals()
            .map_or_else(AltStack::default, |r| *r.altstack.lock())
    }

    /// Installs `a` as the alternate stack (none: SS_DISABLE, which makes
    /// nothing for a thread that never had one).
    pub fn set_alt_stack(&self, a: AltStack) {
        match self.rare_signals() {
            Some(r) => *r.altstack.lock() = a,
            None if a.get().is_none() => {}
            None => *self.rare().signals.altstack.lock() = a,
        }
    }

    /// Remembers the mask to put back after the next delivery (sigsuspend,
    /// ppoll, pselect).
    pub fn set_saved_mask(&self, m: u64) {
        *self.rare().signals.saved_mask.lock() = Some(m);
        self.mark_work();
    }

    /// Takes the mask to put back, if one was saved.
    pub fn take_saved_mask(&self) -> Option<u64> {
        self.rare_signals().and_then(|r| r.saved_mask.lock().take())
    }

    /// Whether a mask waits to be put back.
    #[inline(always)]
    pub fn has_saved_mask(&self) -> bool {
        self.rare_signals()
            .is_some_and(|r| r.saved_mask.lock().is_some())
    }

    /// Records how restart_syscall resumes the interrupted call.
    pub fn set_restart(&self, r: Restart) {
        *self.rare().signals.restart.lock() = Some(r);
    }

    /// Takes the restart block, if any.
    pub fn take_restart(&self) -> Option<Restart> {
        self.rare_signals().and_then(|r| r.restart.lock().take())
    }
}

/// State restart_syscall resumes from (Linux's restart_block).
#[derive(Debug, Clone, Copy)]
pub enum Restart {
    /// A sleep until `deadline` on the monotonic clock; write the time left to `rem`
    /// (NULL: don't) if interrupted again.
    Sleep {
        deadline: u64,
        rem: kestrel_usermem::UserPtr<kestrel_abi::time::Timespec>,
    },
    /// A futex wait with a timeout, resumed with the same deadline.
    FutexWait {
        uaddr: kestrel_usermem::UserPtr<u32>,
        val: u32,
        bitset: u32,
        private: bool,
        deadline: u64,
    },
}

/// A process's shared signal state.
#[derive(Default)]
pub struct ProcessSignals {
    pub pending: PendingQueue,
    /// Set while the process is stopped by a stop signal.
    pub stopped: core::sync::atomic::AtomicBool,
    /// Woken on continue (and kill).
    pub stop_wq: kestrel_sync::WaitQueue,
    /// A stop or continue not yet reported to the parent's wait (WUNTRACED,
    /// WCONTINUED): the wait status.
    pub report: spin::Mutex<Option<u32>>,
    /// The signal that stopped the process last (what a traced thread's group
    /// stop reports).
    pub stop_sig: core::sync::atomic::AtomicU32,
    /// SIGKILL was sent: even a tracee's exit-event stop ends.
    pub sigkilled: core::sync::atomic::AtomicBool,
    /// Set while its cgroup is frozen (cgroup.freeze): its threads run no
    /// user code; they park where a job-control stop parks, woken on
    /// `stop_wq` when thawed (or killed).
    pub frozen: core::sync::atomic::AtomicBool,
}

impl Thread {
    /// Signals this thread could take now: its own and its process's pending ones that
    /// it does not block.
    pub fn deliverable(&self) -> u64 {
        let blocked = self.sigmask.load(Ordering::Acquire);
        (self.signals.pending.summary() | self.process.signals.pending.summary()) & !blocked
    }

    /// Whether a blocking call of this thread must stop now: a signal to deliver, a
    /// stop to obey, or the thread being killed.
    pub fn interrupted(&self) -> bool {
        let ptrace = self.ptrace_flags.load(Ordering::Acquire);
        self.killed()
            || self.deliverable() != 0
            || (self.process.signals.stopped.load(Ordering::Acquire)
                && ptrace & super::ptrace::flag::GROUP_DONE == 0)
            || ptrace & super::ptrace::flag::TRAP != 0
    }
}

/// Runs `fut`, ending it with `code` (an ERESTART* or EINTR) if a signal arrives.
/// The wait is polled first, so one that is ready together with a signal completes.
pub fn interruptible<'a, T: 'a>(
    t: &'a Thread,
    code: Errno,
    fut: impl Future<Output = KResult<T>> + 'a,
) -> impl Future<Output = KResult<T>> + 'a {
    Interruptible {
        fut,
        sig: t.wait_until(|| t.interrupted().then_some(())),
        code,
    }
}

/// [`interruptible`]'s future: the wait and the signal check side by side, the
/// wait polled first (as a `select` of the two, without an `async fn` keeping
/// its argument twice: this is in every parked call's future).
#[pin_project::pin_project]
struct Interruptible<F, S> {
    #[pin]
    fut: F,
    #[pin]
    sig: S,
    code: Errno,
}

impl<T, F: Future<Output = KResult<T>>, S: Future> Future for Interruptible<F, S> {
    type Output = KResult<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KResult<T>> {
        let this = self.project();
        if let Poll::Ready(r) = this.fut.poll(cx) {
            return Poll::Ready(r);
        }
        if this.sig.poll(cx).is_ready() {
            return Poll::Ready(Err(*this.code));
        }
        Poll::Pending
    }
}

/// Wakes `t` so an interruptible wait notices a new signal.
pub(crate) fn kick(t: &Thread) {
    // (A freeze or a stop: its flag is set before the kick.)
    t.mark_work();
    t.wake_waits();
    crate::fs::signalfd::signal_sent();
}

/// Whether `sig` would be ignored by `p` right now (discarded at generation).
fn ignored(p: &Process, sig: u32) -> bool {
    let a = p.sigactions().lock().get(sig);
    a.handler == SIG_IGN || (a.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
}

/// Whether init ignores `info`: as Linux's SIGNAL_UNKILLABLE, pid 1 only gets the
/// signals it has a handler for. SIGKILL and SIGSTOP from user space (`kill -9 1`)
/// are dropped; the kernel's own SIGKILL still ends it. A fault init causes is
/// forced ([`force`]) and does end it, as on Linux.
fn unkillable_ignores(p: &Process, info: &Siginfo) -> bool {
    let sig = info.si_signo as u32;
    p.pid == 1
        && p.sigactions().lock().get(sig).handler == SIG_DFL
        && !(info.si_code == SI_KERNEL && (sig == SIGKILL || sig == SIGSTOP))
}

/// Drops every pending instance of `sig` in `p` and its threads if `sig` is now
/// ignored (Linux's do_sigaction does this when a handler becomes SIG_IGN, or
/// SIG_DFL for a signal whose default is to be ignored).
pub fn discard_if_ignored(p: &Process, sig: u32) {
    if !ignored(p, sig) {
        return;
    }
    p.signals.pending.lock().discard(sig_bit(sig));
    for t in p.threads.lock().iter() {
        t.signals.pending.lock().discard(sig_bit(sig));
    }
}

/// Whether `t` blocks `sig` or its process ignores it explicitly (SIG_IGN): the
/// terminal's job control then does not send it (Linux's is_ignored).
pub fn blocked_or_ignored(t: &Thread, sig: u32) -> bool {
    t.sigmask.load(Ordering::Acquire) & sig_bit(sig) != 0
        || t.process.sigactions().lock().get(sig).handler == SIG_IGN
}

/// Resumes a stopped process (SIGCONT), telling its parent.
fn continue_process(p: &Arc<Process>) {
    p.signals.pending.lock().discard(STOP_SIGNALS);
    for t in p.threads.lock().iter() {
        t.signals.pending.lock().discard(STOP_SIGNALS);
        t.ptrace_flags
            .fetch_and(!super::ptrace::flag::GROUP_DONE, Ordering::AcqRel);
    }
    if p.signals.stopped.swap(false, Ordering::AcqRel) {
        p.signals.stop_wq.wake_all();
        notify_parent(p, CLD_CONTINUED, SIGCONT as i32, 0xffff);
    }
}

/// Records a stop or continue for wait (`report`, a wait status) and tells `p`'s
/// parent (SIGCHLD unless SA_NOCLDSTOP). Both happen under the parent's children
/// lock, which wait holds while it looks, so a wait that sees the report also
/// finds the SIGCHLD queued (Linux: one step under tasklist_lock).
fn notify_parent(p: &Arc<Process>, code: i32, status: i32, report: u32) {
    let Some(parent) = p.parent() else {
        *p.signals.report.lock() = Some(report);
        return;
    };
    let siblings = parent.children.lock();
    *p.signals.report.lock() = Some(report);
    let a = parent.sigactions().lock().get(SIGCHLD);
    if a.flags & SA_NOCLDSTOP == 0 {
        let uid = p.cred.lock().uid;
        send_process(&parent, Siginfo::child(code, p.pid, uid, status, 0, 0));
    }
    drop(siblings);
    parent.child_event.wake_all();
}

/// Sends a signal to a process (kill(2)). Returns whether it was queued (not
/// ignored, not dropped; SIGKILL acts at once and counts as queued).
pub fn send_process(p: &Arc<Process>, info: Siginfo) -> bool {
    let sig = info.si_signo as u32;
    if sig == 0 || p.state() != super::State::Running || unkillable_ignores(p, &info) {
        return false;
    }
    match sig {
        SIGKILL => {
            p.signals.sigkilled.store(true, Ordering::Release);
            p.begin_exit(wstatus_signaled(SIGKILL, false));
            p.signals.stop_wq.wake_all();
            return true;
        }
        SIGCONT => continue_process(p),
        _ if sig_bit(sig) & STOP_SIGNALS != 0 => {
            p.signals.pending.lock().discard(sig_bit(SIGCONT));
        }
        _ => {}
    }
    // A blocked signal is never ignored at generation: the handler may change
    // before it is unblocked, or signalfd/sigwait may take it (sig_ignored).
    // Nor for a traced process: its tracer sees even ignored signals (Linux's
    // sig_ignored).
    let blocked_somewhere = p
        .threads
        .lock()
        .iter()
        .any(|t| t.sigmask.load(Ordering::Acquire) & sig_bit(sig) != 0 || t.ptraced());
    if ignored(p, sig) && !blocked_somewhere {
        return false;
    }
    {
        let mut q = p.signals.pending.lock();
        if sig >= SIGRTMIN && q.queued() as u64 >= p.rlimit(kestrel_abi::process::RLIMIT_SIGPENDING)
        {
            return false;
        }
        if !q.push(info) {
            return false;
        }
    }
    // Wake a thread that does not block it (all, if none: the first to unblock takes it).
    let threads = p.threads.lock().clone();
    match threads
        .iter()
        .find(|t| t.sigmask.load(Ordering::Acquire) & sig_bit(sig) == 0)
    {
        Some(t) => kick(t),
        None => threads.iter().for_each(|t| kick(t)),
    }
    true
}

/// Whether another real-time signal queued for thread `t` would pass its
/// process's RLIMIT_SIGPENDING (counting what is queued on the thread and on
/// the process; Linux counts per user, which is the same when the limit is
/// reached by one process). Queuing one with siginfo from user space is then
/// EAGAIN (Linux's __send_signal).
pub fn rt_queue_full(t: &Thread) -> bool {
    let n = t.signals.pending.lock().queued() + t.process.signals.pending.lock().queued();
    n as u64 >= t.process.rlimit(kestrel_abi::process::RLIMIT_SIGPENDING)
}

/// [`rt_queue_full`] for a signal to the whole process `p` (its queue and
/// every thread's).
pub fn rt_queue_full_process(p: &Process) -> bool {
    let threads = p.threads.lock().clone();
    let on_threads: usize = threads
        .iter()
        .map(|t| t.signals.pending.lock().queued())
        .sum();
    let n = p.signals.pending.lock().queued() + on_threads;
    n as u64 >= p.rlimit(kestrel_abi::process::RLIMIT_SIGPENDING)
}

/// Sends a signal to one thread (tkill, tgkill, faults). Returns whether it was
/// queued.
pub fn send_thread(t: &Arc<Thread>, info: Siginfo) -> bool {
    let sig = info.si_signo as u32;
    let p = &t.process;
    if sig == 0 || p.state() != super::State::Running || unkillable_ignores(p, &info) {
        return false;
    }
    if sig == SIGKILL || sig == SIGCONT || sig_bit(sig) & STOP_SIGNALS != 0 {
        // These act on the whole process.
        return send_process(p, info);
    }
    if ignored(p, sig) && t.sigmask.load(Ordering::Acquire) & sig_bit(sig) == 0 && !t.ptraced() {
        return false;
    }
    if !t.signals.pending.lock().push(info) {
        return false;
    }
    kick(t);
    true
}

/// A synchronous signal the thread caused (a fault, a bad signal frame). As Linux's
/// force_sig: if it is blocked or ignored, the default action is restored and it is
/// unblocked, so the thread cannot loop on the same fault forever.
pub fn force(t: &Arc<Thread>, info: Siginfo) {
    let sig = info.si_signo as u32;
    {
        let shared = t.process.sigactions();
        let mut acts = shared.lock();
        let a = &mut acts.actions[(sig - 1) as usize];
        let blocked = t.sigmask.load(Ordering::Acquire) & sig_bit(sig) != 0;
        if a.handler == SIG_IGN || blocked {
            *a = KernelSigaction::default();
        }
    }
    t.sigmask.fetch_and(!sig_bit(sig), Ordering::AcqRel);
    t.signals.pending.lock().push(info);
}

/// Queues `info` on thread `t` alone, with none of the process-wide effects of
/// a stop signal (ptrace's SIGSTOP for an attached or new tracee), and wakes it.
pub fn queue_on_thread(t: &Thread, info: Siginfo) {
    t.signals.pending.lock().push(info);
    kick(t);
}

/// Finishes taking `info` off a queue: a POSIX timer's signal gets its overrun count.
fn taken(t: &Thread, mut info: Siginfo) -> Siginfo {
    if info.si_code == SI_TIMER {
        super::timers::taking_timer_signal(&t.process, &mut info);
    }
    info
}

/// Sends `sig` from the kernel to a process (SIGPIPE, SIGWINCH, tty signals).
pub fn send(p: &Arc<Process>, sig: u32) {
    send_process(p, Siginfo::new(sig, SI_KERNEL));
}

/// Whether `parent` discards its children's exit status (SIGCHLD ignored, or
/// SA_NOCLDWAIT): then children are reaped at once (wait(2), NOTES).
pub fn parent_ignores_children(parent: &Process) -> bool {
    let a = parent.sigactions().lock().get(SIGCHLD);
    a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0
}

/// Tells the parent a child exited: SIGCHLD (or the child's exit signal) with the
/// child's status.
pub fn child_exited(parent: &Arc<Process>, child: &Process, wstatus: u32) {
    if child.exit_signal == 0 {
        return;
    }
    let (code, status) = if wstatus & 0x7f == 0 {
        (CLD_EXITED, ((wstatus >> 8) & 0xff) as i32)
    } else if wstatus & 0x80 != 0 {
        (CLD_DUMPED, (wstatus & 0x7f) as i32)
    } else {
        (CLD_KILLED, (wstatus & 0x7f) as i32)
    };
    let uid = child.cred.lock().uid;
    let mut info = Siginfo::child(code, child.pid, uid, status, 0, 0);
    info.si_signo = child.exit_signal as i32;
    send_process(parent, info);
}

/// Takes the next signal `t` should act on.
fn dequeue(t: &Thread) -> Option<Siginfo> {
    let allowed = !t.sigmask.load(Ordering::Acquire);
    if (t.signals.pending.summary() | t.process.signals.pending.summary()) & allowed == 0 {
        return None; // the common case, every return to user mode: no locks
    }
    // Synchronous faults (queued on the thread) and thread signals first.
    let own = t.signals.pending.lock().take(allowed);
    let info = own.or_else(|| t.process.signals.pending.lock().take(allowed))?;
    Some(taken(t, info))
}

/// Takes a pending signal in `set` (sigtimedwait), whether blocked or not.
pub fn dequeue_from(t: &Thread, set: u64) -> Option<Siginfo> {
    let own = t.signals.pending.lock().take(set);
    let info = own.or_else(|| t.process.signals.pending.lock().take(set))?;
    Some(taken(t, info))
}

/// The set of signals pending for `t` (rt_sigpending: blocked ones included).
pub fn pending_of(t: &Thread) -> u64 {
    t.signals.pending.lock().pending() | t.process.signals.pending.lock().pending()
}

/// What the interrupted system call becomes now that we know whether a handler runs.
fn fix_restart(regs: &mut UserContext, handler: Option<&KernelSigaction>) {
    let ret = regs.regs.rax as i64;
    let Some(code) = Errno::from_i32((-ret) as i32).filter(|e| ret < 0 && e.is_restart()) else {
        return;
    };
    let restart = match (code, handler) {
        (Errno::ERESTARTNOINTR, _) => true,
        (Errno::ERESTARTSYS, Some(a)) => a.flags & SA_RESTART != 0,
        (Errno::ERESTARTSYS | Errno::ERESTARTNOHAND, None) => true,
        (Errno::ERESTART_RESTARTBLOCK, None) => {
            regs.regs.rax = kestrel_abi::syscalls::nr::RESTART_SYSCALL as u64;
            regs.regs.rip -= 2;
            return;
        }
        _ => false,
    };
    if restart {
        regs.regs.rax = regs.orig_rax;
        regs.regs.rip -= 2; // back over the 2-byte `syscall` instruction
    } else {
        regs.regs.rax = Errno::EINTR.as_return() as u64;
    }
}

/// Whether [`deliver`] would do nothing for `t` now: the common return to user
/// mode (not killed, traced or stopped, no deliverable signal, no call result
/// to restart, no saved mask to put back), told without making its future.
#[inline]
pub fn nothing_to_deliver(t: &Thread, regs: &UserContext, from_syscall: bool) -> bool {
    (!from_syscall || (regs.regs.rax as i64) >= 0) && nothing_pending(t)
}

/// [`nothing_to_deliver`] after a system call that returned `ret`, for a
/// thread without [`Thread::has_work`]
/// (which covers the rest of [`nothing_pending`]): a result that is not an
/// error (a restart code) and no pending signal it does not block.
#[inline(always)]
pub fn no_signal_after(t: &Thread, ret: i64) -> bool {
    let allowed = !t.sigmask.load(Ordering::Acquire);
    ret >= 0 && (t.signals.pending.summary() | t.process.signals.pending.summary()) & allowed == 0
}

#[inline(always)]
fn nothing_pending(t: &Thread) -> bool {
    let allowed = !t.sigmask.load(Ordering::Acquire);
    !t.killed()
        && !t.ptraced()
        && !t.process.signals.stopped.load(Ordering::Acquire)
        && !t.process.signals.frozen.load(Ordering::Acquire)
        && (t.signals.pending.summary() | t.process.signals.pending.summary()) & allowed == 0
        && !t.has_saved_mask()
}

/// The size of [`deliver`]'s future, which the thread future holds while a
/// signal is being delivered (the `syscall_future_sizes_report` kernel test).
pub fn deliver_future_size() -> usize {
    crate::syscall::table::output_size(&|t: &'static Arc<Thread>, r: &'static mut UserContext| {
        deliver(t, r, false)
    })
}

/// Handles every deliverable signal before `t` returns to user mode. `from_syscall`:
/// the trap being finished was a system call (its return value may be a restart code).
pub async fn deliver(t: &Arc<Thread>, regs: &mut UserContext, mut from_syscall: bool) {
    use super::ptrace::{self, flag};
    let p = &t.process;
    loop {
        if t.killed() {
            return;
        }
        // ptrace's stops are boxed: rare, and kept out of every thread's future.
        if t.ptraced() && alloc::boxed::Box::pin(ptrace_stops(t, regs)).await {
            continue;
        }
        if p.signals.stopped.load(Ordering::Acquire)
            && t.ptrace_flags.load(Ordering::Acquire) & flag::GROUP_DONE == 0
        {
            // Job-control stop: park until SIGCONT or SIGKILL (or a tracer
            // attaches, and is told of the stop).
            p.signals
                .stop_wq
                .wait_until(|| {
                    (!p.signals.stopped.load(Ordering::Acquire) || t.killed() || t.ptraced())
                        .then_some(())
                })
                .await;
            continue;
        }
        if p.signals.frozen.load(Ordering::Acquire) {
            // Its cgroup is frozen: park until thawed or killed.
            p.signals
                .stop_wq
                .wait_until(|| {
                    (!p.signals.frozen.load(Ordering::Acquire) || t.killed()).then_some(())
                })
                .await;
            continue;
        }
        let Some(mut info) = dequeue(t) else { break };
        let mut sig = info.si_signo as u32;
        if t.ptraced() && sig != SIGKILL {
            // Signal-delivery-stop: the tracer decides what is delivered.
            match alloc::boxed::Box::pin(ptrace::signal_stop(t, regs, info)).await {
                None => continue,
                Some(new) => info = new,
            }
            sig = info.si_signo as u32;
            if t.sigmask.load(Ordering::Acquire) & sig_bit(sig) != 0 {
                queue_on_thread(t, info);
                continue;
            }
        }
        let act = p.sigactions().lock().get(sig);
        if act.handler == SIG_IGN {
            continue;
        }
        if act.handler == SIG_DFL {
            match default_action(sig) {
                DefaultAction::Ignore | DefaultAction::Continue => continue,
                DefaultAction::Stop => {
                    p.signals.stop_sig.store(sig, Ordering::Relaxed);
                    if !p.signals.stopped.swap(true, Ordering::AcqRel) {
                        for other in p.threads.lock().iter() {
                            other
                                .ptrace_flags
                                .fetch_and(!flag::GROUP_DONE, Ordering::AcqRel);
                        }
                        notify_parent(p, CLD_STOPPED, sig as i32, 0x7f | (sig << 8));
                        for other in p.threads.lock().iter() {
                            kick(other);
                        }
                    }
                    continue;
                }
                DefaultAction::Terminate => {
                    p.begin_exit(wstatus_signaled(sig, false));
                    return;
                }
                DefaultAction::Core => {
                    // The exit is this signal's from here on (the other threads are
                    // told to go); this thread writes the core file first, if any,
                    // and the wait status says whether it did (WCOREDUMP).
                    if p.claim_exit(wstatus_signaled(sig, false), t) {
                        let dumped =
                            alloc::boxed::Box::pin(crate::syscall::coredump::dump(t, regs, &info))
                                .await;
                        if dumped {
                            p.mark_core_dumped();
                        }
                    }
                    p.begin_exit(wstatus_signaled(sig, false));
                    return;
                }
            }
        }
        if from_syscall {
            fix_restart(regs, Some(&act));
            from_syscall = false;
        }
        if t.rseq_flags() & crate::syscall::rseq::REGISTERED != 0 {
            // A critical section the handler interrupts is aborted first: the
            // frame saves the abort handler's address (Linux's
            // rseq_signal_deliver). Boxed: only threads with an rseq area.
            alloc::boxed::Box::pin(crate::syscall::rseq::signal_deliver(t, regs, sig)).await;
        }
        if setup_frame(t, regs, &info, &act).is_err() {
            // Linux's force_sigsegv: a frame that cannot be written kills.
            p.begin_exit(wstatus_signaled(SIGSEGV, false));
            return;
        }
        if act.flags & SA_RESETHAND != 0 {
            // Only the handler goes back to SIG_DFL; the flags and mask stay
            // (Linux's SA_ONESHOT: sigaction(2) then still shows SA_SIGINFO).
            p.sigactions().lock().actions[(sig - 1) as usize].handler = SIG_DFL;
        }
        let mut add = act.mask;
        if act.flags & SA_NODEFER == 0 {
            add |= sig_bit(sig);
        }
        t.sigmask.fetch_or(sanitize_mask(add), Ordering::AcqRel);
    }
    if from_syscall {
        fix_restart(regs, None);
    }
    // sigsuspend/ppoll restore their caller's mask once no handler took it.
    if let Some(m) = t.take_saved_mask() {
        t.sigmask.store(m, Ordering::Release);
    }
}

/// The ptrace stops due before `t` takes its next signal: a PTRACE_INTERRUPT or
/// new seized child's trap, a PTRACE_LISTEN ending with the group stop, or the
/// report of a group stop. Returns whether one happened (then the delivery loop
/// looks again).
async fn ptrace_stops(t: &Arc<Thread>, regs: &mut UserContext) -> bool {
    use super::ptrace::{self, StopKind, flag};
    use kestrel_abi::ptrace::{PTRACE_EVENT_STOP, stop_status};
    let p = &t.process;
    let flags = t.ptrace_flags.load(Ordering::Acquire);
    let trap_info = Siginfo::new(SIGTRAP, (SIGTRAP | PTRACE_EVENT_STOP << 8) as i32);
    let trap_status = stop_status(SIGTRAP, PTRACE_EVENT_STOP);
    if flags & flag::LISTEN != 0 {
        // Stays stopped until the group stop ends, then traps again.
        p.signals
            .stop_wq
            .wait_until(|| {
                (!p.signals.stopped.load(Ordering::Acquire)
                    || t.killed()
                    || t.ptrace_flags.load(Ordering::Acquire) & (flag::TRACED | flag::TRAP)
                        != flag::TRACED)
                    .then_some(())
            })
            .await;
        t.ptrace_flags
            .fetch_and(!(flag::LISTEN | flag::TRAP), Ordering::AcqRel);
        ptrace::stop(t, regs, StopKind::Event, trap_status, trap_info).await;
        return true;
    }
    if flags & flag::TRAP != 0 {
        t.ptrace_flags.fetch_and(!flag::TRAP, Ordering::AcqRel);
        ptrace::stop(t, regs, StopKind::Event, trap_status, trap_info).await;
        return true;
    }
    if p.signals.stopped.load(Ordering::Acquire) && flags & flag::GROUP_DONE == 0 {
        let sig = p.signals.stop_sig.load(Ordering::Relaxed).max(1);
        let seized = t.ptrace.lock().seized;
        let status = if seized {
            stop_status(sig, PTRACE_EVENT_STOP)
        } else {
            stop_status(sig, 0)
        };
        ptrace::stop(t, regs, StopKind::Group, status, Siginfo::new(sig, SI_USER)).await;
        // The tracer let it go: it runs on while the group stays stopped (a
        // thread detached meanwhile parks in the group stop instead).
        if t.ptraced() {
            t.ptrace_flags.fetch_or(flag::GROUP_DONE, Ordering::AcqRel);
        }
        return true;
    }
    false
}

/// The size of `rt_sigframe` up to the FPU state: return address, ucontext, siginfo.
const FRAME_SIZE: u64 =
    8 + core::mem::size_of::<Ucontext>() as u64 + core::mem::size_of::<Siginfo>() as u64;
/// Bytes below the user RSP a leaf function may use without moving RSP.
const RED_ZONE: u64 = 128;

/// The alternate stack as sigaltstack reports it (SS_ONSTACK while on it,
/// SS_DISABLE when none, SS_AUTODISARM kept), and whether `rsp` is on it.
fn altstack_state(t: &Thread, rsp: u64) -> (StackT, bool) {
    match t.alt_stack().get() {
        Some(s) => {
            let on = rsp > s.ss_sp && rsp <= s.ss_sp.saturating_add(s.ss_size);
            (
                StackT {
                    ss_flags: (s.ss_flags & SS_AUTODISARM) | if on { SS_ONSTACK } else { 0 },
                    ..s
                },
                on,
            )
        }
        None => (
            StackT {
                ss_flags: SS_DISABLE,
                ..StackT::default()
            },
            false,
        ),
    }
}

/// Writes an rt_sigframe and points the registers at the handler.
fn setup_frame(
    t: &Arc<Thread>,
    regs: &mut UserContext,
    info: &Siginfo,
    act: &KernelSigaction,
) -> KResult<()> {
    if act.flags & SA_RESTORER == 0 {
        return Err(Errno::EFAULT); // x86-64 has no kernel-provided return stub
    }
    let mm = t.process.mm();
    let (stack, on_alt) = altstack_state(t, regs.regs.rsp);
    // Every address below comes from user space: wrapping arithmetic, and a frame
    // that lands outside user memory fails the writes (the process gets SIGSEGV).
    let use_alt =
        act.flags & SA_ONSTACK != 0 && stack.ss_flags & (SS_DISABLE | SS_ONSTACK) == 0 && !on_alt;
    let mut sp = if use_alt {
        stack.ss_sp.wrapping_add(stack.ss_size)
    } else {
        regs.regs.rsp.wrapping_sub(RED_ZONE)
    };
    if use_alt && stack.ss_flags & SS_AUTODISARM != 0 {
        // The handler runs with no alternate stack; sigreturn restores it from uc_stack.
        t.set_alt_stack(AltStack::default());
    }

    // The FPU image (XSAVE format with the software-reserved bytes Linux fills in).
    let me: Arc<dyn HasFpu> = t.clone();
    fpu::sync_to_memory(&me);
    let mut image = t.fpu.lock().image();
    let xsave = fpu::has_xsave();
    if xsave {
        let size = image.len() as u32;
        image[464..468].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        image[468..472].copy_from_slice(&(size + 4).to_le_bytes());
        image[472..480].copy_from_slice(&fpu::xcr0().to_le_bytes());
        image[480..484].copy_from_slice(&size.to_le_bytes());
        image[484..512].fill(0);
        image.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    }
    sp = sp.wrapping_sub(image.len() as u64) & !63;
    let fpstate = sp;
    sp = (sp.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8); // as after a `call`: (rsp + 8) is 16-aligned
    let frame = sp;

    let r = &regs.regs;
    let saved_mask = t
        .take_saved_mask()
        .unwrap_or_else(|| t.sigmask.load(Ordering::Acquire));
    let uc = Ucontext {
        uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | if xsave { UC_FP_XSTATE } else { 0 },
        uc_link: 0,
        uc_stack: stack,
        uc_mcontext: Sigcontext {
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            rdi: r.rdi,
            rsi: r.rsi,
            rbp: r.rbp,
            rbx: r.rbx,
            rdx: r.rdx,
            rax: r.rax,
            rcx: r.rcx,
            rsp: r.rsp,
            rip: r.rip,
            eflags: r.rflags,
            cs: USER_CS,
            gs: 0,
            fs: 0,
            ss: USER_DS,
            err: if r.vector == SYSCALL_VECTOR {
                0
            } else {
                r.error_code
            },
            trapno: if r.vector == SYSCALL_VECTOR {
                0
            } else {
                r.vector
            },
            oldmask: saved_mask,
            cr2: regs.fault_addr,
            fpstate,
            reserved1: [0; 8],
        },
        uc_sigmask: saved_mask,
    };
    mm.writer(UserPtr::<u8>::new(fpstate), image.len())?
        .write_all(&image)?;
    let mut bytes = Vec::with_capacity(FRAME_SIZE as usize);
    bytes.extend_from_slice(&act.restorer.to_le_bytes());
    bytes.extend_from_slice(kestrel_abi::bytemuck_bytes(&uc));
    bytes.extend_from_slice(kestrel_abi::bytemuck_bytes(info));
    mm.writer(UserPtr::<u8>::new(frame), bytes.len())?
        .write_all(&bytes)?;

    // The handler: rdi = signal, rsi = &siginfo, rdx = &ucontext; a clean FPU.
    regs.regs.rip = act.handler;
    regs.regs.rsp = frame;
    regs.regs.rdi = u64::from(info.si_signo as u32);
    regs.regs.rsi = frame.wrapping_add(8 + core::mem::size_of::<Ucontext>() as u64);
    regs.regs.rdx = frame.wrapping_add(8);
    regs.regs.rax = 0;
    regs.regs.rflags &= !(rflags::TF | rflags::DF);
    regs.regs.vector = 0; // all registers matter now: return with iret
    *t.fpu.lock() = fpu::FpuState::initial();
    fpu::invalidate(&me);
    Ok(())
}

/// rt_sigreturn: restores what setup_frame saved. On a corrupted frame the process
/// dies with SIGSEGV (Linux's "rt_sigreturn" badframe path); other processes go on.
pub fn sigreturn(t: &Arc<Thread>, regs: &mut UserContext) -> KResult<u64> {
    match restore_frame(t, regs) {
        Ok(rax) => Ok(rax),
        Err(_) => {
            log::debug!(
                "pid {}: bad signal frame at rt_sigreturn: SIGSEGV",
                t.process.pid
            );
            force(t, Siginfo::new(SIGSEGV, SI_KERNEL));
            Ok(regs.regs.rax)
        }
    }
}

fn restore_frame(t: &Arc<Thread>, regs: &mut UserContext) -> KResult<u64> {
    let mm = t.process.mm();
    let uc_addr = regs.regs.rsp; // the handler's `ret` popped the return address
    let uc: Ucontext = mm.read(UserPtr::new(uc_addr))?;
    let m = &uc.uc_mcontext;
    if !kestrel_usermem::is_user_address(m.rip) {
        return Err(Errno::EFAULT);
    }
    // The FPU state first: if it is bad, nothing else changes.
    let new_fpu = if m.fpstate != 0 {
        let fpstate = UserPtr::<u8>::new(m.fpstate);
        let legacy: [u8; 512] = mm.read(fpstate.cast())?;
        let magic = u32::from_le_bytes([legacy[464], legacy[465], legacy[466], legacy[467]]);
        let size =
            u32::from_le_bytes([legacy[480], legacy[481], legacy[482], legacy[483]]) as usize;
        let image =
            if fpu::has_xsave() && uc.uc_flags & UC_FP_XSTATE != 0 && magic == FP_XSTATE_MAGIC1 {
                if size < 576 || size > fpu::image_size() {
                    return Err(Errno::EFAULT);
                }
                // Bounded by the CPU's XSAVE size, checked above.
                mm.reader(fpstate, size)?.read_to_vec()?
            } else {
                legacy.to_vec()
            };
        Some(fpu::FpuState::from_user(&image).ok_or(Errno::EFAULT)?)
    } else {
        None
    };
    let r = &mut regs.regs;
    r.r8 = m.r8;
    r.r9 = m.r9;
    r.r10 = m.r10;
    r.r11 = m.r11;
    r.r12 = m.r12;
    r.r13 = m.r13;
    r.r14 = m.r14;
    r.r15 = m.r15;
    r.rdi = m.rdi;
    r.rsi = m.rsi;
    r.rbp = m.rbp;
    r.rbx = m.rbx;
    r.rdx = m.rdx;
    r.rax = m.rax;
    r.rcx = m.rcx;
    r.rsp = m.rsp;
    r.rip = m.rip;
    // Only the flags user space may change (Linux's FIX_EFLAGS).
    r.rflags = (r.rflags & !rflags::USER_MASK) | (m.eflags & rflags::USER_MASK);
    r.vector = 0; // restored rcx/r11 matter: return with iret
    t.sigmask
        .store(sanitize_mask(uc.uc_sigmask), Ordering::Release);
    let me: Arc<dyn HasFpu> = t.clone();
    *t.fpu.lock() = new_fpu.unwrap_or_else(fpu::FpuState::initial);
    fpu::invalidate(&me);
    // The alternate stack as the frame recorded it (errors are ignored, as Linux).
    let mut st = uc.uc_stack;
    st.ss_flags &= !SS_ONSTACK;
    let _ = set_altstack(t, Some(&st), r.rsp);
    Ok(r.rax)
}

/// sigaltstack(2): installs `new` (if given) and returns the old setting.
pub fn set_altstack(t: &Thread, new: Option<&StackT>, rsp: u64) -> KResult<StackT> {
    let (old, on) = altstack_state(t, rsp);
    if let Some(n) = new {
        if on {
            return Err(Errno::EPERM);
        }
        let flags = n.ss_flags & !SS_AUTODISARM;
        match flags {
            SS_DISABLE => t.set_alt_stack(AltStack::default()),
            0 | SS_ONSTACK => {
                if n.ss_size < MINSIGSTKSZ {
                    return Err(Errno::ENOMEM);
                }
                // SS_AUTODISARM is kept: delivery on this stack disarms it.
                t.set_alt_stack(AltStack(StackT {
                    ss_sp: n.ss_sp,
                    ss_flags: n.ss_flags & SS_AUTODISARM,
                    _pad: 0,
                    ss_size: n.ss_size,
                }));
            }
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(old)
}
