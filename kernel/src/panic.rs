//! What happens when the kernel is wrong: a report on the console, then QEMU exits
//! with the panic code (37), never a silent hang or a triple fault.
//!
//! The report names the panic message and location (or the CPU exception with every
//! register), then walks the frame-pointer chain (the kernel is built with
//! `force-frame-pointers`) and names each return address from the symbol table that
//! xtask passes as the `symbols` boot module.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::cpu;
use crate::arch::qemu::{self, ExitCode};
use crate::arch::trap::{TrapFrame, exception_name};

static PANICKING: AtomicBool = AtomicBool::new(false);

macro_rules! emerg {
    ($($arg:tt)*) => { $crate::console::emergency_write(format_args!($($arg)*)) };
}

/// Stops a second panic (say, in the report itself) from recursing, and the other
/// CPUs (an NMI each: they halt in [`on_nmi`]), so the report is the last output.
fn enter() {
    cpu::disable_interrupts();
    if PANICKING.swap(true, Ordering::SeqCst) {
        emerg!("\n!!! panic while panicking; exiting\n");
        qemu::exit(ExitCode::Panic);
    }
    if crate::arch::percpu::online() > 1 {
        crate::arch::apic::nmi_all_others();
        // Give them a moment to stop mid-line before the report starts.
        let t0 = cpu::rdtsc();
        while crate::time::tsc_delta_ns(cpu::rdtsc() - t0) < 2_000_000 {
            core::hint::spin_loop();
        }
    }
}

/// An NMI, taken at `rip` (frame pointer `rbp`; `user`: in user mode): another
/// CPU is panicking and stops this one, or the lockup watchdog asked where this
/// CPU is; otherwise ignored. (GS may be the user's: nothing here uses it.)
pub fn on_nmi(rip: u64, rbp: u64, user: bool) {
    if PANICKING.load(Ordering::SeqCst) {
        cpu::halt_forever();
    }
    crate::watchdog::on_nmi(rip, rbp, user);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    enter();
    emerg!("\n!!! KERNEL PANIC: {}\n", info.message());
    if let Some(loc) = info.location() {
        emerg!("    at {}:{}:{}\n", loc.file(), loc.line(), loc.column());
    }
    backtrace(None, crate::arch::backtrace::frame_pointer());
    emerg!("Kestrel halted: kernel panic (QEMU exit status 37)\n");
    qemu::exit(ExitCode::Panic)
}

/// Reports an unexpected CPU exception in kernel mode and exits.
pub fn exception(f: &TrapFrame) -> ! {
    enter();
    emerg!(
        "\n!!! KERNEL PANIC: {} (vector {}) in kernel mode, error code {:#x}\n",
        exception_name(f.vector),
        f.vector,
        f.error_code
    );
    emerg!("    RIP {:#018x} ", f.rip);
    print_symbol(f.rip);
    emerg!(
        "\n    CS {:#x} RFLAGS {:#x} RSP {:#018x} SS {:#x}\n",
        f.cs,
        f.rflags,
        f.rsp,
        f.ss
    );
    if f.vector == 14 {
        emerg!("    CR2 {:#018x} (the faulting address)\n", cpu::read_cr2());
    }
    emerg!("    CR3 {:#018x}\n", cpu::read_cr3());
    emerg!(
        "    RAX {:#018x} RBX {:#018x} RCX {:#018x} RDX {:#018x}\n",
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx
    );
    emerg!(
        "    RSI {:#018x} RDI {:#018x} RBP {:#018x} R8  {:#018x}\n",
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8
    );
    emerg!(
        "    R9  {:#018x} R10 {:#018x} R11 {:#018x} R12 {:#018x}\n",
        f.r9,
        f.r10,
        f.r11,
        f.r12
    );
    emerg!(
        "    R13 {:#018x} R14 {:#018x} R15 {:#018x}\n",
        f.r13,
        f.r14,
        f.r15
    );
    backtrace(Some(f.rip), f.rbp);
    emerg!("Kestrel halted: kernel panic (QEMU exit status 37)\n");
    qemu::exit(ExitCode::Panic)
}

fn backtrace(first: Option<u64>, rbp: u64) {
    emerg!("    backtrace:\n");
    if let Some(rip) = first {
        emerg!("      {:#018x} ", rip);
        print_symbol(rip);
        emerg!("\n");
    }
    crate::arch::backtrace::walk(rbp, 32, |ret| {
        emerg!("      {:#018x} ", ret);
        print_symbol(ret.wrapping_sub(1));
        emerg!("\n");
    });
}

/// Prints `name+offset` for `addr` from the symbol module, if there is one.
fn print_symbol(addr: u64) {
    match crate::symbols::lookup(addr) {
        Some((name, off)) => emerg!("{}+{:#x}", name, off),
        None => emerg!("?"),
    }
}
