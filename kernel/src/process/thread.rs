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

use alloc::sync::Arc;
use core::future::Future;
use core::pin::{Pin, pin};
use core::sync::atomic::Ordering;
use core::task::{Context, Poll};

use futures_util::future::{Either, select};
use kestrel_abi::signal::*;

use super::{Thread, signal};
use crate::arch::trap::{self, Trap, UserContext, pf};
use crate::arch::{apic, percpu};
use crate::mm::vm::{Access, FaultError};
use crate::{syscall, task, time};

/// How long a thread runs before it yields to other ready tasks.
pub const TIME_SLICE_NS: u64 = 10_000_000;

/// Polls `fut` with `thread`'s address space active.
struct InAddressSpace<F> {
    thread: Arc<Thread>,
    fut: Pin<alloc::boxed::Box<F>>,
}

impl<F: Future> Future for InAddressSpace<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.thread.process.mm().activate();
        self.fut.as_mut().poll(cx)
    }
}

/// Starts `thread` at `regs` as a new task.
pub fn spawn(thread: Arc<Thread>, regs: UserContext) -> Result<(), kestrel_executor::SpawnError> {
    let fut = InAddressSpace {
        thread: thread.clone(),
        fut: alloc::boxed::Box::pin(run(thread, regs)),
    };
    task::try_spawn("user-thread", fut).map(|h| h.detach())
}

/// The signal for a CPU exception taken in user mode.
fn exception_signal(vector: u8) -> u32 {
    match vector {
        0 | 16 | 19 => SIGFPE, // #DE, #MF, #XM
        1 | 3 => SIGTRAP,      // #DB, #BP
        6 => SIGILL,           // #UD
        17 => SIGBUS,          // #AC
        _ => SIGSEGV,          // #GP, #SS, #NP, ...
    }
}

async fn run(thread: Arc<Thread>, mut regs: UserContext) {
    let mut slice_start = time::now_ns();
    while !thread.should_exit() {
        if !trap::is_user_canonical(regs.regs.rip) {
            signal::force(&thread, SIGSEGV);
            continue;
        }
        // Come back to the kernel by the end of the slice or the next timer, whichever
        // is first (the executor only arms the timer when it goes idle).
        let slice_end = slice_start + TIME_SLICE_NS;
        let deadline = task::executor()
            .timers()
            .next_deadline()
            .map_or(slice_end, |d| d.min(slice_end));
        apic::arm_oneshot(deadline.saturating_sub(time::now_ns()));

        let me: Arc<dyn crate::arch::fpu::HasFpu> = thread.clone();
        crate::arch::fpu::switch_to(&me);
        match trap::enter_user(&mut regs) {
            Trap::Syscall => {
                let nr = regs.regs.rax;
                let args = [
                    regs.regs.rdi,
                    regs.regs.rsi,
                    regs.regs.rdx,
                    regs.regs.r10,
                    regs.regs.r8,
                    regs.regs.r9,
                ];
                let ret = {
                    let call = pin!(syscall::dispatch(&thread, &mut regs, nr, args));
                    let killed = pin!(thread.until_killed());
                    match select(call, killed).await {
                        Either::Left((ret, _)) => Some(ret),
                        Either::Right(_) => None, // the call was dropped: cancelled
                    }
                };
                if let Some(v) = ret {
                    regs.regs.rax = v as u64;
                }
            }
            Trap::PageFault { addr, code } => {
                let access = if code & pf::FETCH != 0 {
                    Access::Execute
                } else if code & pf::WRITE != 0 {
                    Access::Write
                } else {
                    Access::Read
                };
                let mm = thread.process.mm();
                if let Err(e) = mm.fault(addr, access) {
                    let sig = match e {
                        FaultError::PastEndOfFile => SIGBUS,
                        FaultError::OutOfMemory => SIGKILL,
                        FaultError::Unmapped | FaultError::Protection => SIGSEGV,
                    };
                    log::debug!(
                        "pid {} tid {}: {} at {:#x} (rip {:#x}, {:?})",
                        thread.process.pid,
                        thread.tid,
                        name(sig),
                        addr,
                        regs.regs.rip,
                        e
                    );
                    signal::force(&thread, sig);
                }
            }
            Trap::Interrupt(_) => {
                let now = time::now_ns();
                let timer_due = task::executor()
                    .timers()
                    .next_deadline()
                    .is_some_and(|d| d <= now);
                if now - slice_start >= TIME_SLICE_NS || timer_due || task::executor().has_ready() {
                    kestrel_executor::yield_now().await;
                    slice_start = time::now_ns();
                }
            }
            Trap::Exception { vector, .. } => {
                let sig = exception_signal(vector);
                log::debug!(
                    "pid {}: {} in user mode at rip {:#x} -> {}",
                    thread.process.pid,
                    trap::exception_name(u64::from(vector)),
                    regs.regs.rip,
                    name(sig)
                );
                signal::force(&thread, sig);
            }
        }
    }
    apic::disarm();
    percpu::this_cpu().user_ctx.store(0, Ordering::Relaxed);
    super::thread_exited(&thread);
}
