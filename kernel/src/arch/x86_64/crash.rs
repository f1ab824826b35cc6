//! Crashing on purpose (`kestrel.crash=`), so the crash reports can be seen and
//! tested: each function here raises a CPU exception in kernel mode.

/// Reads an unmapped kernel address: a page fault in kernel mode.
pub fn read_unmapped() -> u64 {
    // SAFETY: deliberately not: this address is unmapped; the fault ends the kernel
    // with its report, which is the point.
    unsafe { core::ptr::read_volatile(0xffff_c07f_dead_0000 as *const u64) }
}

/// Divides by zero: #DE in kernel mode.
pub fn divide_by_zero() {
    let zero = core::hint::black_box(0u64);
    // SAFETY: a `div` by zero raises #DE, which is the point here.
    unsafe {
        core::arch::asm!("div {0}", in(reg) zero, inout("rax") 1u64 => _, inout("rdx") 0u64 => _)
    };
}
