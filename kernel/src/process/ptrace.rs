//! ptrace: a process tracing the threads of others.
//!
//! A ptrace stop is an `.await`. A traced thread that reaches a stop (a signal about
//! to be delivered, a system call's entry or exit, an event such as fork or exec, a
//! group stop, PTRACE_INTERRUPT) copies its registers, which live in its task's
//! future, into a [`Stop`] record, tells its tracer (SIGCHLD with CLD_TRAPPED, and a
//! wake of the tracer's `child_event`, which wait4 awaits), and parks on its own
//! signal wait queue until the tracer resumes it, detaches, or the thread is killed. While
//! it is parked the tracer reads and writes the copy (GETREGS, POKEUSER, ...); on
//! resume the thread takes the copy back, so whatever the tracer changed is what the
//! thread runs with. No kernel stack is held by a stopped tracee: it is a parked
//! future like any blocked thread.
//!
//! The tracer is a process (any of its threads may wait for and command its
//! tracees); the tracee is a thread, as in Linux. A tracer that exits detaches its
//! tracees (they go on, a stopped one with the signal it stopped for) or, with
//! PTRACE_O_EXITKILL, kills them.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::Ordering;

use kestrel_abi::process::CSIGNAL;
use kestrel_abi::ptrace::*;
use kestrel_abi::signal::*;

use super::{Pid, Process, Thread, signal};
use crate::arch::trap::{UserContext, rflags};

/// Bits of [`Thread::ptrace_flags`], readable without the lock on every trap.
pub mod flag {
    /// The thread is traced.
    pub const TRACED: u32 = 1;
    /// Resumed with PTRACE_SYSCALL: stop at the next system call's entry and exit.
    pub const SYSCALL: u32 = 1 << 1;
    /// Resumed with PTRACE_SINGLESTEP.
    pub const STEP: u32 = 1 << 2;
    /// A PTRACE_EVENT_STOP trap is due (PTRACE_INTERRUPT, a seized new child).
    pub const TRAP: u32 = 1 << 3;
    /// The current group stop was reported and the tracer let the thread go on.
    pub const GROUP_DONE: u32 = 1 << 4;
    /// Resumed with PTRACE_LISTEN: stays in the group stop, re-traps when it ends.
    pub const LISTEN: u32 = 1 << 5;
    /// DR7 enables hardware breakpoints: the debug registers are loaded before
    /// user mode.
    pub const HWBP: u32 = 1 << 6;
}

/// Which kind of ptrace stop a tracee is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// Signal-delivery-stop: the signal in `info` is about to be delivered.
    Signal,
    SyscallEntry,
    SyscallExit,
    /// PTRACE_EVENT_* (fork, exec, PTRACE_EVENT_STOP, ...).
    Event,
    /// Exit event (PTRACE_EVENT_EXIT): only SIGKILL ends it early.
    Exit,
    /// Group-stop (a stop signal stopped the process).
    Group,
}

/// A tracee's current stop.
pub struct Stop {
    pub kind: StopKind,
    /// The wait status the tracer's wait reports.
    pub status: u32,
    /// Whether a wait has reported it already.
    pub reported: bool,
    /// What GETSIGINFO returns.
    pub info: Siginfo,
    /// The thread's registers, as the tracer sees and changes them.
    pub regs: UserContext,
}

/// A thread's ptrace state.
#[derive(Default)]
pub struct Tracee {
    pub tracer: Option<Weak<Process>>,
    pub tracer_pid: Pid,
    /// Attached with PTRACE_SEIZE (group stops are PTRACE_EVENT_STOPs, INTERRUPT
    /// and LISTEN work).
    pub seized: bool,
    pub options: u32,
    /// Boxed: every thread carries a `Tracee`, few are ever stopped.
    pub stop: Option<Box<Stop>>,
    /// Set by the tracer to resume a stop: the signal to deliver (0: none).
    pub resume: Option<u32>,
    /// PTRACE_GETEVENTMSG.
    pub event_msg: u64,
    /// The thread exited: the wait status its tracer has yet to collect.
    pub exit_report: Option<u32>,
    /// TF was set by PTRACE_SINGLESTEP, not by the program.
    pub forced_tf: bool,
    /// u_debugreg as POKEUSER left it (boxed once written: few threads have
    /// any): DR0-3 and DR7 are loaded for user mode (execute breakpoints only);
    /// DR6 is the virtual one, which #DB sets.
    pub debugreg: Option<Box<[u64; 8]>>,
}

/// A thread's [`Tracee`], made at its first use: most threads are never
/// traced, and the 72 bytes of a `Mutex<Tracee>` in every `Thread` were most
/// of what kept it out of a smaller heap block (docs/hot-paths.md, "Futures
/// and a parked thread's memory"). `lock` makes it; `get` only looks.
#[derive(Default)]
pub struct TraceeSlot(spin::Once<Box<spin::Mutex<Tracee>>>);

impl TraceeSlot {
    /// The state, made (untraced) if the thread had none.
    pub fn lock(&self) -> spin::MutexGuard<'_, Tracee> {
        self.0
            .call_once(|| Box::new(spin::Mutex::new(Tracee::default())))
            .lock()
    }

    /// The state if the thread ever had one (None: never traced).
    pub fn get(&self) -> Option<spin::MutexGuard<'_, Tracee>> {
        self.0.get().map(|m| m.lock())
    }
}

impl Thread {
    /// Whether the thread is traced.
    pub fn ptraced(&self) -> bool {
        self.ptrace_flags.load(Ordering::Acquire) & flag::TRACED != 0
    }

    /// Whether the thread is in a ptrace stop (/proc's `t`).
    pub fn ptrace_stopped(&self) -> bool {
        self.ptraced() && self.ptrace.lock().stop.is_some()
    }

    /// The pid of the process tracing this thread (0: none), for /proc's TracerPid.
    pub fn tracer_pid(&self) -> Pid {
        if !self.ptraced() {
            return 0;
        }
        self.ptrace.lock().tracer_pid
    }
}

/// The debug registers `t` runs with, if its tracer armed breakpoints:
/// `[dr0, dr1, dr2, dr3, dr7]`.
pub fn debug_registers(t: &Thread) -> Option<[u64; 5]> {
    if t.ptrace_flags.load(Ordering::Acquire) & flag::HWBP == 0 {
        return None;
    }
    let d = *t.ptrace.lock().debugreg.as_deref()?;
    Some([d[0], d[1], d[2], d[3], d[7]])
}

/// A #DB in user mode: the virtual DR6 (what PEEKUSER shows) says which
/// breakpoints fired (`hit`, DR6's B0-3 bits) or that it was a single step,
/// and only that: it starts afresh at each #DB, as Linux's does. (gdb reads
/// it at every stop: a stale B0 would look like a breakpoint hit.)
pub fn debug_trap(t: &Thread, hit: u64) {
    if !t.ptraced() {
        return;
    }
    const DR6_RESERVED: u64 = 0xffff_0ff0;
    const DR_STEP: u64 = 1 << 14;
    let mut st = t.ptrace.lock();
    st.debugreg.get_or_insert_default()[6] = DR6_RESERVED | if hit != 0 { hit } else { DR_STEP };
}

/// The process tracing `t`, if any.
pub fn tracer_of(t: &Thread) -> Option<Arc<Process>> {
    t.ptrace.get()?.tracer.as_ref().and_then(Weak::upgrade)
}

/// Makes `tracer` trace `t`; false if the tracer is exiting (it has let its
/// tracees go already, and would never resume a new one).
pub fn link(tracer: &Arc<Process>, t: &Arc<Thread>, seized: bool, options: u32) -> bool {
    {
        let mut tracees = tracer.tracees.lock();
        if tracer.tracing_closed.load(Ordering::Acquire) {
            return false;
        }
        *t.ptrace.lock() = Tracee {
            tracer: Some(Arc::downgrade(tracer)),
            tracer_pid: tracer.pid,
            seized,
            options,
            ..Tracee::default()
        };
        t.ptrace_flags.store(flag::TRACED, Ordering::Release);
        t.mark_work();
        tracees.push(t.clone());
    }
    // A thread parked in a job-control stop must notice it is traced now (its
    // tracer is told about the group stop).
    t.process.signals.stop_wq.wake_all();
    true
}

/// Ends the tracing of `t`: a thread in a stop resumes with `sig`, or, when the
/// tracer went away without saying (`None`), with the signal it stopped for.
pub fn detach(tracer: &Process, t: &Arc<Thread>, sig: Option<u32>) {
    tracer.tracees.lock().retain(|x| !Arc::ptr_eq(x, t));
    {
        let mut st = t.ptrace.lock();
        let forced_tf = st.forced_tf;
        if let Some(stop) = st.stop.as_mut() {
            if forced_tf {
                stop.regs.regs.rflags &= !rflags::TF;
            }
            let default = if stop.kind == StopKind::Signal {
                stop.info.si_signo as u32
            } else {
                0
            };
            st.resume = Some(sig.unwrap_or(default));
        }
        st.tracer = None;
        st.tracer_pid = 0;
        st.seized = false;
        st.options = 0;
        st.forced_tf = false;
        st.exit_report = None;
    }
    t.ptrace_flags.store(0, Ordering::Release);
    t.wake_waits();
    t.process.signals.stop_wq.wake_all();
}

/// The stop's outcome: the signal the tracer resumed with (0: none), and the
/// stop's siginfo as the tracer may have changed it.
pub struct Resumed {
    pub sig: u32,
    pub info: Siginfo,
}

/// Stops `t` for its tracer until resumed. Returns at once, resuming with 0, if
/// `t` is not traced (or is killed: callers check [`Thread::killed`]).
pub async fn stop(
    t: &Arc<Thread>,
    regs: &mut UserContext,
    kind: StopKind,
    status: u32,
    info: Siginfo,
) -> Resumed {
    let none = Resumed { sig: 0, info };
    let tracer = {
        let mut st = t.ptrace.lock();
        let Some(tracer) = st.tracer.as_ref().and_then(Weak::upgrade) else {
            return none;
        };
        if gone(t, kind) {
            return none;
        }
        st.stop = Some(Box::new(Stop {
            kind,
            status,
            reported: false,
            info,
            regs: regs.clone(),
        }));
        st.resume = None;
        tracer
    };
    notify_tracer(&tracer, t, CLD_TRAPPED, ((status >> 8) & 0xff) as i32);
    t.wait_until(|| {
        let st = t.ptrace.lock();
        (gone(t, kind) || st.resume.is_some() || st.tracer.is_none()).then_some(())
    })
    .await;
    let mut st = t.ptrace.lock();
    let sig = st.resume.take().unwrap_or(0);
    match st.stop.take() {
        Some(s) => {
            *regs = s.regs;
            Resumed { sig, info: s.info }
        }
        None => Resumed { sig, info },
    }
}

/// Whether a stop of `kind` must end without its tracer: the thread is being
/// killed (an exit-event stop waits out everything but SIGKILL, as on Linux).
fn gone(t: &Thread, kind: StopKind) -> bool {
    if kind == StopKind::Exit {
        t.process.signals.sigkilled.load(Ordering::Acquire)
    } else {
        t.killed()
    }
}

/// Tells the tracer of `t` that it stopped or exited: SIGCHLD (unless the tracer
/// asked for none on stops) and a wake of its wait.
fn notify_tracer(tracer: &Arc<Process>, t: &Thread, code: i32, status: i32) {
    let a = tracer.sigactions().lock().get(SIGCHLD);
    if code != CLD_TRAPPED || a.flags & SA_NOCLDSTOP == 0 {
        let uid = t.process.cred.lock().uid;
        signal::send_process(tracer, Siginfo::child(code, t.tid(), uid, status, 0, 0));
    }
    tracer.child_event.wake_all();
}

/// A signal-delivery-stop for `info`. Returns the signal to deliver instead (the
/// tracer may suppress it, change it, or change its siginfo), or `None`.
pub async fn signal_stop(
    t: &Arc<Thread>,
    regs: &mut UserContext,
    info: Siginfo,
) -> Option<Siginfo> {
    let sig = info.si_signo as u32;
    let tracer_pid = t.ptrace.lock().tracer_pid;
    let r = stop(t, regs, StopKind::Signal, stop_status(sig, 0), info).await;
    if r.sig == 0 || t.killed() {
        return None;
    }
    if r.sig == r.info.si_signo as u32 {
        return Some(r.info);
    }
    // A different signal: as sent by the tracer (Linux's ptrace_signal).
    let uid = t.process.cred.lock().uid;
    Some(Siginfo::from_process(r.sig, SI_USER, tracer_pid, uid))
}

/// After a syscall or event stop, a signal the tracer resumed with is sent to the
/// tracee (Linux: ptrace_report_syscall, ptrace_notify).
fn inject(t: &Arc<Thread>, sig: u32) {
    if sig != 0 && !t.killed() {
        signal::send_thread(t, Siginfo::new(sig, SI_KERNEL));
    }
}

/// A siginfo for a SIGTRAP stop with `code` (syscall stops, events).
fn trap_info(t: &Thread, code: u32) -> Siginfo {
    let uid = t.process.cred.lock().uid;
    Siginfo::from_process(SIGTRAP, code as i32, t.process.pid, uid)
}

/// Whether the next system call of `t` stops at entry and exit (PTRACE_SYSCALL).
pub fn syscall_traced(t: &Thread) -> bool {
    t.ptrace_flags.load(Ordering::Acquire) & (flag::TRACED | flag::SYSCALL)
        == flag::TRACED | flag::SYSCALL
}

/// Whether `t` is being single-stepped.
pub fn stepping(t: &Thread) -> bool {
    t.ptrace_flags.load(Ordering::Acquire) & (flag::TRACED | flag::STEP)
        == flag::TRACED | flag::STEP
}

/// A syscall-enter-stop (`entry`) or syscall-exit-stop.
pub async fn syscall_stop(t: &Arc<Thread>, regs: &mut UserContext, entry: bool) {
    let good = t.ptrace.lock().options & PTRACE_O_TRACESYSGOOD != 0;
    let code = SIGTRAP | if good { 0x80 } else { 0 };
    let kind = if entry {
        StopKind::SyscallEntry
    } else {
        StopKind::SyscallExit
    };
    let r = stop(t, regs, kind, stop_status(code, 0), trap_info(t, code)).await;
    inject(t, r.sig);
}

/// Whether `t`'s tracer asked for events of `option` (PTRACE_O_TRACE*).
pub fn wants(t: &Thread, option: u32) -> bool {
    t.ptraced() && t.ptrace.lock().options & option != 0
}

/// A PTRACE_EVENT_* stop with `msg` for GETEVENTMSG.
pub async fn event_stop(t: &Arc<Thread>, regs: &mut UserContext, event: u32, msg: u64) {
    t.ptrace.lock().event_msg = msg;
    let kind = if event == PTRACE_EVENT_EXIT {
        StopKind::Exit
    } else {
        StopKind::Event
    };
    let code = SIGTRAP | event << 8;
    let r = stop(
        t,
        regs,
        kind,
        stop_status(SIGTRAP, event),
        trap_info(t, code),
    )
    .await;
    if kind != StopKind::Exit {
        inject(t, r.sig);
    }
}

/// What execve tells a tracer: PTRACE_EVENT_EXEC with TRACEEXEC (its message
/// the thread's id before the exec, `former_tid`: another than its id now when
/// a thread other than the leader exec'd), otherwise (for an attached, not
/// seized, tracee) a SIGTRAP after the call.
pub async fn exec_event(t: &Arc<Thread>, regs: &mut UserContext, former_tid: u32) {
    if !t.ptraced() {
        return;
    }
    // Hardware breakpoints belong to the old program (Linux flushes them too).
    t.ptrace.lock().debugreg = None;
    t.ptrace_flags.fetch_and(!flag::HWBP, Ordering::AcqRel);
    let (options, seized) = {
        let st = t.ptrace.lock();
        (st.options, st.seized)
    };
    if options & PTRACE_O_TRACEEXEC != 0 {
        event_stop(t, regs, PTRACE_EVENT_EXEC, u64::from(former_tid)).await;
    } else if !seized {
        let uid = t.process.cred.lock().uid;
        signal::send_thread(
            t,
            Siginfo::from_process(SIGTRAP, SI_USER, t.process.pid, uid),
        );
    }
}

/// Whether a clone by `parent` with `flags` makes a traced child, and the event
/// (PTRACE_EVENT_FORK, VFORK or CLONE) to report, if the tracer asked for it.
pub fn clone_event(parent: &Thread, flags: u64) -> Option<(u32, bool)> {
    use kestrel_abi::process::{CLONE_PTRACE, CLONE_UNTRACED, CLONE_VFORK};
    if flags & CLONE_UNTRACED != 0 || !parent.ptraced() {
        return None;
    }
    let (event, option) = if flags & CLONE_VFORK != 0 {
        (PTRACE_EVENT_VFORK, PTRACE_O_TRACEVFORK)
    } else if flags & CSIGNAL != u64::from(SIGCHLD) {
        (PTRACE_EVENT_CLONE, PTRACE_O_TRACECLONE)
    } else {
        (PTRACE_EVENT_FORK, PTRACE_O_TRACEFORK)
    };
    let report = parent.ptrace.lock().options & option != 0;
    (report || flags & CLONE_PTRACE != 0).then_some((event, report))
}

/// Attaches a new child to its creator's tracer before it first runs: it starts
/// with a SIGSTOP (or, seized, a PTRACE_EVENT_STOP) the tracer sees.
pub fn attach_child(parent: &Thread, child: &Arc<Thread>) {
    let (tracer, seized, options) = {
        let st = parent.ptrace.lock();
        (
            st.tracer.as_ref().and_then(Weak::upgrade),
            st.seized,
            st.options,
        )
    };
    let Some(tracer) = tracer else { return };
    if !link(&tracer, child, seized, options) {
        return;
    }
    if seized {
        child.ptrace_flags.fetch_or(flag::TRAP, Ordering::AcqRel);
    } else {
        signal::queue_on_thread(child, Siginfo::new(SIGSTOP, SI_USER));
    }
}

/// `t` leaves its loop with wait status `status` (`last`: the last thread of its
/// process; `leader_replaced`: the leader, killed by another thread's execve
/// which takes its id). Its tracer collects the exit with wait, unless it is
/// also the parent and will see the zombie, or the leader was replaced.
pub fn thread_exited(t: &Arc<Thread>, status: u32, last: bool, leader_replaced: bool) {
    if !t.ptraced() {
        return;
    }
    let tracer = {
        let mut st = t.ptrace.lock();
        st.stop = None;
        st.tracer.as_ref().and_then(Weak::upgrade)
    };
    t.ptrace_flags.store(0, Ordering::Release);
    let Some(tracer) = tracer else { return };
    let parent_sees_it = last && t.process.parent().is_some_and(|p| Arc::ptr_eq(&p, &tracer));
    // A leader killed by another thread's execve (`leader_replaced`)
    // reports no death: the exec'ing thread takes its id and reports
    // PTRACE_EVENT_EXEC under it (Linux releases the old leader silently,
    // ptrace(2)'s "reappears").
    if parent_sees_it || leader_replaced {
        tracer.tracees.lock().retain(|x| !Arc::ptr_eq(x, t));
        t.ptrace.lock().tracer = None;
        return;
    }
    t.ptrace.lock().exit_report = Some(status);
    let (code, st) = if status & 0x7f == 0 {
        (CLD_EXITED, ((status >> 8) & 0xff) as i32)
    } else {
        (CLD_KILLED, (status & 0x7f) as i32)
    };
    notify_tracer(&tracer, t, code, st);
}

/// The tracer `p` exited: its tracees are let go, or killed with EXITKILL.
pub fn tracer_exited(p: &Arc<Process>) {
    let tracees = {
        let mut list = p.tracees.lock();
        p.tracing_closed.store(true, Ordering::Release);
        core::mem::take(&mut *list)
    };
    for t in tracees {
        let exitkill = t.ptrace.lock().options & PTRACE_O_EXITKILL != 0;
        detach(p, &t, None);
        if exitkill {
            signal::send_process(&t.process, Siginfo::new(SIGKILL, SI_KERNEL));
        }
    }
}

/// The state a wait of the tracer `p` finds for tracee `t`: an exit to collect
/// (the tracee leaves the list unless `nowait`) or a stop not yet reported.
pub fn wait_report(p: &Process, t: &Arc<Thread>, exited: bool, nowait: bool) -> Option<u32> {
    let mut st = t.ptrace.lock();
    if let Some(status) = st.exit_report {
        if !exited {
            return None;
        }
        if !nowait {
            st.exit_report = None;
            st.tracer = None;
            drop(st);
            p.tracees.lock().retain(|x| !Arc::ptr_eq(x, t));
        }
        return Some(status);
    }
    if st.resume.is_some() {
        return None; // resumed, not yet running
    }
    let stop = st.stop.as_mut()?;
    if stop.reported {
        return None;
    }
    if !nowait {
        stop.reported = true;
    }
    Some(stop.status)
}
