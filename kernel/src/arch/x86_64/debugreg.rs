//! The debug registers, for a traced thread's hardware breakpoints and
//! watchpoints (ptrace's `u_debugreg`).
//!
//! They are loaded only while the thread runs, on user addresses only. An
//! execute breakpoint triggers on an instruction fetch in user mode alone. A
//! data watchpoint also triggers on the kernel's own accesses to the watched
//! user memory (a copy to or from user space), and after `mov ss` or `pop ss`
//! its #DB is held back to the first instruction of the next kernel entry, an
//! int3 or syscall stub, before `swapgs` (CVE-2018-8897). Both reach
//! `trap::kernel_trap` as a kernel-mode #DB, which only resets DR6 (it touches
//! no per-CPU data: GS may still be the user's) and resumes.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// DR7's enable bits (L0-3, G0-3).
pub const DR7_ENABLES: u64 = 0xff;
/// DR7 bits that may be loaded: the enables and each breakpoint's type and length.
const DR7_LOADABLE: u64 = 0xffff_0000 | DR7_ENABLES;
/// DR6's value with nothing recorded (its reserved bits read as ones).
const DR6_CLEAR: u64 = 0xffff_0ff0;

/// The DR7 each CPU has loaded for user mode (0: breakpoints off).
static LOADED: [AtomicU64; super::acpi::MAX_CPUS] =
    [const { AtomicU64::new(0) }; super::acpi::MAX_CPUS];

fn this_cpu() -> usize {
    super::percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize
}

/// Makes the debug registers what the thread about to enter user mode asks for:
/// `Some([dr0, dr1, dr2, dr3, dr7])` arms its breakpoints, `None` disarms any a
/// previous thread left (the common case costs one per-CPU load).
pub fn load_for_user(regs: Option<[u64; 5]>) {
    let loaded = &LOADED[this_cpu()];
    match regs {
        Some([d0, d1, d2, d3, d7]) => {
            let d7 = d7 & DR7_LOADABLE;
            // SAFETY: DR0-3 hold user addresses ptrace checked; DR7 enables
            // execute breakpoints and data watchpoints on them (checked by
            // ptrace too), never GD; a watchpoint the kernel's own access
            // triggers is a kernel-mode #DB that kernel_trap survives.
            unsafe {
                asm!("mov dr7, {}", in(reg) 0u64, options(nomem, nostack));
                asm!("mov dr0, {}", in(reg) d0, options(nomem, nostack));
                asm!("mov dr1, {}", in(reg) d1, options(nomem, nostack));
                asm!("mov dr2, {}", in(reg) d2, options(nomem, nostack));
                asm!("mov dr3, {}", in(reg) d3, options(nomem, nostack));
                asm!("mov dr7, {}", in(reg) d7, options(nomem, nostack));
            }
            loaded.store(d7, Ordering::Relaxed);
        }
        None => {
            if loaded.load(Ordering::Relaxed) != 0 {
                // SAFETY: clearing DR7 disables every breakpoint.
                unsafe { asm!("mov dr7, {}", in(reg) 0u64, options(nomem, nostack)) };
                loaded.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// Reads DR6 (why the last #DB happened) and resets it for the next one.
pub fn take_dr6() -> u64 {
    let v: u64;
    // SAFETY: DR6 only reports debug conditions; writing its clear value changes
    // nothing else.
    unsafe {
        asm!("mov {}, dr6", out(reg) v, options(nomem, nostack));
        asm!("mov dr6, {}", in(reg) DR6_CLEAR, options(nomem, nostack));
    }
    v
}
