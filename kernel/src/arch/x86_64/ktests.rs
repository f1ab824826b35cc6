//! In-kernel tests of the CPU layer: exceptions taken and resumed in kernel mode,
//! the FPU state new threads start with (see `boot::ktest`).

use core::sync::atomic::Ordering;

use crate::arch::percpu::this_cpu;
use crate::{kcheck, ktest};

ktest!(breakpoint_exception_is_caught_and_resumed, async {
    let before = this_cpu().kernel_breakpoints.load(Ordering::Relaxed);
    // SAFETY: int3 traps to the kernel handler, which counts it and returns.
    unsafe { core::arch::asm!("int3") };
    let after = this_cpu().kernel_breakpoints.load(Ordering::Relaxed);
    kcheck!(
        after == before + 1,
        "breakpoint count went from {before} to {after}"
    );
    Ok(())
});

ktest!(new_threads_start_with_linux_initial_fpu_state, async {
    let s = crate::arch::fpu::FpuState::initial();
    kcheck!(
        s.mxcsr() == 0x1f80,
        "initial MXCSR is {:#x}, Linux uses 0x1f80",
        s.mxcsr()
    );
    Ok(())
});
