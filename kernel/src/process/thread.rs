//! The life of a user thread, as a task.
//!
//! ```text
//! loop {
//!     trap = enter_user(&mut regs)        // runs user code until a trap
//!     match trap {
//!         Syscall        => rax = dispatch(...).await   (raced against kill)
//!         PageFault      => address space fills the page, or SIGSEGV/SIGBUS
//!         Interrupt      => yield if the time slice is spent or others are ready
//!         Exception      => the matching signal (#UD -> SIGILL, #DE -> SIGFPE, ...)
//!     }
//! }
//! ```
//!
//! The register state lives in this future, on the heap, not on a kernel stack. Every
//! poll first makes the thread's address space current ([`InAddressSpace`]), because
//! the thread may have been parked in a syscall while others ran.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::Ordering;
use core::task::{Context, Poll};

use kestrel_abi::signal::*;

use super::{Thread, signal};
use crate::arch::trap::{self, Fast, Trap, TrapFrame, UserContext, pf};
use crate::arch::{apic, percpu};
use crate::mm::callbox::CallBox;
use crate::mm::vm::{Access, AddressSpace, FaultError};
use crate::{syscall, task, time};

/// How long a thread runs before it yields to other ready tasks.
pub const TIME_SLICE_NS: u64 = 10_000_000;

/// Linux's CFS weights by nice value (-20..=19; nice 0 weighs 1024): each step
/// is about 10% more or less CPU (kernel/sched/core.c, sched_prio_to_weight).
const NICE_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

/// The time slice of a thread at `nice`: threads take turns, so CPU time is shared
/// in proportion to slices, and a slice proportional to the CFS weight shares it
/// as Linux does between busy threads (a nice -1 thread gets 1277/1024 of a nice 0
/// one's). Slices are kept between 1 and 100 ms so turns stay short; beyond a
/// tenfold ratio the shares flatten.
pub fn time_slice(nice: i32) -> u64 {
    let w = NICE_WEIGHT[(nice.clamp(-20, 19) + 20) as usize];
    (TIME_SLICE_NS * w / 1024).clamp(1_000_000, 100_000_000)
}

/// Polls `fut` with `thread`'s address space active. The task's future: `fut`
/// (the thread's `run`) is inline, so a thread's task, its loop and its
/// registers are one heap block.
#[pin_project::pin_project]
struct InAddressSpace<F> {
    thread: Arc<Thread>,
    #[pin]
    fut: F,
}

impl<F: Future> Future for InAddressSpace<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let thread: &Arc<Thread> = this.thread;
        if let Some(t) = thread.task.get()
            && !t.allowed_on(task::this_cpu())
        {
            // sched_setaffinity took this CPU away: the wake sends the task to its
            // new home CPU's queue.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let start = time::now_ns().max(1);
        thread.cpu.running_since.store(start, Ordering::Release);
        thread.make_current();
        crate::perf::sched_in(thread);
        let r = this.fut.poll(cx);
        if thread.rseq_flags() & crate::syscall::rseq::REGISTERED != 0 {
            // The thread gives up the CPU: its rseq area is rewritten, and a
            // critical section it is in aborted, before it runs user code
            // again (Linux's rseq_preempt, at every context switch).
            crate::syscall::rseq::sched_out(thread);
        }
        super::set_current(None);
        let yielding = percpu::this_cpu()
            .thread_yielding
            .swap(false, Ordering::Relaxed);
        if r.is_pending() && !yielding {
            // Waiting: a voluntary context switch (an involuntary one was
            // counted where the thread yielded: `yielding`).
            let v = &thread.cpu.voluntary;
            v.store(v.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        if r.is_pending() {
            crate::perf::sched_out(thread);
            let me: Arc<dyn crate::arch::fpu::HasFpu> = thread.clone();
            crate::arch::fpu::release(&me);
        }
        // Time spent polling is the thread's CPU time (its user part is counted
        // around enter_user); time parked between polls is not.
        let cpu = &thread.cpu;
        cpu.total
            .fetch_add(time::now_ns().saturating_sub(start), Ordering::Relaxed);
        cpu.running_since.store(0, Ordering::Release);
        r
    }
}

/// Starts `thread` at `regs` as a new task, on the CPUs its creator may use
/// (affinity is inherited across fork and clone, as on Linux).
pub fn spawn(thread: Arc<Thread>, regs: UserContext) -> Result<(), kestrel_executor::SpawnError> {
    let affinity = super::current_thread().map_or(u64::MAX, |t| t.affinity());
    let fut = InAddressSpace {
        thread: thread.clone(),
        fut: run(thread.clone(), regs),
    };
    let record = |t: &kestrel_executor::TaskRef| {
        thread.task.call_once(|| t.clone());
        crate::trace::record(
            crate::trace::Kind::Thread,
            t.id(),
            u64::from(thread.process.pid) << 32 | u64::from(thread.tid()),
        );
    };
    task::try_spawn_detached_on("user-thread", affinity, record, fut).map(|_| ())
}

/// The signal, si_code and address for a CPU exception taken in user mode.
fn exception_signal(vector: u8, rip: u64) -> Siginfo {
    match vector {
        0 => Siginfo::fault(SIGFPE, FPE_INTDIV, rip), // #DE
        16 | 19 => Siginfo::fault(SIGFPE, FPE_FLTDIV, rip), // #MF, #XM
        1 => Siginfo::fault(SIGTRAP, TRAP_TRACE, rip), // #DB: a single step
        3 => Siginfo::new(SIGTRAP, SI_KERNEL),        // #BP (int3)
        6 => Siginfo::fault(SIGILL, ILL_ILLOPN, rip), // #UD
        17 => Siginfo::fault(SIGBUS, BUS_ADRALN, 0),  // #AC
        _ => Siginfo::new(SIGSEGV, SI_KERNEL),        // #GP, #SS, #NP, ...
    }
}

/// The size of a user thread's future (`run`), which every thread keeps on the
/// heap for its whole life: what a parked thread costs, beyond its `Thread`.
pub fn run_future_size() -> usize {
    crate::syscall::table::output_size(&|t: Arc<Thread>, r: UserContext| run(t, r))
}

/// The size of a user thread's task future (`run` in [`InAddressSpace`]); the
/// executor adds its count of live tasks.
pub fn task_future_size() -> usize {
    crate::syscall::table::output_size(&|t: Arc<Thread>, r: UserContext| InAddressSpace {
        thread: t.clone(),
        fut: run(t, r),
    })
}

// Not an `async fn`: an async fn keeps its arguments apart from the locals
// they are moved into, so `regs` (224 bytes) would be in the future twice; an
// `async move` block that uses the captured `regs` in place holds it once.
#[allow(clippy::manual_async_fn)] // see above: an async fn keeps its arguments twice
fn run(thread: Arc<Thread>, mut regs: UserContext) -> impl Future<Output = ()> + Send {
    async move {
        if thread.ptraced() {
            // A child attached to its creator's tracer stops (SIGSTOP or
            // PTRACE_EVENT_STOP) before its first instruction.
            deliver(&thread, &mut regs, false).await;
        }
        while !thread.should_exit() {
            if thread.rseq_flags() & crate::syscall::rseq::PENDING != 0
                && crate::syscall::rseq::try_resume(&thread, &mut regs).is_err()
            {
                // A file page to load, or a bad rseq area (SIGSEGV, taken
                // before any user code runs). Boxed: rare.
                Box::pin(crate::syscall::rseq::resume(&thread, &mut regs, 0)).await;
                if !signal::nothing_to_deliver(&thread, &regs, false) {
                    deliver(&thread, &mut regs, false).await;
                }
                continue;
            }
            if !kestrel_usermem::is_user_address(regs.regs.rip) {
                signal::force(&thread, Siginfo::new(SIGSEGV, SI_KERNEL));
                deliver(&thread, &mut regs, false).await;
                continue;
            }
            // Come back to the kernel by the end of the slice or the next timer, whichever
            // is first (the executor only arms the timer when it goes idle). A slice
            // starts when the thread's task is polled (`running_since`): a thread
            // that waited, or yielded, gave up the CPU and has a new one. (A slice
            // that ran on across waits ended, for two threads taking turns, while
            // neither was in user mode: each entry to user mode then armed a timer
            // already due, whose interrupt came in the kernel, so that the slice
            // never started again.)
            let slice = crate::syscall::sched::time_slice(&thread.process);
            let slice_end = slice_start(&thread) + slice;
            // (`move`: a local a closure borrows is kept in the thread's
            // future across every wait that follows.)
            let mut deadline = task::executor()
                .timers()
                .next_deadline()
                .map_or(slice_end, move |d| d.min(slice_end));
            if let Some(budget) = crate::perf::sample_budget(&thread) {
                // A sampling clock's next sample (perf_event_open).
                deadline = deadline.min(time::now_ns().saturating_add(budget.max(10_000)));
            }
            if let Some(budget) = super::timers::cpu_budget(&thread) {
                // A CPU-time timer (setitimer, RLIMIT_CPU) is due after that much running.
                deadline = deadline.min(time::now_ns().saturating_add(budget.max(10_000)));
            }
            if !crate::arch::fpu::is_live(&thread) {
                let me: Arc<dyn crate::arch::fpu::HasFpu> = thread.clone();
                crate::arch::fpu::switch_to(&me);
            }
            // From arming the timer until user mode, interrupts stay off: a deadline that
            // passes in between (a short CPU-time budget, a slow host) leaves the timer
            // interrupt pending, taken the moment user mode starts. Were it taken here,
            // in the kernel, user code would run on with no timer armed.
            // The fast path's one test (`fast_syscall`): cleared if nothing of
            // what it stands for holds now.
            thread.recheck_work();
            crate::arch::cpu::disable_interrupts();
            crate::arch::debugreg::load_for_user(super::ptrace::debug_registers(&thread));
            // Calls that complete at once, with nothing to do around them, run
            // and return to user mode from the entry code (`fast_syscall`); the
            // time they were called at is where user time starts again. (In a
            // block of its own: a local the hook borrows would otherwise be kept
            // in the thread's future across the awaits below.)
            let trap = {
                let mut user_start = time::now_ns();
                apic::arm_at(deadline, user_start);
                let trap = trap::enter_user(&mut regs, &thread.pkru, &mut |frame, regs| {
                    fast_syscall(&thread, frame, regs, &mut user_start)
                });
                add_user_time(&thread, time::now_ns() - user_start);
                trap
            };
            let mut from_syscall = false;
            match trap {
                Trap::SyscallDone => {
                    // `fast_syscall` ran the call (counted, traced, its result in
                    // rax) but found work for after it: what follows any call.
                    if thread.ptraced() && !thread.should_exit() {
                        after_syscall_traced(&thread, &mut regs).await;
                    }
                    from_syscall = true;
                }
                Trap::Syscall => {
                    regs.orig_rax = regs.regs.rax;
                    if thread.ptraced() {
                        // As Linux: during a call rax is -ENOSYS, the number is in
                        // orig_rax (what a tracer sees at any stop inside the call).
                        regs.regs.rax = kestrel_abi::Errno::ENOSYS.as_return() as u64;
                    }
                    let traced = super::ptrace::syscall_traced(&thread);
                    if traced {
                        // Syscall-enter-stop: the tracer may change the number, the
                        // arguments, or skip the call (orig_rax -1).
                        // Boxed, as every ptrace stop: rare, and kept out of the
                        // future every thread carries.
                        Box::pin(super::ptrace::syscall_stop(&thread, &mut regs, true)).await;
                    }
                    // seccomp, after the tracer's stop (the filters see its changes):
                    // one load and a branch for a thread without it.
                    let mut entry = syscall::seccomp::Entry::Run;
                    if thread.seccomp_active() && !thread.killed() {
                        entry = Box::pin(syscall::seccomp::on_entry(&thread, &mut regs)).await;
                    }
                    let denied = entry != syscall::seccomp::Entry::Run;
                    let (nr, args) = syscall::call_of(&regs);
                    crate::trace::record(crate::trace::Kind::SyscallEnter, thread.tid().into(), nr);
                    // Any number a program (or its tracer) puts in rax: no overflow.
                    let shown = u32::try_from(nr).map_or(u32::MAX, |n| n.saturating_add(1));
                    thread.in_syscall.store(shown, Ordering::Relaxed);
                    // A call the tracer skipped (number -1) leaves rax as it set it.
                    let ret = if (traced && nr == u64::MAX) || denied || thread.killed() {
                        None
                    } else if let Some(r) = syscall::call_now(&thread, &mut regs, nr, args) {
                        // A call that never waits: no future (and nothing to
                        // race a kill against; the kill is seen below as after
                        // any call).
                        Some(r)
                    } else {
                        // The call's context is kept here, once, beside
                        // the table's future (syscall::dispatch), and only
                        // across that wait (its own block).
                        let r = {
                            let mut ctx = syscall::Ctx {
                                thread: &thread,
                                regs: &mut regs,
                                resolve: 0,
                            };
                            syscall::dispatch(&mut ctx).await
                        };
                        match r {
                            Some(r) => syscall::after_call(&thread, &mut regs, r).await,
                            None => None,
                        }
                    };
                    thread.in_syscall.store(0, Ordering::Relaxed);
                    if let Some(v) = ret {
                        regs.regs.rax = v as u64;
                    }
                    crate::trace::record(
                        crate::trace::Kind::SyscallExit,
                        thread.tid().into(),
                        regs.regs.rax,
                    );
                    if thread.ptraced() && !thread.should_exit() {
                        after_syscall_traced(&thread, &mut regs).await;
                    }
                    // What seccomp answered for a call it stopped is final: an ERRNO
                    // of 512 (ERESTARTSYS) reaches the program, as on Linux with
                    // no signal pending, instead of restarting the call forever.
                    from_syscall = entry != syscall::seccomp::Entry::Answered;
                }
                Trap::PageFault { addr, code } => {
                    regs.orig_rax = u64::MAX; // not in a system call (ptrace's orig_rax)
                    crate::trace::record(crate::trace::Kind::PageFault, thread.tid().into(), addr);
                    if let Some(c) = &thread.process.syscall_counts {
                        c.fault();
                    }
                    crate::perf::user_fault(&thread, regs.regs.rip, addr, None);
                    // The page is there but the thread's PKRU denies the access:
                    // nothing to fault in.
                    let pk = code & pf::PK != 0;
                    let access = if code & pf::FETCH != 0 {
                        Access::Execute
                    } else if code & pf::WRITE != 0 {
                        Access::Write
                    } else {
                        Access::Read
                    };
                    regs.fault_addr = addr;
                    let mm = thread.process.mm();
                    // Major when it waits for a file page (perf's MAJ_FAULTS).
                    let mut major = false;
                    let result = if pk {
                        Ok(())
                    } else {
                        // The first attempt's result is not kept across the
                        // wait (a match around the wait held it, 40 bytes of
                        // the future every thread keeps).
                        let mut waiting = None;
                        let first = match mm.fault_user(addr, access) {
                            Err(
                                e @ (FaultError::UserFault(_)
                                | FaultError::NotLoaded(_)
                                | FaultError::OutOfMemory),
                            ) => {
                                major = matches!(e, FaultError::NotLoaded(_));
                                // A wait: out of line, so that the future every
                                // thread keeps does not hold it.
                                waiting = Some(CallBox::new_with(|| {
                                    fault_and_wait(&thread, &mm, addr, access, e)
                                }));
                                Ok(())
                            }
                            r => r,
                        };
                        match waiting {
                            None => first,
                            Some(Some(w)) => {
                                drop(first);
                                w.await
                            }
                            Some(None) => {
                                out_of_memory_kill(&thread);
                                first
                            }
                        }
                    };
                    if !pk && result.is_ok() && !thread.should_exit() {
                        // Resolved: minor, or major when it waited for a file page.
                        crate::perf::user_fault(&thread, regs.regs.rip, addr, Some(major));
                    }
                    if pk {
                        // Linux's SEGV_PKUERR, with the key in si_pkey.
                        let mut info = Siginfo::fault(SIGSEGV, SEGV_PKUERR, addr);
                        info.fields[2] = u64::from(mm.pkey_at(addr));
                        signal::force(&thread, info);
                    }
                    drop(mm);
                    if let Err(e) = result {
                        let info = match e {
                            FaultError::PastEndOfFile
                            | FaultError::NoPage
                            | FaultError::NotLoaded(_)
                            | FaultError::UserFault(_) => Siginfo::fault(SIGBUS, BUS_ADRERR, addr),
                            FaultError::Unmapped | FaultError::OutOfMemory => {
                                Siginfo::fault(SIGSEGV, SEGV_MAPERR, addr)
                            }
                            FaultError::Protection => Siginfo::fault(SIGSEGV, SEGV_ACCERR, addr),
                        };
                        log::debug!(
                            "pid {} tid {}: {} at {:#x} (rip {:#x}, {:?})",
                            thread.process.pid,
                            thread.tid(),
                            name(info.si_signo as u32),
                            addr,
                            regs.regs.rip,
                            e
                        );
                        signal::force(&thread, info);
                    }
                }
                Trap::Interrupt(vector) => {
                    regs.orig_rax = u64::MAX;
                    if vector == crate::arch::irq::TIMER_VECTOR {
                        crate::profile::user_tick(&thread, regs.regs.rip, regs.regs.rbp);
                        crate::perf::clock_tick(&thread, regs.regs.rip);
                    }
                    if let Some(c) = &thread.process.syscall_counts {
                        c.interrupt();
                    }
                    let now = time::now_ns();
                    let timers = task::executor().timers();
                    let timer_due = timers.next_deadline().is_some_and(|d| d <= now);
                    if timer_due {
                        // Wake the sleepers first, so that they queue ahead of this thread
                        // when it yields: otherwise a CPU-bound thread runs a whole slice
                        // more before a woken sleeper gets the CPU (Linux lets a waking
                        // sleeper preempt the hog at once).
                        timers.expire();
                    }
                    let slice = crate::syscall::sched::time_slice(&thread.process);
                    if now.saturating_sub(slice_start(&thread)) >= slice
                        || timer_due
                        || task::executor().has_ready()
                    {
                        yielding(&thread);
                        kestrel_executor::yield_now().await;
                    }
                }
                Trap::Exception { vector, .. } => {
                    regs.orig_rax = u64::MAX;
                    let mut info = exception_signal(vector, regs.regs.rip);
                    if vector == 1 {
                        // #DB: a hardware breakpoint (B0-3 in DR6) or a single step.
                        let hit = crate::arch::debugreg::take_dr6() & 0xf;
                        super::ptrace::debug_trap(&thread, hit);
                        if hit != 0 {
                            info = Siginfo::fault(SIGTRAP, TRAP_HWBKPT, regs.regs.rip);
                            // An instruction breakpoint is a fault: resume past it.
                            regs.regs.rflags |= crate::arch::trap::rflags::RF;
                        }
                    }
                    log::debug!(
                        "pid {}: {} in user mode at rip {:#x} -> {}",
                        thread.process.pid,
                        trap::exception_name(u64::from(vector)),
                        regs.regs.rip,
                        name(info.si_signo as u32)
                    );
                    signal::force(&thread, info);
                }
            }
            super::timers::check_cpu_timers(&thread);
            if !signal::nothing_to_deliver(&thread, &regs, from_syscall) {
                deliver(&thread, &mut regs, from_syscall).await;
            }
        }
        apic::disarm();
        if super::ptrace::wants(&thread, kestrel_abi::ptrace::PTRACE_O_TRACEEXIT) {
            // PTRACE_EVENT_EXIT: the tracer sees the thread (registers, memory) once
            // more before it goes; its message is the wait status to come.
            let status = thread
                .process
                .exit_status()
                .unwrap_or_else(|| kestrel_abi::process::wstatus_exited(thread.exit_code() as u8));
            Box::pin(super::ptrace::event_stop(
                &thread,
                &mut regs,
                kestrel_abi::ptrace::PTRACE_EVENT_EXIT,
                u64::from(status),
            ))
            .await;
        }
        percpu::this_cpu().user_ctx.store(0, Ordering::Relaxed);
        if let Some(status) = super::thread_exited(&thread) {
            // BSD process accounting: the record is in the file before the
            // parent can see the zombie (boxed: rare, and it may wait for a disk).
            if crate::syscall::acct::enabled() {
                Box::pin(crate::syscall::acct::process_exited(
                    &thread.process,
                    &thread.comm(),
                    status,
                ))
                .await;
            }
            super::process_exited(&thread.process, status);
        }
    }
}

/// When the running thread's time slice began: the start of its task's
/// current poll.
#[inline(always)]
fn slice_start(thread: &Thread) -> u64 {
    thread.cpu.running_since.load(Ordering::Relaxed)
}

/// The running thread's user time grew by `ns` (and its CPU's).
#[inline(always)]
fn add_user_time(thread: &Thread, ns: u64) {
    // Each has one writer (the thread; this CPU), so no locked add: readers
    // see the old sum or the new one.
    let user = &thread.cpu.user;
    user.store(user.load(Ordering::Relaxed) + ns, Ordering::Relaxed);
    let cpu_user = &percpu::this_cpu().user_ns;
    cpu_user.store(cpu_user.load(Ordering::Relaxed) + ns, Ordering::Relaxed);
}

/// After a system call of a traced thread: ptrace's syscall-exit stop and a
/// single step's trap. (A boxed future, as every ptrace stop: rare, and kept
/// out of the future every thread carries.)
fn after_syscall_traced<'a>(
    thread: &'a Arc<Thread>,
    regs: &'a mut UserContext,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        if super::ptrace::syscall_traced(thread) {
            super::ptrace::syscall_stop(thread, regs, false).await;
        }
        if super::ptrace::stepping(thread) {
            // The `syscall` instruction was the step: report it now, as
            // Linux does (the flag only traps after the next one).
            signal::force(thread, Siginfo::new(SIGTRAP, TRAP_BRKPT));
        }
    })
}

/// The fast path of a system call ([`trap::FastHook`]): a call that
/// completes at once ([`syscall::FAST`], [`syscall::call_now`]) for a
/// thread with nothing to do around it runs here, in the entry code, and the
/// thread goes back to user mode without returning to its loop. What the loop
/// would do around the call is either done here the same way (the user time,
/// `orig_rax`, the trace records, `in_syscall`, the syscall counts in
/// `call_now`) or known to be nothing:
///
/// - before the call: no work marked ([`Thread::has_work`], the one test for
///   all of these: traced (ptrace's stops, `orig_rax`'s -ENOSYS), in seccomp,
///   killed or exiting, a CPU-time timer (setitimer's virtual and profiling
///   clocks, RLIMIT_CPU, CPU-time POSIX timers) or a perf event (sampling
///   clocks) in the process, a stop, a freeze, a saved mask); else
///   [`Fast::Slow`]: the loop runs the call as before.
/// - after it, with interrupts disabled again: still no work marked (each of
///   these sets its flag, then the mark: set during the call, it is seen
///   here, or set after this test, it is as if set after the return), no
///   signal to deliver or error result, this thread's FPU state still
///   loaded, and this CPU's timer armed for a deadline still ahead, no
///   earlier than the executor's next timer (a timer interrupt taken during
///   the call leaves nothing armed: the time slice's end and the sleepers'
///   deadlines are the loop's to re-arm). Anything else is [`Fast::Done`]:
///   the loop does what follows the call ([`Trap::SyscallDone`]).
///
/// The id getters that only load a field run with interrupts still disabled
/// ([`syscall::call_trivial`]); the other calls with them enabled.
///
/// The FS and GS bases, PKRU, the I/O bitmap, the debug registers and CR4.TSD
/// stay as they were for user mode: no call in the set changes them.
#[inline(always)]
fn fast_syscall(
    thread: &Arc<Thread>,
    frame: &mut TrapFrame,
    regs: &mut UserContext,
    user_start: &mut u64,
) -> Fast {
    // The number is one of `syscall::FAST` (the entry code tested it;
    // `call_now` runs no other).
    let nr = frame.rax;
    if thread.has_work() {
        return Fast::Slow;
    }
    add_user_time(thread, time::now_ns() - *user_start);
    let shown = u32::try_from(nr).map_or(u32::MAX, |n| n.saturating_add(1));
    thread.in_syscall.store(shown, Ordering::Relaxed);
    let args = [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
    ];
    let ret = match syscall::call_trivial(thread, nr) {
        // A load: run with interrupts still off (`sti` is costly under TCG).
        Some(r) => Some(r),
        None => {
            crate::arch::cpu::enable_interrupts();
            // The call runs with interrupts on (it may spin on a lock whose
            // holder waits for this CPU to answer a TLB shootdown): nothing
            // of it before.
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
            let ret = syscall::call_now(thread, regs, nr, args);
            crate::arch::cpu::disable_interrupts();
            // Nothing below may be read before interrupts were off (a timer
            // interrupt in between would leave no timer armed for user mode).
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
            ret
        }
    };
    thread.in_syscall.store(0, Ordering::Relaxed);
    let now = time::now_ns();
    *user_start = now;
    let Some(ret) = ret else {
        // A copy met a file page not in memory: the loop runs it again.
        return Fast::Slow;
    };
    regs.orig_rax = nr;
    frame.rax = ret as u64;
    // One test of the trace's group for both records (they share it).
    if crate::trace::on(crate::trace::Kind::SyscallEnter) {
        let tid = thread.tid().into();
        crate::trace::record(crate::trace::Kind::SyscallEnter, tid, nr);
        crate::trace::record(crate::trace::Kind::SyscallExit, tid, ret as u64);
    }
    let armed = apic::armed_deadline();
    let timer_ahead = armed != u64::MAX
        && armed > now
        && task::executor()
            .timers()
            .next_deadline()
            .is_none_or(|d| d >= armed);
    // No work marked during the call (a kill, an exit, ptrace, a stop...:
    // each sets its flag, then the mark), no signal to deliver.
    if !thread.has_work()
        && signal::no_signal_after(thread, ret)
        && timer_ahead
        && crate::arch::fpu::is_live(thread)
    {
        Fast::Return
    } else {
        Fast::Done
    }
}

/// [`signal::deliver`], its future out of line (in this CPU's recycled block
/// of its size: [`CallBox`]) so that the thread future, which a parked thread
/// keeps, does not hold it.
async fn deliver(thread: &Arc<Thread>, regs: &mut UserContext, from_syscall: bool) {
    let delivering = CallBox::new_with(|| signal::deliver(thread, regs, from_syscall));
    match delivering {
        Some(d) => d.await,
        None => out_of_memory_kill(thread),
    }
}

/// `thread` is about to give up the CPU while runnable (preempted, or
/// sched_yield): an involuntary context switch if another task is ready to
/// take the CPU (Linux counts one only when another task runs), and not a
/// voluntary one when its poll ends.
pub fn yielding(thread: &Thread) {
    percpu::this_cpu()
        .thread_yielding
        .store(true, Ordering::Relaxed);
    if task::executor().has_ready() {
        let i = &thread.cpu.involuntary;
        i.store(i.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// No memory for the thread to go on with (not even a small block for a wait):
/// its process is killed, as the OOM killer would.
fn out_of_memory_kill(thread: &Thread) {
    log::warn!(
        "pid {} tid {}: out of memory in the thread loop; killed",
        thread.process.pid,
        thread.tid()
    );
    thread
        .process
        .begin_exit(kestrel_abi::process::wstatus_signaled(SIGKILL, false));
}

/// A user page fault that has to wait: on a userfaultfd handler, a file page
/// being read, or memory freed by the OOM killer (`first` is what the first
/// attempt said). Faults again after each wait; `Ok` also when the thread is
/// to exit or a signal ended a userfaultfd wait (the access faults again).
async fn fault_and_wait(
    thread: &Arc<Thread>,
    mm: &AddressSpace,
    addr: u64,
    access: Access,
    first: FaultError,
) -> Result<(), FaultError> {
    let mut waited = 0;
    let mut loads = 0;
    let mut attempt = Err(first);
    loop {
        match attempt {
            Err(FaultError::UserFault(uf)) => {
                // A userfaultfd-registered page: the thread waits (a parked
                // future) for the handler, then faults again; a signal or a
                // kill ends the wait and the thread returns to user mode (the
                // access faults again after the handler ran, as on Linux).
                let tid = thread.tid();
                let woke = crate::process::signal::interruptible(
                    thread,
                    kestrel_abi::Errno::EINTR,
                    async {
                        alloc::boxed::Box::pin(uf.wait(tid)).await;
                        Ok(())
                    },
                )
                .await;
                if woke.is_err() || thread.should_exit() {
                    return Ok(());
                }
            }
            Err(FaultError::NotLoaded(load)) => {
                // A file page not in memory yet: the thread waits for it (and
                // its read-around) as a parked future, then faults again. A
                // disk error is SIGBUS, as Linux's VM_FAULT_SIGBUS for a failed
                // read. No memory for the pages is out of memory as for any
                // other page (the OOM path drops clean file pages first).
                loads += 1;
                match load.load().await {
                    Err(kestrel_abi::Errno::ENOMEM) => {
                        loads -= 1;
                        match super::oom::out_of_memory(thread, waited) {
                            super::oom::Outcome::Retry => {
                                task::sleep(10_000_000).await;
                                waited += 1;
                            }
                            super::oom::Outcome::KilledSelf => return Ok(()),
                        }
                    }
                    Ok(()) | Err(kestrel_abi::Errno::EAGAIN) if loads <= 16 => {}
                    _ => return Err(FaultError::NoPage),
                }
                if thread.should_exit() {
                    return Ok(());
                }
            }
            Err(FaultError::OutOfMemory) => {
                // The OOM killer picks who dies; if not this process, wait for
                // the victim's memory and try again.
                match super::oom::out_of_memory(thread, waited) {
                    super::oom::Outcome::Retry => {
                        task::sleep(10_000_000).await;
                        waited += 1;
                        if thread.should_exit() {
                            return Ok(());
                        }
                    }
                    super::oom::Outcome::KilledSelf => return Ok(()),
                }
            }
            r => return r,
        }
        attempt = mm.fault_user(addr, access);
    }
}
